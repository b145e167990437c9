#!/usr/bin/env bash
# Runs each CUDA benchmark with --quick on the CUDA emulator: it must finish, name the
# (emulated) device, print its RESULT and RATIO lines and never SKIP or fail.
set -euo pipefail
expect() {  # expect BENCH MIN_RESULTS MIN_RATIOS
  local bench="$1" results="$2" ratios="$3" out
  out="$("bench/cuda/$bench" --quick)"
  echo "$out"
  if ! grep -q '^DEVICE .*CUDA emulator' <<<"$out" || grep -q '^SKIP' <<<"$out"; then
    echo "$bench: did not run on the emulated device" >&2
    exit 1
  fi
  local got_results got_ratios
  got_results=$(grep -c '^RESULT ' <<<"$out" || true)
  got_ratios=$(grep -c '^RATIO ' <<<"$out" || true)
  if ((got_results < results || got_ratios < ratios)); then
    echo "$bench: $got_results RESULT and $got_ratios RATIO lines, expected $results and $ratios" >&2
    exit 1
  fi
}
expect copy_bench_emulated 4 2
# memcpy, 5 ops, chain (fused, unfused, GB/s), softmax, 2 MLPs; 5 op ratios and 2 chain ratios.
expect elementwise_bench_emulated 12 7
# 4 products of one size (ferry only: the emulator has no plain cuBLAS for the baseline).
expect matmul_bench_emulated 4 0
# 2 layers (a 3x3 and a 1x1) in 4 settings, ferry only as above.
expect conv_bench_emulated 8 0
# 3 row counts in 2 dtypes, each TFLOP/s and ms, ferry only as above.
expect quantized_bench_emulated 12 0
# cholesky, lu, eigh, svd, and cholesky, eigh, svd, lu, solve and qr of a batch of 8 x 8
# matrices: ferry and cuSOLVER or cuBLAS (the emulator's stand-ins) each, and 10 ratios.
expect linalg_bench_emulated 20 10
# 4 transforms, ferry only (the emulator has no cuFFT for the baseline), in TFLOP/s and ms.
expect fft_bench_emulated 8 0
# gated_delta in 2 dtypes at 2 sizes and its vjp: ms and GB/s each, 5 ratios to the copy.
expect recurrence_bench_emulated 10 5
echo "PASS"
