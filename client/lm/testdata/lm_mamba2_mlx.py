#!/usr/bin/env python3
"""Writes mlx-lm's Mamba-2 and Granite 4.0 (granitemoehybrid) models and what they compute,
for client/lm/arrays_models_mlx_test.cc, mamba2_test.cc (and tests/client_lm_remote_test.cc).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_mamba2_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights and a
vocabulary of 96. Their mamba layers: in_proj's gate, conv input (x, B, C) and time steps, a
causal depthwise conv1d of 4 taps, the SSD scan, the gated norm, out_proj. mlx-lm scans 256
positions at a time whatever config.json says; ferry takes config.json's chunk_size
(mamba_chunk_size), so where it is 8 ferry's chunks carry the state where mlx-lm's one does
not, and mamba2_long's prompt of 270 spans two of mlx-lm's own:
  mamba2          hidden size 32, 3 layers of 4 heads of 16 (intermediate_size 64) over 2
                  groups, state 16, an lm_head, conv bias, time steps clipped to [0.01, 1],
                  chunk_size 8, in Hugging Face's layout (conv weights (C, 1, K), mlx-lm's
                  sanitize moves them)
  mamba2_long     hidden size 32, 2 layers of 4 heads of 8 in 1 group, tied embeddings, no
                  chunk_size (256), mlx-lm's layout; a prompt of 270 tokens
  mamba2_4bit     mamba2 of hidden size 64 (heads of 32) quantized by mlx-lm's quantize_model
                  (affine, 4 bits in groups of 32; the conv1d is no layer it quantizes)
  granitemoehybrid        hidden size 32, layer_types mamba, attention, mamba, mamba; 4
                  experts (top 2) of 16 beside a shared MLP of 24; RoPE; the multipliers
                  (embedding 4, attention 0.2, residual 0.5, logits scaled by 2.5);
                  mamba_chunk_size 8, 1 group, mamba_expand 1 (4 heads of 8: the width);
                  Hugging Face's layout (conv weights (C, 1, K), the experts' input_linear
                  and output_linear)
  granitemoehybrid_dense  hidden size 32, attention, mamba, mamba; a dense MLP of 48 stored
                  as Hugging Face's shared_mlp (sanitize renames it); position_embedding_type
                  "nope"; an lm_head; rope_theta under rope_parameters; 2 groups; no conv bias
                  (mamba_conv_bias absent: mlx-lm's None)
  granitemoehybrid_4bit   granitemoehybrid of hidden size 64 quantized so, its routers 8 bits
                  in groups of 64 (the model's quant_predicate, named in config.json)

lm_mamba2_mlx.safetensors holds, for each model <m>:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.cached_logits  the same prompt through make_cache()'s caches in pieces: a prefill of
                     CHUNKS[0] tokens, one of CHUNKS[1], then one token at a time, (1, L, V)
  <m>.greedy         generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
and, for mamba2 and granitemoehybrid, mlx-lm's BatchGenerator over lm_fixture's batch (five
prompts joining at different calls, prefilled 4 tokens at a time; mlx-lm right-pads them and
masks the padding out of the conv and scan states), as lm_lfm2_mlx.py records it:
  <m>.prompt<i>, <m>.tokens<i>  int32
  <m>.options                   (max_kv_size or 0, prefill_step_size) int32
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import granitemoehybrid, mamba2

import lm_fixture
from lm_fixture import HERE

rng = np.random.default_rng(20261208)
arrays = {}
VOCAB = 96
CHUNKS = (7, 5)
build = functools.partial(lm_fixture.build, rng)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)

MAMBA2 = dict(model_type="mamba2", vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
              num_heads=4, head_dim=16, state_size=16, n_groups=2, conv_kernel=4,
              num_hidden_layers=3, layer_norm_epsilon=1e-5, use_bias=False, use_conv_bias=True,
              tie_word_embeddings=False, time_step_limit=[0.01, 1.0], time_step_rank="auto",
              chunk_size=8)
MAMBA2_LONG = dict(MAMBA2, intermediate_size=32, head_dim=8, n_groups=1, num_hidden_layers=2,
                   tie_word_embeddings=True, time_step_limit=[0.001, 100.0])
del MAMBA2_LONG["chunk_size"]
GRANITE = dict(model_type="granitemoehybrid", vocab_size=VOCAB, hidden_size=32,
               intermediate_size=16, num_hidden_layers=4, max_position_embeddings=4096,
               num_attention_heads=4, num_key_value_heads=2, attention_bias=False,
               embedding_multiplier=4.0, attention_multiplier=0.2, logits_scaling=2.5,
               residual_multiplier=0.5, layer_types=["mamba", "attention", "mamba", "mamba"],
               rms_norm_eps=1e-5, num_local_experts=4, num_experts_per_tok=2,
               shared_intermediate_size=24, mamba_n_heads=4, mamba_d_head=8, mamba_d_state=16,
               mamba_d_conv=4, mamba_n_groups=1, mamba_expand=1, mamba_proj_bias=False,
               mamba_conv_bias=True,
               mamba_chunk_size=8, position_embedding_type="rope", rope_theta=10000.0,
               tie_word_embeddings=True)
GRANITE_DENSE = dict(GRANITE, num_hidden_layers=3, layer_types=["attention", "mamba", "mamba"],
                     num_local_experts=0, intermediate_size=48, shared_intermediate_size=48,
                     position_embedding_type="nope", tie_word_embeddings=False,
                     mamba_n_groups=2, rope_parameters=dict(rope_type="default",
                                                            rope_theta=5e5))
for key in ("rope_theta", "mamba_conv_bias", "mamba_chunk_size", "num_experts_per_tok"):
    del GRANITE_DENSE[key]


def granite_mlps(key, value, weights):
    """Granite's experts as input_linear (E, 2 * width, hidden: gate's rows, then up's) and
    output_linear, a dense MLP as shared_mlp's."""
    if ".switch_mlp.up_proj." in key or ".mlp.up_proj." in key:
        return {}
    if ".switch_mlp.gate_proj." in key:
        up = weights[key.replace("gate_proj", "up_proj")]
        return {key.replace("switch_mlp.gate_proj", "input_linear"):
                mx.concatenate([value, up], axis=1)}
    if ".switch_mlp.down_proj." in key:
        return {key.replace("switch_mlp.down_proj", "output_linear"): value}
    if ".mlp.gate_proj." in key:
        up = weights[key.replace("gate_proj", "up_proj")]
        return {key.replace("mlp.gate_proj", "shared_mlp.input_linear"):
                mx.concatenate([value, up], axis=0)}
    if ".mlp.down_proj." in key:
        return {key.replace("mlp.down_proj", "shared_mlp.output_linear"): value}
    return {key: value}


def hugging_face_layout(weights):
    return lm_fixture.hugging_face_layout(weights, "conv1d.weight", granite_mlps)


model = build(mamba2, MAMBA2)
save_and_record("mamba2", hugging_face_layout(dict(tree_flatten(model.parameters()))), MAMBA2,
                30)

model = build(mamba2, MAMBA2_LONG)
save_and_record("mamba2_long", dict(tree_flatten(model.parameters())), MAMBA2_LONG, 270)

WIDE = dict(hidden_size=64, intermediate_size=128, head_dim=32)
config = dict(MAMBA2, **WIDE)
save_and_record("mamba2_4bit", *lm_fixture.quantized(build(mamba2, config), config, 32, 4), 14)

model = build(granitemoehybrid, GRANITE)
save_and_record("granitemoehybrid",
                hugging_face_layout(dict(tree_flatten(model.parameters()))), GRANITE, 20)

model = build(granitemoehybrid, GRANITE_DENSE)
save_and_record("granitemoehybrid_dense",
                hugging_face_layout(dict(tree_flatten(model.parameters()))), GRANITE_DENSE, 18)

WIDE_GRANITE = dict(hidden_size=64, intermediate_size=32, shared_intermediate_size=32,
                    mamba_d_head=16)
config = dict(GRANITE, **WIDE_GRANITE)
save_and_record("granitemoehybrid_4bit",
                *lm_fixture.quantized(build(granitemoehybrid, config), config, 32, 4), 14)

lm_fixture.record_batch(arrays, "mamba2", "mamba2", VOCAB, 20261218)
lm_fixture.record_batch(arrays, "granitemoehybrid", "granitemoehybrid", VOCAB, 20261318)

mx.save_safetensors(os.path.join(HERE, "lm_mamba2_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
