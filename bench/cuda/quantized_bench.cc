// quantized_matmul through the CUDA backend: a 4-bit 4096 x 4096 layer (group size 64) with
// 1, 8 and 512 rows of x, against cuBLAS called directly on the same layer's 16-bit weights
// (what running it unquantized costs: for few rows both are bound by reading the weights,
// which quantization makes 4x smaller). mlx_compare.py sets MLX's quantized_matmul against
// the same runs (RESULT mlx_qmm_* lines, in ms). Prints RESULT and RATIO lines; SKIP without
// a GPU.

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"
#include "bench/cuda/cublas_baseline.h"

namespace ferry::bench {
namespace {

constexpr int64_t kBits = 4, kGroup = 64;

void Bench(kernels::Backend& backend, const CublasBaseline* cublas, core::DType dtype, int64_t m,
           int64_t n) {
  const core::TensorType x_type{dtype, {m, n}};
  const core::TensorType wq_type{core::DType::kUInt32, {n, n * kBits / 32}};
  const core::TensorType groups_type{dtype, {n, n / kGroup}};
  core::Attrs attrs;
  attrs.Set("bits", kBits);
  attrs.Set("group_size", kGroup);
  attrs.Set("transpose", int64_t{1});
  absl::StatusOr<core::TensorType> y_type =
      core::InferOp("quantized_matmul", {x_type, wq_type, groups_type, groups_type}, attrs);
  Check(y_type.status());
  std::vector<kernels::Tensor> inputs;
  for (const core::TensorType& type : {x_type, wq_type, groups_type, groups_type}) {
    absl::StatusOr<kernels::Tensor> t = backend.Allocate(type);
    Check(t.status());
    cudaMemset(t->raw(), 0, t->nbytes());
    inputs.push_back(*t);
  }
  absl::StatusOr<kernels::Tensor> y = backend.Allocate(*y_type);
  Check(y.status());
  core::Node node{"quantized_matmul", {0, 1, 2, 3}, attrs, *y_type};
  const double flops = 2.0 * m * n * n;
  const std::string name = absl::StrCat("qmm4_", core::DTypeName(dtype), "_m", m, "_n", n);
  const double seconds = SecondsPerCall([&] { Check(backend.Run(node, inputs, *y)); },
                                        [&] { Check(backend.Synchronize()); });
  const double ferry = flops / seconds / 1e12;
  Result(name, ferry, "TFLOP/s");
  Result(absl::StrCat("mlx_qmm_", core::DTypeName(dtype), "_m", m, "_n", n), seconds * 1e3, "ms");
  if (cublas == nullptr) return;
  absl::StatusOr<kernels::Tensor> w = backend.Allocate({dtype, {n, n}});
  Check(w.status());
  cudaMemset(w->raw(), 0, w->nbytes());
  const int rows = static_cast<int>(m), dim = static_cast<int>(n);
  const double direct = Tflops(
      name + "_cublas", flops,
      [&] {
        cublas->Gemm(dtype, false, rows, dim, dim, inputs[0].raw(), w->raw(), true, y->raw());
      },
      [] { cudaDeviceSynchronize(); });
  Ratio(name + "_vs_cublas_unquantized", ferry, direct);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  using ferry::core::DType;
  ferry::bench::ParseFlags(argc, argv);
  std::unique_ptr<ferry::kernels::Backend> backend = ferry::bench::CudaBackendOrSkip(false);
  const ferry::bench::CublasBaseline* baseline = ferry::bench::CublasBaseline::Load();
  const int64_t n = ferry::bench::Quick() ? 256 : 4096;
  for (DType dtype : {DType::kFloat16, DType::kBFloat16}) {
    for (int64_t m : {int64_t{1}, int64_t{8}, int64_t{512}}) {
      ferry::bench::Bench(*backend, baseline, dtype,
                          ferry::bench::Quick() ? std::min<int64_t>(m, 16) : m, n);
    }
  }
  return 0;
}
