#!/usr/bin/env python3
"""Writes mlx-lm's LFM2 and LFM2-MoE models and what they compute, for
client/lm/lfm2_test.cc (and tests/client_lm_remote_test.cc).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_lfm2_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights: a
vocabulary of 96, 4 query heads over 2 key-value heads (q and k normalized per head), the
other layers short convolutions (in_proj's B * x through a causal depthwise conv1d of
conv_L_cache 3, gated by C), the output the tied embedding:
  lfm2           hidden size 32, 5 layers as layer_types say (2 and 4 attention), in Hugging
                 Face's layout (conv weights (C, 1, K), mlx-lm's sanitize moves them),
                 conv_bias, the MLP's width from block_ff_dim 80 auto-adjusted (int(2 * 80 / 3)
                 = 53, times block_ffn_dim_multiplier 1.5 = 79, up to a multiple of 16: 80)
  lfm2_idxs      hidden size 32, 4 layers, full_attn_idxs [0, 3] (the first layer attends),
                 mlx-lm's own layout, no biases, intermediate_size 48 taken as it is
                 (block_auto_adjust_ff_dim false, block_ffn_dim_multiplier null), RoPE's base
                 from rope_parameters, num_key_value_heads null (as many as the queries)
  lfm2_moe       hidden size 32, 4 layers (1 attention), in Hugging Face's layout: layer 0
                 dense (num_dense_layers 1), the others 4 experts (top 2, norm_topk_prob,
                 expert_bias choosing them, routed_scaling_factor 1.5) stored per expert
                 under w1, w3, w2, which mlx-lm renames and stacks
  lfm2_4bit      lfm2 of hidden size 64 quantized by mlx-lm's quantize_model (affine, 4 bits
                 in groups of 32; the conv1d is no layer it quantizes), mlx-lm's layout
  lfm2_moe_4bit  lfm2_moe of hidden size 64 quantized so, its routers 8 bits in groups of 64
                 (the model's quant_predicate, named in config.json)

lm_lfm2_mlx.safetensors holds, for each model <m>:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.cached_logits  the same prompt through make_cache()'s caches in pieces: a prefill of
                     CHUNKS[0] tokens, one of CHUNKS[1], then one token at a time, (1, L, V)
  <m>.greedy         generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
and, for lfm2 and lfm2_moe, mlx-lm's BatchGenerator over lm_fixture's batch (five prompts
joining at different calls, prefilled 4 tokens at a time, their padding masked out of the
conv state), as lm_batch_qwen3_next_mlx.py records it:
  <m>.prompt<i>, <m>.tokens<i>  int32
  <m>.options                   (max_kv_size or 0, prefill_step_size) int32
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import lfm2, lfm2_moe

import lm_fixture
from lm_fixture import HERE

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
CHUNKS = (7, 5)
build = functools.partial(lm_fixture.build, rng)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)

CONV = dict(vocab_size=VOCAB, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=128000, norm_eps=1e-5, conv_L_cache=3, rope_theta=1e6,
            tie_embedding=True)
LFM2 = dict(CONV, model_type="lfm2", hidden_size=32, num_hidden_layers=5, conv_bias=True,
            block_dim=32, block_ff_dim=80, block_multiple_of=16, block_ffn_dim_multiplier=1.5,
            block_auto_adjust_ff_dim=True,
            layer_types=["conv", "conv", "full_attention", "conv", "full_attention"])
LFM2_IDXS = dict(CONV, model_type="lfm2", hidden_size=32, num_hidden_layers=4, conv_bias=False,
                 num_key_value_heads=None, block_dim=32, intermediate_size=48,
                 block_multiple_of=256, block_ffn_dim_multiplier=None,
                 block_auto_adjust_ff_dim=False, full_attn_idxs=[0, 3],
                 rope_parameters=dict(rope_type="default", rope_theta=5e5))
LFM2_MOE = dict(CONV, model_type="lfm2_moe", hidden_size=32, num_hidden_layers=4,
                intermediate_size=48, moe_intermediate_size=16, num_experts=4,
                num_experts_per_tok=2, norm_topk_prob=True, use_expert_bias=True,
                num_dense_layers=1, conv_bias=False, routed_scaling_factor=1.5,
                layer_types=["conv", "full_attention", "conv", "conv"])

NAMES = {"gate_proj": "w1", "up_proj": "w3", "down_proj": "w2"}


def moe_names(key, value, weights):
    """The MoE's MLPs under w1 (gate), w3 (up), w2 (down), its experts one matrix each."""
    for new, old in NAMES.items():
        key = key.replace(f"feed_forward.{new}.", f"feed_forward.{old}.")
    if ".switch_mlp." not in key:
        return {key: value}
    prefix, rest = key.split(".switch_mlp.")
    projection, kind = rest.split(".")
    return {f"{prefix}.experts.{e}.{NAMES[projection]}.{kind}": value[e]
            for e in range(value.shape[0])}


def hugging_face_layout(weights):
    return lm_fixture.hugging_face_layout(weights, "conv.conv.weight", moe_names)


model = build(lfm2, LFM2)
save_and_record("lfm2", hugging_face_layout(dict(tree_flatten(model.parameters()))), LFM2, 18)

model = build(lfm2, LFM2_IDXS)
save_and_record("lfm2_idxs", dict(tree_flatten(model.parameters())), LFM2_IDXS, 16)

model = build(lfm2_moe, LFM2_MOE)
save_and_record("lfm2_moe", hugging_face_layout(dict(tree_flatten(model.parameters()))),
                LFM2_MOE, 18)

WIDE = dict(hidden_size=64, block_dim=64, block_ff_dim=160, block_multiple_of=32)
config = dict(LFM2, **WIDE)
save_and_record("lfm2_4bit", *lm_fixture.quantized(build(lfm2, config), config, 32, 4), 14)

WIDE_MOE = dict(hidden_size=64, intermediate_size=64, moe_intermediate_size=32)
config = dict(LFM2_MOE, **WIDE_MOE)
save_and_record("lfm2_moe_4bit", *lm_fixture.quantized(build(lfm2_moe, config), config, 32, 4),
                14)

lm_fixture.record_batch(arrays, "lfm2", "lfm2", VOCAB, 20261216)
lm_fixture.record_batch(arrays, "lfm2_moe", "lfm2_moe", VOCAB, 20261316)

mx.save_safetensors(os.path.join(HERE, "lm_lfm2_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
