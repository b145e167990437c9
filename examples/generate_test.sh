#!/bin/sh
# Runs the generation example: it starts its own ferryd, loads ferry-tiny-llama there, recites
# the README's first sentence from its first words, and exits non-zero unless the local
# device generated the same tokens.
set -eu
out="${TEST_TMPDIR:-/tmp}/generate.out"
"$1" --max_tokens=24 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "ferry lets a C++ program build lazy array computations, MLX style" "$out"
grep -q "the local device generated the same 24 tokens: yes" "$out"
# The prompt's Execute and one per token; once the caches are resident, the graph goes by id.
grep -q "daemon   25 Execute" "$out"
grep -Eq "the last [0-9]+ steps: graph sent whole 0 time\(s\)" "$out"
# Sampled: the same seed draws the same tokens on both devices.
"$1" --max_tokens=12 --temp=0.8 --top_p=0.9 --seed=3 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "the local device generated the same 12 tokens: yes" "$out"
# Speculative: the model as its own draft takes every proposal (3 a round, and the model's
# token after them): the same tokens in a round of 4 tokens an Execute.
"$1" --max_tokens=24 --draft_model=examples/models/ferry-tiny-llama --num_draft_tokens=3 \
  >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "ferry lets a C++ program build lazy array computations, MLX style" "$out"
grep -q "the local device generated the same 24 tokens: yes" "$out"
grep -q "draft    18 of 24 tokens were the draft's, accepted (75.0%)" "$out"
# Two prefills and 24 / 4 rounds.
grep -q "daemon   8 Execute" "$out"
# A prompt's caches saved (examples/cache_prompt, as mlx_lm.cache_prompt) and gone on from
# (--prompt_cache_file): the rest of the prompt gives the reply the whole prompt gives.
cache="${TEST_TMPDIR:-/tmp}/prompt_cache.safetensors"
"$2" --model=examples/models/ferry-tiny-llama --prompt="ferry lets a C++" \
  --prompt_cache_file="$cache" >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "tokens of examples/models/ferry-tiny-llama cached in $cache" "$out"
"$1" --max_tokens=12 --prompt=" program" --prompt_cache_file="$cache" >"$out" 2>&1 ||
  { cat "$out"; exit 1; }
cat "$out"
grep -q "^ program build lazy array com" "$out"
grep -q "the local device generated the same 12 tokens: yes" "$out"
