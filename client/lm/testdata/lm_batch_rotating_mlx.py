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
import numpy as np
from mlx_lm.generate import BatchGenerator

from lm_fixture import HERE, reload

VOCAB = 96
LENGTHS = [5, 17, 9, 30, 2]
JOIN = {0: [0, 1], 3: [2, 3], 6: [4]}  # call: prompts inserted before it
MAX_TOKENS = 20
PREFILL = 4
arrays = {}


def case(name, model_dir, max_kv_size, seed):
    model = reload(model_dir)
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(0, VOCAB, n).astype(np.int32).tolist() for n in LENGTHS]
    generator = BatchGenerator(model, max_tokens=MAX_TOKENS, prefill_step_size=PREFILL,
                               max_kv_size=max_kv_size)
    uids, tokens, gaps = {}, {}, []
    call = 0
    while True:
        for i in JOIN.get(call, []):
            uids[generator.insert([prompts[i]], max_tokens=[MAX_TOKENS])[0]] = i
        responses = generator.next_generated()
        call += 1
        if not responses and call > max(JOIN):
            break
        for r in responses:
            tokens.setdefault(uids[r.uid], []).append(r.token)
            top2 = np.sort(np.array(r.logprobs.astype(mx.float32)))[-2:]
            gaps.append(top2[1] - top2[0])
    for i, prompt in enumerate(prompts):
        assert len(tokens[i]) == MAX_TOKENS, (name, i, len(tokens[i]))
        arrays[f"{name}.prompt{i}"] = mx.array(prompt, dtype=mx.int32)
        arrays[f"{name}.tokens{i}"] = mx.array(tokens[i], dtype=mx.int32)
        print(f"{name} prompt {i} ({len(prompt)} tokens): {tokens[i]}")
    arrays[f"{name}.options"] = mx.array([max_kv_size or 0, PREFILL], dtype=mx.int32)
    print(f"{name}: smallest top-2 gap {min(gaps):.4f}")


case("gemma3_text", "gemma3_text", None, 20261207)
case("qwen2_kv10", "qwen2", 10, 20261208)

mx.save_safetensors(os.path.join(HERE, "lm_batch_rotating_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
