// matmul TFLOP/s through the CUDA backend (cuBLASLt) against cuBLAS called directly
// (cublasGemmEx on the same device buffers). Prints RESULT and RATIO lines; SKIP without a
// GPU.

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"
#include "bench/cuda/cublas_baseline.h"

namespace ferry::bench {
namespace {

void Bench(kernels::Backend& backend, const CublasBaseline* cublas, core::DType dtype, bool tf32,
           int64_t n) {
  const core::TensorType type{dtype, {n, n}};
  absl::StatusOr<kernels::Tensor> a = backend.Allocate(type);
  absl::StatusOr<kernels::Tensor> b = backend.Allocate(type);
  absl::StatusOr<kernels::Tensor> c = backend.Allocate(type);
  Check(a.status());
  Check(b.status());
  Check(c.status());
  cudaMemset(a->raw(), 0, a->nbytes());
  cudaMemset(b->raw(), 0, b->nbytes());
  core::Node node{"matmul", {0, 1}, {}, type};
  std::vector<kernels::Tensor> inputs = {*a, *b};
  const double flops = 2.0 * n * n * n;
  const std::string name =
      absl::StrCat("matmul_", core::DTypeName(dtype), tf32 ? "_tf32" : "", "_", n);
  const double ferry = Tflops(
      name, flops, [&] { Check(backend.Run(node, inputs, *c)); },
      [&] { Check(backend.Synchronize()); });
  if (cublas == nullptr) return;
  const int dim = static_cast<int>(n);
  const double direct = Tflops(
      name + "_cublas", flops,
      [&] { cublas->Gemm(dtype, tf32, dim, dim, dim, a->raw(), b->raw(), false, c->raw()); },
      [] { cudaDeviceSynchronize(); });
  Ratio(name + "_vs_cublas", ferry, direct);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  using ferry::core::DType;
  ferry::bench::ParseFlags(argc, argv);
  std::unique_ptr<ferry::kernels::Backend> strict = ferry::bench::CudaBackendOrSkip(false);
  std::unique_ptr<ferry::kernels::Backend> tf32 = ferry::bench::CudaBackendOrSkip(true);
  const ferry::bench::CublasBaseline* baseline = ferry::bench::CublasBaseline::Load();
  const std::vector<int64_t> sizes =
      ferry::bench::Quick() ? std::vector<int64_t>{64} : std::vector<int64_t>{1024, 4096, 8192};
  for (int64_t n : sizes) {
    ferry::bench::Bench(*strict, baseline, DType::kFloat32, false, n);
    ferry::bench::Bench(*tf32, baseline, DType::kFloat32, true, n);
    ferry::bench::Bench(*strict, baseline, DType::kFloat16, false, n);
    ferry::bench::Bench(*strict, baseline, DType::kBFloat16, false, n);
  }
  return 0;
}
