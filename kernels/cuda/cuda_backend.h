#ifndef FERRY_KERNELS_CUDA_CUDA_BACKEND_H_
#define FERRY_KERNELS_CUDA_CUDA_BACKEND_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "kernels/backend.h"

namespace ferry::kernels {

struct CudaOptions {
  int device = 0;
  // The budget of live tensors; also the stream-ordered pool's release threshold (freed
  // memory up to it stays cached in the pool).
  int64_t memory_limit_bytes = 0;
  // Lets float32 matmul use TF32 tensor cores (10-bit mantissa products).
  bool allow_tf32 = false;
};

// The CUDA backend on `options.device`: memory from a stream-ordered pool, one CUDA stream
// per Queue (the default queue for threads that bind none), host copies through pinned,
// double-buffered staging, a kernel per op (kernels/cuda/*.cu; matmul through cuBLASLt).
// Allocations past the budget or the device are RESOURCE_EXHAUSTED naming the sizes. A
// kernel fault fails the call that meets it with INTERNAL; the device is then reset, so
// later calls work, and tensors that lived on it report INTERNAL when used.
// UNAVAILABLE when the build has no CUDA or the device cannot be used.
absl::StatusOr<std::unique_ptr<Backend>> MakeCudaBackend(const CudaOptions& options);

// Tests only: queues a kernel that writes through a wild pointer on the current queue.
absl::Status InjectCudaFaultForTest(Backend& backend);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_CUDA_CUDA_BACKEND_H_
