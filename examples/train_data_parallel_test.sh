#!/bin/sh
# Runs the data-parallel example briefly on three daemons it starts: exits non-zero unless the
# loss fell and every rank holds the same weights.
set -eu
out="${TEST_TMPDIR:-/tmp}/train_data_parallel.out"
"$1" --ranks=3 --steps=40 --rows=64 --features=8 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "(fell: yes); ranks' weights differ by 0;" "$out"
grep -q "^3 ranks, collectives: ring$" "$out"  # CPU daemons
