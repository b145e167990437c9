#!/usr/bin/env python3
"""Records mlx-lm's speculative decoding (speculative_generate_step, what
stream_generate(..., draft_model=...) runs) for client/lm/speculative_generate_test.cc.

Run from the repository root with mlx 0.32.4 and mlx-lm 0.32.2 (see lm_mlx.py), after
lm_mlx.py has written the models it reuses:
  /tmp/mlxenv/bin/python client/lm/testdata/lm_speculative_mlx.py

The main model is lm_mlx.py's llama; its drafts are llama_4bit (the same weights in 4 bits:
a draft that mostly agrees) and qwen2 (unrelated weights of the same vocabulary: one that
mostly does not). lm_speculative_mlx.safetensors holds, for each case <c>:
  <c>.prompt      the prompt (int32)
  <c>.tokens      the greedy tokens speculative_generate_step gives (int32)
  <c>.from_draft  1 where that token was the draft's, accepted; 0 where the model's (int32)
  <c>.plain       generate_step's greedy tokens from the same prompt (int32): the same
  <c>.k           num_draft_tokens (int32, one element)
"""
import os

import mlx.core as mx
import numpy as np
from mlx_lm.generate import generate_step, speculative_generate_step

from lm_fixture import HERE, reload

rng = np.random.default_rng(20261208)
model = reload("llama")
drafts = {"4bit": reload("llama_4bit"), "qwen2": reload("qwen2")}
arrays = {}
CASES = [("4bit", 3, 9, 20), ("4bit", 2, 5, 17), ("qwen2", 3, 7, 12), ("4bit", 4, 1, 15)]
for draft_name, k, prompt_length, steps in CASES:
    name = f"{draft_name}_k{k}_p{prompt_length}"
    prompt = mx.array(rng.integers(0, 96, prompt_length).astype(np.int32))
    tokens, from_draft = [], []
    for token, _, accepted in speculative_generate_step(
            prompt, model, drafts[draft_name], num_draft_tokens=k, max_tokens=steps):
        tokens.append(int(token))
        from_draft.append(int(accepted))
    plain = [int(t) for t, _ in generate_step(prompt, model, max_tokens=steps)]
    assert tokens == plain, (name, tokens, plain)
    arrays[f"{name}.prompt"] = prompt
    arrays[f"{name}.tokens"] = mx.array(np.array(tokens, dtype=np.int32))
    arrays[f"{name}.from_draft"] = mx.array(np.array(from_draft, dtype=np.int32))
    arrays[f"{name}.plain"] = mx.array(np.array(plain, dtype=np.int32))
    arrays[f"{name}.k"] = mx.array(np.array([k], dtype=np.int32))
    print(f"{name}: {tokens}; from the draft {sum(from_draft)} of {len(tokens)}: {from_draft}")

mx.save_safetensors(os.path.join(HERE, "lm_speculative_mlx.safetensors"), arrays)
