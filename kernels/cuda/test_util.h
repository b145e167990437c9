#ifndef FERRY_KERNELS_CUDA_TEST_UTIL_H_
#define FERRY_KERNELS_CUDA_TEST_UTIL_H_

// For the CUDA tests: a backend on GPU 0, or the reason there is none (tests skip with it).
// Built with FERRY_CUDA_TESTS_ON_CPU, the CPU backend instead: a test then checks its own
// cases and tolerances against the reference, on machines without a GPU.

#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/graph.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace ferry::kernels::cuda::testing {

#ifdef FERRY_CUDA_TESTS_ON_CPU
inline constexpr bool kCpuStandsIn = true;
#else
inline constexpr bool kCpuStandsIn = false;
#endif

// A CUDA backend with `memory_limit_bytes` (0: the device's memory); FERRY_TEST_TF32=1
// allows TF32 matmul.
inline absl::StatusOr<std::unique_ptr<Backend>> MakeTestBackend(int64_t memory_limit_bytes) {
#ifdef FERRY_CUDA_TESTS_ON_CPU
  // The tests' own expectations, checked with the CPU standing in for the GPU.
  return MakeCpuBackend(memory_limit_bytes > 0 ? memory_limit_bytes : int64_t{4} << 30);
#endif
  CudaOptions options;
  options.memory_limit_bytes = memory_limit_bytes;
  const char* tf32 = std::getenv("FERRY_TEST_TF32");
  options.allow_tf32 = tf32 != nullptr && std::string(tf32) == "1";
  return MakeCudaBackend(options);
}

// Nodes of hand-written fused expressions (see FusedExpr): parameter `index`, and `op` over
// earlier nodes `inputs`, each with its result type.
inline core::Node ParameterNode(int64_t index, core::DType dtype, core::Shape shape) {
  core::Node node;
  node.op = "parameter";
  node.attrs.Set("index", index);
  node.out = {dtype, std::move(shape)};
  return node;
}

inline core::Node OpNode(const std::string& op, std::vector<int32_t> inputs, core::DType dtype,
                         core::Shape shape) {
  return core::Node{op, std::move(inputs), {}, {dtype, std::move(shape)}};
}

}  // namespace ferry::kernels::cuda::testing

#endif  // FERRY_KERNELS_CUDA_TEST_UTIL_H_
