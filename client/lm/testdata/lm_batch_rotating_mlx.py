#!/usr/bin/env python3
"""Writes what mlx-lm's BatchGenerator gives through its BatchRotatingKVCache, for
client/lm/batch_generator_test.cc (BatchRotatingMlxTest).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says), after
lm_mlx.py and lm_gemma3_mlx.py wrote the model directories it reads:
  /tmp/mlxenv/bin/python client/lm/testdata/lm_batch_rotating_mlx.py

Each case batches five prompts (5, 17, 9, 30 and 2 tokens: two at the first call, two at
the fourth, one at the seventh), 20 greedy tokens each, prefilled 4 at a time, so each
row's ring wraps while prefilling and while decoding beside rows of other lengths:
  gemma3_text  testdata/gemma3_text: its sliding layers' rings of 8, global layers plain
  qwen2_kv10   testdata/qwen2 with max_kv_size 10: every layer a ring of 10 (mlx-lm's
               batch merges make_prompt_cache's RotatingKVCache(10, keep=4) into a
               BatchRotatingKVCache, which keeps no first positions)

lm_batch_rotating_mlx.safetensors holds, for each case <c> and prompt <i>:
  <c>.prompt<i>, <c>.tokens<i>  int32
  <c>.options                   (max_kv_size or 0, prefill_step_size) int32
"""
import os

import mlx.core as mx

import lm_fixture
from lm_fixture import HERE

VOCAB = 96
arrays = {}

lm_fixture.record_batch(arrays, "gemma3_text", "gemma3_text", VOCAB, 20261207)
lm_fixture.record_batch(arrays, "qwen2_kv10", "qwen2", VOCAB, 20261208, max_kv_size=10)

mx.save_safetensors(os.path.join(HERE, "lm_batch_rotating_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
