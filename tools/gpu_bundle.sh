#!/usr/bin/env bash
# Builds the CUDA tests and benchmarks here and packs them, with every shared library a GPU
# machine may lack, into .gpu_bundle/ (gitignored) for a machine that has only the NVIDIA
# driver, Python and PyTorch (whose wheels carry cuBLAS). Then, there:
#   .gpu_bundle/run_all.sh LOGDIR
# runs every CUDA test and benchmark and writes one log per binary plus LOGDIR/summary.txt.
#
# Not bundled: libcuda/libnvidia-* (the driver's), cuBLAS/cuBLASLt (500+ MiB), cuSOLVER
# (140 MiB, with cuSPARSE and nvJitLink beside it) and NCCL (200+ MiB): the backend dlopens
# them, as it does NVRTC, and run_all.sh points FERRY_CUDA_LIB_DIR at PyTorch's copies.
# glibc is bundled separately (lib/glibc) and used, through its own loader, only when the
# machine's glibc is older than this one's.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.gpu_bundle
TESTS=(cuda_parity_test cuda_fused_test cuda_memory_test cuda_fault_test cuda_devices_test
       cuda_op_coverage_test cublas_loader_test cusolver_loader_test nccl_loader_test
       nccl_collectives_test fused_kernel_test)
BENCHES=(matmul_bench conv_bench elementwise_bench copy_bench quantized_bench linalg_bench fft_bench
         recurrence_bench)
# The client against a ferryd on the GPU; random graphs of every op on its CUDA backend.
REMOTE_TESTS=(client_remote_cuda_test ferryd_random_graphs_test)

targets=()
for t in "${TESTS[@]}"; do targets+=("//kernels/cuda:$t"); done
for b in "${BENCHES[@]}"; do targets+=("//bench/cuda:$b"); done
for t in "${REMOTE_TESTS[@]}"; do targets+=("//tests:$t"); done
targets+=(//server:ferryd)
./bazelw build "${targets[@]}"

rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib/glibc" "$OUT/scripts"
binaries=()
for t in "${TESTS[@]}"; do binaries+=("bazel-bin/kernels/cuda/$t"); done
for b in "${BENCHES[@]}"; do binaries+=("bazel-bin/bench/cuda/$b"); done
for t in "${REMOTE_TESTS[@]}"; do binaries+=("bazel-bin/tests/$t"); done
binaries+=(bazel-bin/server/ferryd)
for bin in "${binaries[@]}"; do
  cp -L "$bin" "$OUT/bin/"
  chmod u+w "$OUT/bin/$(basename "$bin")"
  # Every library ldd resolves, except the driver's; glibc's apart.
  ldd "$bin" | awk '/=> \// {print $1, $3} /^\t\/lib64\/ld-linux/ {print "ld-linux-x86-64.so.2", $1}' |
    while read -r name path; do
      case "$name" in
        libcuda.so*|libnvidia*) continue ;;
        libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*|libresolv.so.*)
          cp -Ln "$path" "$OUT/lib/glibc/$name" ;;
        *) cp -Ln "$path" "$OUT/lib/$name" ;;
      esac
    done
done
strip --strip-unneeded "$OUT"/bin/* "$OUT"/lib/*.so* 2>/dev/null || true
# Large files travel xz-compressed (OpenBLAS alone is 35 MiB); run_all.sh unpacks them.
find "$OUT" -type f -size +1M -print0 | xargs -0 -r xz -T2 -6
cp bench/cuda/*.py "$OUT/scripts/"
# The models client_remote_cuda_test generates with (ferry::lm), where its runfiles are.
mkdir -p "$OUT/runfiles/ferry/client/lm"
cp -r client/lm/testdata "$OUT/runfiles/ferry/client/lm/"
getconf GNU_LIBC_VERSION | awk '{print $2}' > "$OUT/glibc_version"

cat > "$OUT/run_all.sh" <<'RUN'
#!/usr/bin/env bash
# Runs every CUDA test and benchmark of this bundle; logs go to LOGDIR (default ./logs).
# With RESULTS_DIR (the device tool's $OUT, which returns at most 8 files), also leaves there
# summary.txt, failures.txt (each failed check with a few lines of context) and logs.tar.gz.
# The whole run keeps within RUN_ALL_BUDGET_S seconds (default 540, under one call's 600).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
MLX_INSTALL="$HERE/../.mlx_bundle/2/install.sh"  # tools/mlx_bundle.sh's second piece
LOGDIR="${1:-logs}"
RESULTS_DIR="${2:-}"
DEADLINE=$((SECONDS + ${RUN_ALL_BUDGET_S:-540}))
mkdir -p "$LOGDIR"
LOGDIR="$(cd "$LOGDIR" && pwd)"
# Unpacked once, beside the bundle when it is writable, else in a temporary directory.
if [ ! -w "$HERE" ]; then
  TMP="$(mktemp -d)"; cp -r "$HERE"/. "$TMP"/; HERE="$TMP"
fi
find "$HERE" -name '*.xz' -exec xz -d -f {} +
chmod +x "$HERE"/bin/* "$HERE"/lib/glibc/ld-linux-x86-64.so.2 2>/dev/null
export LD_LIBRARY_PATH="$HERE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# cuBLASLt, cuBLAS, cuSOLVER, NVRTC and NCCL: PyTorch's copies (its nvidia-* wheels) unless
# FERRY_CUDA_LIB_DIR already says where; their directories, colon-separated.
sites="$(python3 -c 'import site; print(" ".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null)"
library_dirs() {  # library_dirs LIBRARY...: the directory of each one found, once each
  local dirs="" library dir found
  for library in "$@"; do
    for dir in $sites /usr/local/cuda/lib64 /usr/local/cuda/lib; do
      found="$(find "$dir" -name "$library" 2>/dev/null | head -1)"
      if [ -n "$found" ]; then
        case ":$dirs:" in *":$(dirname "$found"):"*) ;; *) dirs="${dirs:+$dirs:}$(dirname "$found")" ;; esac
        break
      fi
    done
  done
  echo "$dirs"
}
if [ -z "${FERRY_CUDA_LIB_DIR:-}" ]; then
  dirs="$(library_dirs libcublasLt.so.13 libcublas.so.13 libcusolver.so.12 libnvrtc.so.13 libcufft.so.12 libnccl.so.2)"
  [ -n "$dirs" ] && export FERRY_CUDA_LIB_DIR="$dirs"
fi
# libcusolver.so.12 needs these at dlopen; its RUNPATH ($ORIGIN) finds them only where a
# wheel puts them beside it, so their directories go on the loader's path too.
solver_deps="$(library_dirs libcublas.so.13 libcublasLt.so.13 libcusparse.so.12 libnvJitLink.so.13)"
[ -n "$solver_deps" ] && export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$solver_deps"
echo "FERRY_CUDA_LIB_DIR=${FERRY_CUDA_LIB_DIR:-<none found>}" | tee "$LOGDIR/summary.txt"
echo "cuSOLVER's dependencies from: ${solver_deps:-<none found>}" | tee -a "$LOGDIR/summary.txt"
nvidia-smi -L >> "$LOGDIR/summary.txt" 2>&1 || true

# The bundle's glibc only when this machine's is older than the one it was built with.
RUNNER=()
mine="$(getconf GNU_LIBC_VERSION | awk '{print $2}')"
built="$(cat "$HERE/glibc_version")"
if [ "$(printf '%s\n%s\n' "$built" "$mine" | sort -V | head -1)" != "$built" ]; then
  RUNNER=("$HERE/lib/glibc/ld-linux-x86-64.so.2" --library-path "$HERE/lib/glibc:$LD_LIBRARY_PATH")
  echo "glibc $mine < $built: running through the bundled loader" | tee -a "$LOGDIR/summary.txt"
fi

# The remote tests start ferryd from their runfiles (server::FindFerryd), through the
# bundled loader too when the tests need it.
mkdir -p "$HERE/runfiles/ferry/server"
if [ ${#RUNNER[@]} -eq 0 ]; then
  ln -sf "$HERE/bin/ferryd" "$HERE/runfiles/ferry/server/ferryd"
else
  printf '#!/bin/sh\nexec %s "%s" "$@"\n' "${RUNNER[*]}" "$HERE/bin/ferryd" \
    > "$HERE/runfiles/ferry/server/ferryd"
  chmod +x "$HERE/runfiles/ferry/server/ferryd"
fi
export RUNFILES_DIR="$HERE/runfiles"

run() {  # run NAME TIMEOUT BINARY ARGS...
  local name="$1" limit="$2"; shift 2
  local start=$SECONDS
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 10 ]; then
    printf '%-28s not run: the budget is spent\n' "$name" | tee -a "$LOGDIR/summary.txt"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local runner=("${RUNNER[@]}")
  [ "$1" = python3 ] && runner=()  # the machine's own Python, with its own libraries
  # A fresh TEST_TMPDIR each, as Bazel gives a test (a cache test must start empty).
  TEST_TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/ferry-$name.XXXXXX")" \
    timeout "$limit" "${runner[@]}" "$@" > "$LOGDIR/$name.log" 2>&1
  local rc=$?
  printf '%-28s rc=%-3s %4ss\n' "$name" "$rc" "$((SECONDS - start))" | tee -a "$LOGDIR/summary.txt"
}

# Limits far above what each needs on a GPU (seconds; the emulator runs all of them in CI
# in about a minute), so that one that hangs leaves time for the rest.
for t in cuda_devices_test cublas_loader_test cusolver_loader_test nccl_loader_test fused_kernel_test \
         cuda_op_coverage_test nccl_collectives_test \
         cuda_parity_test cuda_fused_test cuda_memory_test cuda_fault_test; do
  run "$t" 120 "$HERE/bin/$t" --gtest_output="xml:$LOGDIR/$t.xml"
done
run client_remote_cuda_test 180 "$HERE/bin/client_remote_cuda_test" \
  --gtest_output="xml:$LOGDIR/client_remote_cuda_test.xml"
FERRY_TEST_TF32=1 run cuda_parity_test_tf32 60 "$HERE/bin/cuda_parity_test" \
  --gtest_filter='*Matmul*:*Convolution*'
for b in copy_bench elementwise_bench matmul_bench conv_bench quantized_bench linalg_bench fft_bench \
    recurrence_bench; do
  run "$b" 120 "$HERE/bin/$b"
done
run ferryd_random_graphs_test 120 "$HERE/bin/ferryd_random_graphs_test" \
  --gtest_output="xml:$LOGDIR/ferryd_random_graphs_test.xml"
# ferryd serves on the GPU and says which (rc 124: stopped by the timeout, as meant).
run ferryd_cuda_smoke 10 "$HERE/bin/ferryd" --backend=cuda --listen=127.0.0.1:0
run torch_compare 180 python3 "$HERE/scripts/torch_compare.py" "$LOGDIR/matmul_bench.log" \
  "$LOGDIR/conv_bench.log" "$LOGDIR/linalg_bench.log" "$LOGDIR/fft_bench.log"
# MLX, when tools/mlx_bundle.sh's pieces came along (the first kept by the previous run).
if [ -x "$MLX_INSTALL" ] && mlx_site="$("$MLX_INSTALL" 2>>"$LOGDIR/summary.txt")"; then
  export PYTHONPATH="$mlx_site${PYTHONPATH:+:$PYTHONPATH}"
  echo "MLX installed in $mlx_site" >> "$LOGDIR/summary.txt"
fi
run mlx_compare 180 python3 "$HERE/scripts/mlx_compare.py" "$LOGDIR/elementwise_bench.log" \
  "$LOGDIR/quantized_bench.log" "$LOGDIR/fft_bench.log" "$LOGDIR/recurrence_bench.log"
grep -h -E '^(RATIO|SKIP|DEVICE)' "$LOGDIR"/*.log >> "$LOGDIR/summary.txt" 2>/dev/null
grep -h -E '^\[  (FAILED|SKIPPED|PASSED) ' "$LOGDIR"/*_test.log >> "$LOGDIR/summary.txt" 2>/dev/null
grep -h -B1 -A6 ': Failure' "$LOGDIR"/*.log 2>/dev/null | head -400 > "$LOGDIR/failures.txt"
if [ -n "$RESULTS_DIR" ]; then
  mkdir -p "$RESULTS_DIR"
  cp "$LOGDIR/summary.txt" "$LOGDIR/failures.txt" "$RESULTS_DIR/"
  tar -C "$(dirname "$LOGDIR")" -czf "$RESULTS_DIR/logs.tar.gz" "$(basename "$LOGDIR")"
fi
cat "$LOGDIR/summary.txt"
echo "logs in $LOGDIR"
RUN
chmod +x "$OUT/run_all.sh"
du -sh "$OUT"
size=$(du -sm "$OUT" | cut -f1)
if [ "$size" -ge 64 ]; then echo "bundle is ${size} MiB, over the 64 MiB carry limit" >&2; exit 1; fi
