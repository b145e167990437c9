#!/bin/sh
# Runs the transformer example briefly: it starts its own ferryd, trains on both devices and
# exits non-zero unless the loss decreased on both and they agree; each remote step is one
# Execute of a graph the daemon has (the batch goes with it). Then both decode new prompts
# token by token with a KV cache: one graph for every step, sent once, and the same tokens.
set -eu
out="${TEST_TMPDIR:-/tmp}/train_transformer.out"
"$1" --steps=30 --batch=8 --copy_length=6 --dims=32 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "loss decreased on both: yes" "$out"
grep -q "1 Execute, graph sent by id" "$out"
# The 18 weights and AdamW's 37 state arrays, all written over in place.
grep -q "55 buffers written over in place" "$out"
grep -q "11 steps, 11 Execute, graph sent 1 time(s)" "$out"
grep -q "local and remote generated the same tokens: yes" "$out"
