#!/usr/bin/env python3
"""Writes what mlx-lm generates through its rotating KV caches, for
client/lm/kv_cache_test.cc (RotatingMlxTest).

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (as lm_mlx.py says), after
lm_mlx.py and lm_gemma3_mlx.py wrote the model directories it reads:
  /tmp/mlxenv/bin/python client/lm/testdata/lm_rotating_mlx.py

Each case runs generate_step on a saved model directory with prompts longer than the cache
and more steps than it holds, so the ring wraps both while prefilling and while decoding:
  qwen2_kv16_chunk12  testdata/qwen2 with max_kv_size 16 (make_prompt_cache's
                      RotatingKVCache(16, keep=4) for every layer; qwen2.py has no
                      make_cache), a 40-token prompt prefilled 12 at a time, 30 steps
  qwen2_kv16          the same in one prefill chunk (39 tokens into 16), 24 steps
  gemma3_text_chunk6  testdata/gemma3_text (its make_cache: RotatingKVCache(8) for the
                      sliding layers, KVCache for the global ones), a 20-token prompt
                      prefilled 6 at a time (the last chunk a single token), 20 steps

lm_rotating_mlx.safetensors holds, for each case <c>, as lm_mlx.safetensors does:
  <c>.prompt, <c>.logits, <c>.greedy, <c>.logprobs
  <c>.options     (max_kv_size or 0, prefill_step_size) int32
"""
import functools
import os

import mlx.core as mx
import numpy as np

import lm_fixture
from lm_fixture import HERE, reload

rng = np.random.default_rng(20261207)
arrays = {}
VOCAB = 96
record = functools.partial(lm_fixture.record, arrays, rng, VOCAB)


def case(name, model_dir, prompt_length, steps, max_kv_size, prefill_step_size):
    kwargs = dict(prefill_step_size=prefill_step_size)
    if max_kv_size:
        kwargs["max_kv_size"] = max_kv_size
    record(name, reload(model_dir), prompt_length, steps, **kwargs)
    arrays[f"{name}.options"] = mx.array([max_kv_size, prefill_step_size], dtype=mx.int32)


case("qwen2_kv16_chunk12", "qwen2", prompt_length=40, steps=30, max_kv_size=16,
     prefill_step_size=12)
case("qwen2_kv16", "qwen2", prompt_length=40, steps=24, max_kv_size=16, prefill_step_size=2048)
case("gemma3_text_chunk6", "gemma3_text", prompt_length=20, steps=20, max_kv_size=0,
     prefill_step_size=6)

mx.save_safetensors(os.path.join(HERE, "lm_rotating_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
