#!/usr/bin/env python3
"""Writes what mlx-lm's BatchGenerator gives for models whose linear-attention layers keep an
ArraysCache (their conv and recurrent state), for client/lm/batch_generator_test.cc
(ArraysBatchesGiveMlxLmsTokens).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says), after
lm_qwen3_next_mlx.py wrote the model directories it reads:
  /tmp/mlxenv/bin/python client/lm/testdata/lm_batch_qwen3_next_mlx.py

Each case batches five prompts (5, 17, 9, 30 and 2 tokens: two at the first call, two at
the fourth, one at the seventh), 20 greedy tokens each, prefilled 4 at a time, so rows of
other lengths are prefilled together (mlx-lm pads them, masking the padding out of the
states) and join a batch already decoding:
  qwen3_next  testdata/qwen3_next: gated delta nets (fused projections) and gated attention
  qwen3_5     testdata/qwen3_5: the same with Qwen3.5's projections

lm_batch_qwen3_next_mlx.safetensors holds, for each case <c> and prompt <i>:
  <c>.prompt<i>, <c>.tokens<i>  int32
  <c>.options                   (max_kv_size or 0, prefill_step_size) int32
"""
import os

import mlx.core as mx

import lm_fixture
from lm_fixture import HERE

VOCAB = 300
arrays = {}

lm_fixture.record_batch(arrays, "qwen3_next", "qwen3_next", VOCAB, 20261215)
lm_fixture.record_batch(arrays, "qwen3_5", "qwen3_5", VOCAB, 20261315)

mx.save_safetensors(os.path.join(HERE, "lm_batch_qwen3_next_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
