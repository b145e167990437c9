// 2-D convolution TFLOP/s through the CUDA backend (channels last, lowered to cuBLASLt
// products) on ResNet-50's layer shapes, against cuBLAS called directly on the lowered
// product alone (m = batch x output pixels, n = output channels, k = taps x input
// channels): the ratio is what the lowering costs. torch_compare.py sets the same layers
// against PyTorch (cuDNN). Prints RESULT and RATIO lines; SKIP without a GPU.

#include <cuda_runtime_api.h>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"
#include "bench/cuda/cublas_baseline.h"

namespace ferry::bench {
namespace {

// A square-image layer: batch x size x size x c_in, c_out filters of taps x taps, padding
// keeping the size at stride 1.
struct Layer {
  int64_t batch, size, c_in, c_out, taps, stride;
};

void Bench(kernels::Backend& backend, const CublasBaseline* cublas, core::DType dtype, bool tf32,
           const Layer& l) {
  const int64_t pad = l.taps / 2;
  const int64_t out_size = (l.size + 2 * pad - l.taps) / l.stride + 1;
  const core::TensorType x_type{dtype, {l.batch, l.size, l.size, l.c_in}};
  const core::TensorType w_type{dtype, {l.c_out, l.taps, l.taps, l.c_in}};
  core::Attrs attrs;
  attrs.Set("stride", std::vector<int64_t>{l.stride, l.stride});
  attrs.Set("padding_lo", std::vector<int64_t>{pad, pad});
  attrs.Set("padding_hi", std::vector<int64_t>{pad, pad});
  attrs.Set("kernel_dilation", std::vector<int64_t>{1, 1});
  attrs.Set("groups", int64_t{1});
  absl::StatusOr<core::TensorType> y_type = core::InferOp("convolution", {x_type, w_type}, attrs);
  Check(y_type.status());
  absl::StatusOr<kernels::Tensor> x = backend.Allocate(x_type);
  absl::StatusOr<kernels::Tensor> w = backend.Allocate(w_type);
  absl::StatusOr<kernels::Tensor> y = backend.Allocate(*y_type);
  Check(x.status());
  Check(w.status());
  Check(y.status());
  cudaMemset(x->raw(), 0, x->nbytes());
  cudaMemset(w->raw(), 0, w->nbytes());
  core::Node node{"convolution", {0, 1}, attrs, *y_type};
  std::vector<kernels::Tensor> inputs = {*x, *w};
  const int64_t m = l.batch * out_size * out_size, n = l.c_out, k = l.taps * l.taps * l.c_in;
  const double flops = 2.0 * m * n * k;
  const std::string name =
      absl::StrCat("conv_", core::DTypeName(dtype), tf32 ? "_tf32" : "", "_n", l.batch, "_h",
                   l.size, "_c", l.c_in, "_k", l.c_out, "_r", l.taps, "_s", l.stride);
  const double ferry = Tflops(
      name, flops, [&] { Check(backend.Run(node, inputs, *y)); },
      [&] { Check(backend.Synchronize()); });
  if (cublas == nullptr) return;
  // The lowered matrix, as the backend would build it (its contents do not matter here).
  absl::StatusOr<kernels::Tensor> lowered = backend.Allocate({dtype, {m, k}});
  Check(lowered.status());
  cudaMemset(lowered->raw(), 0, lowered->nbytes());
  const double direct = Tflops(
      name + "_cublas", flops,
      [&] {
        cublas->Gemm(dtype, tf32, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k),
                     lowered->raw(), w->raw(), true, y->raw());
      },
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
  using Layer = ferry::bench::Layer;
  // ResNet-50 at batch 32: a 3x3 layer of each stage, a 1x1 projection, the 7x7 stem.
  const std::vector<Layer> layers =
      ferry::bench::Quick() ? std::vector<Layer>{{1, 8, 8, 8, 3, 1}, {1, 8, 8, 8, 1, 1}}
                            : std::vector<Layer>{{32, 56, 64, 64, 3, 1},   {32, 28, 128, 128, 3, 1},
                                                 {32, 14, 256, 256, 3, 1}, {32, 7, 512, 512, 3, 1},
                                                 {32, 56, 256, 64, 1, 1},  {32, 224, 3, 64, 7, 2}};
  for (const Layer& layer : layers) {
    ferry::bench::Bench(*strict, baseline, DType::kFloat32, false, layer);
    ferry::bench::Bench(*tf32, baseline, DType::kFloat32, true, layer);
    ferry::bench::Bench(*strict, baseline, DType::kFloat16, false, layer);
    ferry::bench::Bench(*strict, baseline, DType::kBFloat16, false, layer);
  }
  return 0;
}
