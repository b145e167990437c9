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
import numpy as np
from mlx_lm.generate import BatchGenerator

from lm_fixture import HERE, reload

VOCAB = 300
LENGTHS = [5, 17, 9, 30, 2]
JOIN = {0: [0, 1], 3: [2, 3], 6: [4]}  # call: prompts inserted before it
MAX_TOKENS = 20
PREFILL = 4
arrays = {}


def case(name, model_dir, seed):
    model = reload(model_dir)
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(0, VOCAB, n).astype(np.int32).tolist() for n in LENGTHS]
    generator = BatchGenerator(model, max_tokens=MAX_TOKENS, prefill_step_size=PREFILL)
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
    arrays[f"{name}.options"] = mx.array([0, PREFILL], dtype=mx.int32)
    print(f"{name}: smallest top-2 gap {min(gaps):.4f}")


case("qwen3_next", "qwen3_next", 20261215)
case("qwen3_5", "qwen3_5", 20261315)

mx.save_safetensors(os.path.join(HERE, "lm_batch_qwen3_next_mlx.safetensors"), arrays)
print(f"wrote {len(arrays)} arrays")
