#!/bin/sh
# Runs the training example briefly: it starts its own ferryd, trains on both devices and
# exits non-zero unless the loss decreased on both and they agree.
set -eu
out="${TEST_TMPDIR:-/tmp}/train_mlp.out"
"$1" --steps=25 --points=128 --hidden=16 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "loss decreased on both: yes" "$out"
grep -q "1 Execute, graph sent by id, 0 uploads" "$out"
# The 6 weights and biases and Adam's 13 state arrays, all written over in place.
grep -q "19 buffers written over in place" "$out"
# The last 3 remote steps profiled: one eval each, their ops timed on the daemon.
"$1" --steps=5 --points=64 --hidden=8 --profile_steps=3 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "ferry profile: 3 eval(s), graphs sent whole: 0" "$out"
grep -Eq "^ +matmul +24 " "$out"  # 8 per step
