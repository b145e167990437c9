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
and, for the cases with quantized caches (kv_bits, after lm_quantized_kv_mlx.py has written
llama_hd64), whose model is llama_hd64 and draft llama_hd64_4bit (its weights in 4 bits,
written here) and whose greedy tokens need not be generate_step's plain ones:
  <c>.kv          kv_bits, kv_group_size, quantized_kv_start (int32)
"""
import json
import os

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten
from mlx_lm.generate import generate_step, speculative_generate_step

import mlx.nn as nn
from lm_fixture import HERE, reload, save_model

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

# Quantized caches: both models' caches become quantized once they hold quantized_kv_start
# positions, in the prompt (start 6) or while the rounds go on and are trimmed (start 14).
quantized_model = reload("llama_hd64")
with open(os.path.join(HERE, "llama_hd64", "config.json")) as f:
    config = json.load(f)
draft = reload("llama_hd64")
nn.quantize(draft, group_size=32, bits=4)
save_model("llama_hd64_4bit", dict(tree_flatten(draft.parameters())),
           dict(config, quantization=dict(group_size=32, bits=4, mode="affine")))
draft = reload("llama_hd64_4bit")
for bits, group, start, k, prompt_length, steps in [(8, 64, 6, 3, 9, 20), (4, 32, 14, 2, 7, 18)]:
    name = f"kv{bits}_k{k}_p{prompt_length}"
    prompt = mx.array(rng.integers(0, 96, prompt_length).astype(np.int32))
    tokens, from_draft = [], []
    for token, _, accepted in speculative_generate_step(
            prompt, quantized_model, draft, num_draft_tokens=k, max_tokens=steps,
            kv_bits=bits, kv_group_size=group, quantized_kv_start=start):
        tokens.append(int(token))
        from_draft.append(int(accepted))
    arrays[f"{name}.prompt"] = prompt
    arrays[f"{name}.tokens"] = mx.array(np.array(tokens, dtype=np.int32))
    arrays[f"{name}.from_draft"] = mx.array(np.array(from_draft, dtype=np.int32))
    arrays[f"{name}.k"] = mx.array(np.array([k], dtype=np.int32))
    arrays[f"{name}.kv"] = mx.array(np.array([bits, group, start], dtype=np.int32))
    print(f"{name}: {tokens}; from the draft {sum(from_draft)} of {len(tokens)}: {from_draft}")

mx.save_safetensors(os.path.join(HERE, "lm_speculative_mlx.safetensors"), arrays)
