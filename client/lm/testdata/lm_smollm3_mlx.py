#!/usr/bin/env python3
"""Writes mlx-lm's SmolLM3 models and what they compute, for client/lm/models_mlx_test.cc
(the models named smollm3*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_smollm3_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: hidden size
32, a vocabulary of 96, 4 query heads over 2 key/value heads, tied embeddings:
  smollm3         4 layers, no_rope_layers unset (mlx-lm's default: every fourth layer,
                  here the last, uses no positions), a Hugging Face-style rotary table and an
                  lm_head beside the tied embedding (both dropped)
  smollm3_layers  5 layers, no_rope_layers [1, 0, 1, 0, 1] given, untied, rope_theta 2e6

lm_smollm3_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
"""
import functools

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import smollm3

import lm_fixture
from lm_fixture import HERE, reload, save_model

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)
build = functools.partial(lm_fixture.build, rng, smollm3)

CONFIG = dict(model_type="smollm3", hidden_size=32, num_hidden_layers=4, intermediate_size=64,
              num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
              vocab_size=VOCAB, rope_theta=5e5, tie_word_embeddings=True,
              max_position_embeddings=65536)

model = build(CONFIG)
weights = dict(tree_flatten(model.parameters()))
weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = mx.ones((4,))
weights["lm_head.weight"] = mx.zeros((VOCAB, 32))
save_model("smollm3", weights, CONFIG)
record("smollm3", reload("smollm3"), prompt_length=14, steps=10)

CONFIG_LAYERS = dict(CONFIG, num_hidden_layers=5, no_rope_layers=[1, 0, 1, 0, 1],
                     tie_word_embeddings=False, rope_theta=2e6)
model = build(CONFIG_LAYERS)
save_model("smollm3_layers", dict(tree_flatten(model.parameters())), CONFIG_LAYERS)
record("smollm3_layers", reload("smollm3_layers"), prompt_length=11, steps=10)

mx.save_safetensors(f"{HERE}/lm_smollm3_mlx.safetensors", arrays)
