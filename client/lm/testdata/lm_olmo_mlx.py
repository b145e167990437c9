#!/usr/bin/env python3
"""Writes mlx-lm's OLMo 2 and OLMo 3 models and what they compute, for
client/lm/models_mlx_test.cc (the models named olmo*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_olmo_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: hidden size
32, a vocabulary of 96, 4 query heads over 2 key/value heads:
  olmo2  3 layers, tied embeddings (mlx-lm's default), llama3 rope_scaling
  olmo3  5 layers, sliding_window 6 (layers 0-2 and 4 sliding, 3 full: mlx-lm's default
         layer_types), yarn rope_scaling on the full layer only, an lm_head; its 20-token
         prompt and 10 greedy steps run past the window, through the rings of
         make_prompt_cache

lm_olmo_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
"""
import functools

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import olmo2, olmo3

import lm_fixture
from lm_fixture import HERE, reload, save_model

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)
build = functools.partial(lm_fixture.build, rng)

OLMO2 = dict(model_type="olmo2", hidden_size=32, num_hidden_layers=3, intermediate_size=64,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, vocab_size=VOCAB,
             rope_theta=500000.0, max_position_embeddings=4096,
             rope_scaling=dict(rope_type="llama3", factor=8.0, high_freq_factor=4.0,
                               low_freq_factor=1.0, original_max_position_embeddings=64))
model = build(olmo2, OLMO2)
save_model("olmo2", dict(tree_flatten(model.parameters())), OLMO2)
record("olmo2", reload("olmo2"), prompt_length=13, steps=10)

OLMO3 = dict(model_type="olmo3", hidden_size=32, num_hidden_layers=5, intermediate_size=64,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6, vocab_size=VOCAB,
             rope_theta=500000.0, max_position_embeddings=65536, sliding_window=6,
             rope_scaling=dict(rope_type="yarn", factor=8.0, beta_fast=32, beta_slow=1,
                               attention_factor=1.2, original_max_position_embeddings=8192))
model = build(olmo3, OLMO3)
save_model("olmo3", dict(tree_flatten(model.parameters())), OLMO3)
record("olmo3", reload("olmo3"), prompt_length=20, steps=10)

mx.save_safetensors(f"{HERE}/lm_olmo_mlx.safetensors", arrays)
