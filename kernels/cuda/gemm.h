#ifndef FERRY_KERNELS_CUDA_GEMM_H_
#define FERRY_KERNELS_CUDA_GEMM_H_

// Row-major matrix products through cuBLASLt (loaded on first use, see cublas_loader.h),
// for matmul and convolution. float32 computes in float32 (TF32 tensor cores only when the
// context allows them), float16 and bfloat16 in float32 with 16-bit operands, float64 in
// float64. Plans (descriptors and the algorithm cuBLASLt's heuristic chose) are kept per
// problem and shared by every stream.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "kernels/cuda/kernels.h"

namespace ferry::kernels::cuda {

// C (m x n) = A (m x k) B, row-major, with A stored m x k or, transposed, k x m, and B
// stored k x n or, transposed, n x k; ld*: the elements between consecutive rows. `batch` products
// a call, operands `*_stride` elements apart (0: shared by the batch).
struct Gemm {
  int64_t m = 0, n = 0, k = 0;
  int64_t lda = 0, ldb = 0, ldc = 0;
  bool a_transposed = false;
  bool b_transposed = false;
  int32_t batch = 1;
  int64_t a_stride = 0, b_stride = 0, c_stride = 0;
};

// Where one call reads A and B and writes C.
struct GemmOperands {
  const void* a;
  const void* b;
  void* c;
};

// Queues `gemm` of `dtype` on ctx's stream once per entry of `calls`, all through one plan.
// UNIMPLEMENTED "[op] cuBLASLt has no algorithm ..." when its heuristic offers none for the
// problem, INTERNAL "[op] cuBLASLt ..." when it fails, INVALID_ARGUMENT past what it indexes.
absl::Status RunGemms(Context& ctx, const std::string& op, core::DType dtype, const Gemm& gemm,
                      absl::Span<const GemmOperands> calls);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_GEMM_H_
