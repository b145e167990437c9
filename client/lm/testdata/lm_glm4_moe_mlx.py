#!/usr/bin/env python3
"""Writes mlx-lm's GLM-4.5 (glm4_moe) models and what they compute, for
client/lm/models_mlx_test.cc (the models named glm4_moe*).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_glm4_moe_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: hidden size
32, a vocabulary of 300, 3 layers (layer 0 dense: first_k_dense_replace 1), 4 query heads of
16 over 2 key/value heads, 8 routed experts in 2 groups (topk_group 1, top-2,
norm_topk_prob, routed_scaling_factor 2.5, a random e_score_correction_bias) and a shared
expert:
  glm4_moe       biased q, k and v, q and k normalized per head (use_qk_norm), RoPE over half
                 of each head (partial_rotary_factor 0.5), a rope_scaling mlx-lm does not read;
                 in Hugging Face's layout (experts per expert, stacked by sanitize) with a
                 multi-token prediction layer (model.layers.3.*, dropped)
  glm4_moe_4bit  without biases or norms, a quarter of each head rotated, n_shared_experts
                 null (none), quantized as mlx-lm's convert does (affine, 4 bits in groups of
                 32; the routers are not layers it quantizes)

lm_glm4_moe_mlx.safetensors holds, for each model <m>, as lm_mlx.safetensors does:
  <m>.prompt, <m>.logits, <m>.greedy, <m>.logprobs
"""
import functools

import mlx.core as mx
import mlx.nn as nn
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import glm4_moe

import lm_fixture
from lm_fixture import HERE, reload, save_model

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 300
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)
# Norms near 1, the correction bias about as large as the sigmoid scores' differences.
build = functools.partial(lm_fixture.build, rng, glm4_moe)

CONFIG = dict(model_type="glm4_moe", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
              max_position_embeddings=131072, moe_intermediate_size=32, norm_topk_prob=True,
              num_attention_heads=4, n_group=2, head_dim=16, topk_group=1, n_shared_experts=1,
              n_routed_experts=8, routed_scaling_factor=2.5, num_experts_per_tok=2,
              first_k_dense_replace=1, num_hidden_layers=3, num_key_value_heads=2,
              rms_norm_eps=1e-5, rope_theta=1000000, use_qk_norm=True,
              tie_word_embeddings=False, attention_bias=True, partial_rotary_factor=0.5,
              rope_scaling=dict(type="yarn", factor=4.0, original_max_position_embeddings=4096),
              num_nextn_predict_layers=1)


def hugging_face_layout(weights):
    """The experts per expert, and a multi-token prediction layer beside them."""
    out = {}
    for key, value in weights.items():
        if ".switch_mlp." in key:
            prefix, rest = key.split(".switch_mlp.")
            for e in range(value.shape[0]):
                out[f"{prefix}.experts.{e}.{rest}"] = value[e]
        else:
            out[key] = value
    for name, shape in [("enorm.weight", (32,)), ("eh_proj.weight", (32, 64)),
                        ("mlp.experts.0.up_proj.weight", (32, 32))]:
        out[f"model.layers.3.{name}"] = mx.zeros(shape)
    return out


model = build(CONFIG)
save_model("glm4_moe", hugging_face_layout(dict(tree_flatten(model.parameters()))), CONFIG)
record("glm4_moe", reload("glm4_moe"), prompt_length=36, steps=10)

CONFIG_4BIT = dict(CONFIG, attention_bias=False, use_qk_norm=False, partial_rotary_factor=0.25,
                   n_shared_experts=None)
model = build(CONFIG_4BIT)
nn.quantize(model, group_size=32, bits=4)
save_model("glm4_moe_4bit", dict(tree_flatten(model.parameters())),
           dict(CONFIG_4BIT, quantization=dict(group_size=32, bits=4, mode="affine")))
record("glm4_moe_4bit", reload("glm4_moe_4bit"), prompt_length=12, steps=8)

mx.save_safetensors(f"{HERE}/lm_glm4_moe_mlx.safetensors", arrays)
