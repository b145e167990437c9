#ifndef FERRY_BENCH_CUDA_BENCH_UTIL_H_
#define FERRY_BENCH_CUDA_BENCH_UTIL_H_

// What the CUDA benchmarks share: a backend or a clean skip, graphs built node by node,
// wall-clock timing of queued GPU work, and one result line format:
//   RESULT <name> <value> <unit>      (bench/cuda/*.py read these)
//   RATIO <name> <ferry/baseline>

#include <cuda_runtime_api.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "core/ops.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/executor.h"

namespace ferry::bench {

// --quick: small sizes and one timed call, so a benchmark is known to run before a GPU session
// (//bench/cuda:cuda_bench_smoke_test_emulated, on the CUDA emulator); its figures mean nothing.
inline bool& Quick() {
  static bool quick = false;
  return quick;
}

inline void ParseFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) != "--quick") {
      std::fprintf(stderr, "unknown flag %s (the only one is --quick)\n", argv[i]);
      std::exit(2);
    }
    Quick() = true;
  }
}

// The CUDA backend on GPU 0 with all its memory; exits 0 with "SKIP <why>" without a GPU.
inline std::unique_ptr<kernels::Backend> CudaBackendOrSkip(bool allow_tf32 = false) {
  kernels::CudaOptions options;
  options.allow_tf32 = allow_tf32;
  absl::StatusOr<std::unique_ptr<kernels::Backend>> backend = kernels::MakeCudaBackend(options);
  if (!backend.ok()) {
    std::printf("SKIP no GPU: %s\n", std::string(backend.status().message()).c_str());
    std::exit(0);
  }
  std::printf("DEVICE %s (compute %s), driver %s, runtime %s\n", (*backend)->facts().name.c_str(),
              (*backend)->facts().compute_capability.c_str(),
              (*backend)->facts().driver_version.c_str(),
              (*backend)->facts().runtime_version.c_str());
  return *std::move(backend);
}

// Appends a node whose type core infers; returns its index.
inline int32_t AddNode(core::Graph& graph, const std::string& op, std::vector<int32_t> inputs,
                       core::Attrs attrs = {}) {
  std::vector<core::TensorType> types;
  for (int32_t i : inputs) types.push_back(graph.nodes[i].out);
  absl::StatusOr<core::TensorType> out = core::InferOp(op, types, attrs);
  if (!out.ok()) {
    std::fprintf(stderr, "%s\n", out.status().ToString().c_str());
    std::exit(1);
  }
  graph.nodes.push_back({op, std::move(inputs), std::move(attrs), *out});
  return static_cast<int32_t>(graph.nodes.size() - 1);
}

inline int32_t AddParameter(core::Graph& graph, int64_t index, const core::TensorType& type) {
  core::Attrs attrs;
  attrs.Set("index", index);
  attrs.Set("dtype", type.dtype);
  attrs.Set("shape", std::vector<int64_t>(type.shape.begin(), type.shape.end()));
  return AddNode(graph, "parameter", {}, attrs);
}

inline void Check(const absl::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "FAILED %s\n", status.ToString().c_str());
    std::exit(1);
  }
}

// Seconds per call of `run` (which queues work; `sync` waits for it): a warm-up, then
// repetitions until at least 0.3 s passed (one with --quick).
inline double SecondsPerCall(const std::function<void()>& run, const std::function<void()>& sync) {
  run();
  sync();
  int reps = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  const double min_seconds = Quick() ? 0 : 0.3;
  const int min_reps = Quick() ? 1 : 3;
  while (elapsed < min_seconds || reps < min_reps) {
    run();
    ++reps;
    if (reps % 8 == 0 || elapsed >= 0.3) sync();
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  sync();
  elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return elapsed / reps;
}

// GB/s (bytes read + written) of a device-to-device cudaMemcpy of `bytes` from src to dst:
// the memory-bound benchmarks' baseline.
inline double MemcpyGBps(void* dst, const void* src, size_t bytes) {
  return 2.0 * bytes /
         SecondsPerCall([&] { cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice); },
                        [] { cudaDeviceSynchronize(); }) /
         1e9;
}

inline void Result(const std::string& name, double value, const char* unit) {
  std::printf("RESULT %s %.4g %s\n", name.c_str(), value, unit);
}

// TFLOP/s of `flops` per call of `run` (`sync` waits for it), printed as RESULT `name`.
inline double Tflops(const std::string& name, double flops, const std::function<void()>& run,
                     const std::function<void()>& sync) {
  const double tflops = flops / SecondsPerCall(run, sync) / 1e12;
  Result(name, tflops, "TFLOP/s");
  return tflops;
}

inline void Ratio(const std::string& name, double ferry, double baseline) {
  std::printf("RATIO %s %.3f (ferry %.4g vs baseline %.4g)\n", name.c_str(), ferry / baseline,
              ferry, baseline);
}

}  // namespace ferry::bench

#endif  // FERRY_BENCH_CUDA_BENCH_UTIL_H_
