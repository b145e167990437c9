#!/bin/sh
# Runs the model-parallel example briefly on three daemons it starts: exits non-zero unless
# the loss fell and the weights match one device's training of the same model.
set -eu
out="${TEST_TMPDIR:-/tmp}/train_model_parallel.out"
"$1" --ranks=3 --steps=40 >"$out" 2>&1 || { cat "$out"; exit 1; }
cat "$out"
grep -q "(fell: yes); weights differ from one device's by .* (same: yes)" "$out"
