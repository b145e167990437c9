#ifndef FERRY_KERNELS_CPU_BLAS_OPERANDS_H_
#define FERRY_KERNELS_CPU_BLAS_OPERANDS_H_

// The CPU's BLAS products (matmul, convolution, quantized_matmul): one gemm call, and the
// dtype rule: float64 through dgemm, every other floating dtype through sgemm in float32,
// operands widened first and the result rounded back once.

#include <cblas.h>

#include <memory>

#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {

// C (m x n, ldc) = A (m x k, lda) B + beta C, row-major, A stored m x k or, when
// a_transposed, k x m; B stored k x n (ldb) or, when b_transposed, n x k.
inline void Gemm(const float* a, int lda, bool a_transposed, const float* b, int ldb,
                 bool b_transposed, float* c, int ldc, int m, int n, int k, float beta = 0.0f) {
  cblas_sgemm(CblasRowMajor, a_transposed ? CblasTrans : CblasNoTrans,
              b_transposed ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c,
              ldc);
}
inline void Gemm(const double* a, int lda, bool a_transposed, const double* b, int ldb,
                 bool b_transposed, double* c, int ldc, int m, int n, int k, double beta = 0.0) {
  cblas_dgemm(CblasRowMajor, a_transposed ? CblasTrans : CblasNoTrans,
              b_transposed ? CblasTrans : CblasNoTrans, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

// Calls product(a, b, c) with a and b as dense float (double for a float64 `out`) arrays,
// converted copies where their dtype differs, and c where the result goes: `out` itself, or
// a scratch array rounded into it afterwards. The copies are counted against the running
// backend's budget: RESOURCE_EXHAUSTED naming `op` where they do not fit, and no product.
template <typename Product>
absl::Status WithBlasOperands(absl::string_view op, const Tensor& a, const Tensor& b,
                              const Tensor& out, Product&& product) {
  const core::DType compute =
      out.dtype() == core::DType::kFloat64 ? core::DType::kFloat64 : core::DType::kFloat32;
  HostScratch a_scratch, b_scratch, c_scratch;
  absl::StatusOr<const void*> a_data = ElementsAs(op, a, compute, a_scratch);
  if (!a_data.ok()) return a_data.status();
  absl::StatusOr<const void*> b_data = ElementsAs(op, b, compute, b_scratch);
  if (!b_data.ok()) return b_data.status();
  void* c_data = out.raw();
  if (out.dtype() != compute) {
    absl::StatusOr<void*> c =
        c_scratch.Take(op, out.size() * static_cast<int64_t>(core::SizeOf(compute)));
    if (!c.ok()) return c.status();
    c_data = *c;
  }
  if (compute == core::DType::kFloat64) {
    product(static_cast<const double*>(*a_data), static_cast<const double*>(*b_data),
            static_cast<double*>(c_data));
  } else {
    product(static_cast<const float*>(*a_data), static_cast<const float*>(*b_data),
            static_cast<float*>(c_data));
  }
  if (c_data != out.raw()) CastElements(c_data, compute, out.raw(), out.dtype(), out.size());
  return absl::OkStatus();
}

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_BLAS_OPERANDS_H_
