#!/bin/bash
# Coverage-guided fuzzing of one target by hand: tests/fuzz/run_libfuzzer.sh TARGET [SECONDS]
# [libFuzzer flags...]. Builds TARGET with clang, libFuzzer, ASan and UBSan (--config=fuzz,
# in an output base of its own), starts from the target's seeds (and the model files in
# client/testdata) and keeps the corpus it grows in ~/.cache/ferry-fuzz-corpus/TARGET for the
# next run. A crashing input is written to the current folder as crash-<sha1>; copy it into
# tests/fuzz/regressions/TARGET/ so that CI replays it once fixed.
set -euo pipefail
target="${1:?usage: $0 graph_fuzz|graph_fuzz_cuda_emulated|pipeline_fuzz|upload_fuzz|bulk_channel_fuzz|bulk_client_fuzz|grpc_client_fuzz|tensor_file_fuzz [SECONDS] [libFuzzer flags...]}"
seconds="${2:-600}"
shift $(($# < 2 ? $# : 2))
start="$PWD"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
corpus="$HOME/.cache/ferry-fuzz-corpus/$target"
mkdir -p "$corpus/grown"
fuzz_bazel=(./bazelw --output_base="$HOME/.cache/ferry-fuzz")

./bazelw build "//tests/fuzz:${target}_test"
"bazel-bin/tests/fuzz/${target}_test" --write_seeds="$corpus/seeds"
fuzz_targets=("//tests/fuzz:$target")
if [[ "$target" == *_cuda_emulated ]]; then  # the emulator's cuBLASLt, cuBLAS, cuSOLVER and NVRTC
  fuzz_targets+=(//kernels/cuda/emulator:libcublasLt.so.13 //kernels/cuda/emulator:libcublas.so.13
    //kernels/cuda/emulator:libcusolver.so.12 //kernels/cuda/emulator:libnvrtc.so.13)
fi
"${fuzz_bazel[@]}" build --config=fuzz "${fuzz_targets[@]}"
bin="$("${fuzz_bazel[@]}" info --config=fuzz bazel-bin)"
binary="$bin/tests/fuzz/$target"
export FERRY_CUDA_LIB_DIR="$bin/kernels/cuda/emulator"

inputs=("$corpus/grown" "$corpus/seeds")
[[ "$target" == tensor_file_fuzz ]] && inputs+=("$root/client/testdata")
[[ -d "tests/fuzz/regressions/$target" ]] && inputs+=("$root/tests/fuzz/regressions/$target")
cd "$start"
exec "$binary" "${inputs[@]}" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=4096 \
  -timeout=10 -print_final_stats=1 "$@"
