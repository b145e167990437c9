#!/usr/bin/env bash
# Runs //bench:all --quick: every benchmark must build, run and print its rows.
set -euo pipefail
bin="${TEST_SRCDIR}/ferry/bench/all"
out="$("$bin" --quick)"
echo "$out"
rows=$(grep -c '^| ' <<<"$out")
# header + separator + at least one row per benchmark family
if ((rows < 20)); then
  echo "bench_smoke_test: expected at least 18 table rows, got $((rows - 2))" >&2
  exit 1
fi
