#!/usr/bin/env python3
"""Writes mlx-lm's Falcon-H1 (falcon_h1) models and what they compute, for
client/lm/arrays_models_mlx_test.cc, falcon_h1_test.cc, batch_generator_test.cc (and
tests/client_lm_remote_test.cc).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says):
  /tmp/mlxenv/bin/python client/lm/testdata/lm_falcon_h1_mlx.py

Each model is a directory (config.json, model.safetensors) with random weights and a
vocabulary of 96. Every layer runs a Mamba-2 mixer (in_proj's gate, conv input and time
steps, a causal depthwise conv1d of 4 taps, the SSD scan, out_proj) beside Llama's
attention on one normed input, then a SwiGLU MLP. The muP multipliers are none of them 1, so
that each matters: a Hugging Face checkpoint's weights take them in mlx-lm's sanitize.
  falcon_h1       hidden size 32, 3 layers; attention of 4 heads of 8 (2 key-value heads),
                  rope_theta the default 1e11; mixers of 4 heads of 8 over 2 groups, state
                  16, conv bias, no gated norm (mamba_rms_norm false: y times silu(gate));
                  tied embeddings (the logits times lm_head_multiplier /
                  embedding_multiplier); Hugging Face's layout (conv weights (C, 1, K),
                  the multipliers not yet folded in)
  falcon_h1_norm  falcon_h1 with an lm_head, the gated norm normalizing before the gate
                  (mamba_rms_norm, mamba_norm_before_gate), in_proj biased
                  (mamba_proj_bias), out_proj biased (projectors_bias), attention and MLP
                  biased, rope_theta 10000, 1 group; Hugging Face's layout
  falcon_h1_4bit  hidden size 64 (mixer heads of 16, attention heads of 16), the gated norm
                  after the gate, tied, quantized by mlx-lm's quantize_model (affine, 4 bits
                  in groups of 32; the conv1d is no layer it quantizes) and saved in mlx-lm's
                  layout (the multipliers folded in: its sanitize leaves them)

lm_falcon_h1_mlx.safetensors holds, for each model <m>:
  <m>.prompt         the prompt (int32)
  <m>.logits         model(prompt) without a cache, (1, L, V) float32
  <m>.cached_logits  the same prompt through make_cache()'s caches (a CacheList of an
                     ArraysCache and a KVCache per layer) in pieces: a prefill of CHUNKS[0]
                     tokens, one of CHUNKS[1], then one token at a time, (1, L, V)
  <m>.greedy         generate_step's greedy tokens from the prompt (int32)
  <m>.logprobs       the log-probabilities it sampled each of them from, (N, V) float32
and, for falcon_h1, mlx-lm's BatchGenerator over lm_fixture's batch (five prompts joining at
different calls, prefilled 4 tokens at a time), as lm_mamba2_mlx.py records it:
  <m>.prompt<i>, <m>.tokens<i>  int32
  <m>.options                   (max_kv_size or 0, prefill_step_size) int32
"""
import functools
import os

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.models import falcon_h1

import lm_fixture
from lm_fixture import HERE

rng = np.random.default_rng(20261220)
arrays = {}
VOCAB = 96
CHUNKS = (7, 5)
build = functools.partial(lm_fixture.build, rng, falcon_h1)
save_and_record = functools.partial(lm_fixture.save_and_record, arrays, rng, VOCAB, CHUNKS)

FALCON = dict(model_type="falcon_h1", vocab_size=VOCAB, hidden_size=32, intermediate_size=48,
              num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
              mamba_n_heads=4, mamba_d_head=8, mamba_d_ssm=32, mamba_d_state=16,
              mamba_n_groups=2, mamba_d_conv=4, mamba_expand=1, mamba_chunk_size=16,
              mamba_conv_bias=True, mamba_proj_bias=False, mamba_rms_norm=False,
              mamba_norm_before_gate=False, projectors_bias=False, attention_bias=False,
              mlp_bias=False, rms_norm_eps=1e-5, max_position_embeddings=4096,
              tie_word_embeddings=True, embedding_multiplier=2.0, lm_head_multiplier=0.5,
              attention_in_multiplier=1.5, attention_out_multiplier=0.8, key_multiplier=0.4,
              ssm_in_multiplier=1.25, ssm_out_multiplier=0.7, mlp_multipliers=[0.9, 0.6],
              ssm_multipliers=[0.4, 0.3, 0.6, 0.5, 0.7])
FALCON_NORM = dict(FALCON, tie_word_embeddings=False, mamba_rms_norm=True,
                   mamba_norm_before_gate=True, mamba_proj_bias=True, projectors_bias=True,
                   attention_bias=True, mlp_bias=True, rope_theta=10000.0, mamba_n_groups=1)
FALCON_WIDE = dict(FALCON, hidden_size=64, intermediate_size=64, head_dim=16, mamba_d_head=16,
                   mamba_d_ssm=64, mamba_n_groups=1, mamba_rms_norm=True)


def hugging_face_layout(weights):
    """Conv weights (C, 1, K), as Hugging Face's checkpoints hold them."""
    return lm_fixture.hugging_face_layout(weights, "conv1d.weight")


save_and_record("falcon_h1", hugging_face_layout(dict(tree_flatten(build(FALCON).parameters()))),
                FALCON, 30)
save_and_record("falcon_h1_norm",
                hugging_face_layout(dict(tree_flatten(build(FALCON_NORM).parameters()))),
                FALCON_NORM, 20)
save_and_record("falcon_h1_4bit", *lm_fixture.quantized(build(FALCON_WIDE), FALCON_WIDE, 32, 4),
                14)

lm_fixture.record_batch(arrays, "falcon_h1", "falcon_h1", VOCAB, 20261228)

mx.save_safetensors(os.path.join(HERE, "lm_falcon_h1_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
