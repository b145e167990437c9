// The fft op through the CUDA backend against cuFFT called directly on the same batch:
// complex64 transforms of a power-of-two length, a mixed-radix one and a prime one (Bluestein's
// algorithm), and a real transform. cuFFT is dlopened (libcufft.so.12, PyTorch's copy on the GPU machine); without
// it only ferry's figures print. Prints RESULT and RATIO lines; SKIP without a GPU.

#include <cuda_runtime_api.h>
#include <cufft.h>

#include <cmath>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"
#include "kernels/cuda/library_loader.h"

namespace ferry::bench {
namespace {

// The cuFFT entry points the baseline calls.
struct Cufft {
  cufftResult (*PlanMany)(cufftHandle*, int, int*, int*, int, int, int*, int, int, cufftType,
                          int) = nullptr;
  cufftResult (*ExecC2C)(cufftHandle, cufftComplex*, cufftComplex*, int) = nullptr;
  cufftResult (*ExecR2C)(cufftHandle, cufftReal*, cufftComplex*) = nullptr;
  cufftResult (*Destroy)(cufftHandle) = nullptr;
};

absl::StatusOr<Cufft> LoadCufft() {
  Cufft api;
  absl::StatusOr<std::string> path = kernels::cuda::OpenFirstLibrary(
      kernels::cuda::LibraryCandidates("libcufft.so.12"),
      [&api](void* handle, std::string& missing) {
        kernels::cuda::ResolveSymbol(handle, "cufftPlanMany", api.PlanMany, missing);
        kernels::cuda::ResolveSymbol(handle, "cufftExecC2C", api.ExecC2C, missing);
        kernels::cuda::ResolveSymbol(handle, "cufftExecR2C", api.ExecR2C, missing);
        kernels::cuda::ResolveSymbol(handle, "cufftDestroy", api.Destroy, missing);
      },
      "cannot load cuFFT (libcufft.so.12)");
  if (!path.ok()) return path.status();
  return api;
}

// A device tensor of `type` holding uniform values in [-1, 1).
kernels::Tensor RandomTensor(kernels::Backend& backend, const core::TensorType& type) {
  absl::StatusOr<kernels::Tensor> tensor = backend.Allocate(type);
  Check(tensor.status());
  std::vector<float> host(tensor->nbytes() / sizeof(float));
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-1, 1);
  for (float& v : host) v = value(rng);
  cudaMemcpy(tensor->raw(), host.data(), tensor->nbytes(), cudaMemcpyHostToDevice);
  return *tensor;
}

void Bench(kernels::Backend& backend, const Cufft* cufft, int64_t batch, int64_t n, bool real) {
  const core::TensorType in_type{real ? core::DType::kFloat32 : core::DType::kComplex64,
                                 {batch, n}};
  core::Attrs attrs;
  attrs.Set("axis", int64_t{1});
  attrs.Set("n", n);
  attrs.Set("inverse", int64_t{0});
  attrs.Set("real", int64_t{real});
  absl::StatusOr<core::TensorType> out_type = core::InferOp("fft", {in_type}, attrs);
  Check(out_type.status());
  const kernels::Tensor x = RandomTensor(backend, in_type);
  absl::StatusOr<kernels::Tensor> out = backend.Allocate(*out_type);
  Check(out.status());
  const core::Node node{"fft", {0}, attrs, *out_type};
  // 5 n log2 n flops per complex transform, half that for a real one: the usual measure.
  const double flops = (real ? 2.5 : 5.0) * batch * n * std::log2(static_cast<double>(n));
  const std::string name = absl::StrCat(real ? "rfft_" : "fft_complex64_", batch, "x", n);
  const double ferry = Tflops(
      name, flops, [&] { Check(backend.Run(node, {x}, *out)); },
      [&] { Check(backend.Synchronize()); });
  Result("mlx_" + name, flops / (ferry * 1e12) * 1e3, "ms");  // for mlx_compare.py
  if (cufft == nullptr) return;
  cufftHandle plan;
  int length = static_cast<int>(n);
  const int out_length = real ? length / 2 + 1 : length;
  if (cufft->PlanMany(&plan, 1, &length, nullptr, 1, length, nullptr, 1, out_length,
                      real ? CUFFT_R2C : CUFFT_C2C, static_cast<int>(batch)) != CUFFT_SUCCESS) {
    std::printf("NOTE cufftPlanMany failed for %s\n", name.c_str());
    return;
  }
  const double baseline = Tflops(
      name + "_cufft", flops,
      [&] {
        if (real) {
          cufft->ExecR2C(plan, static_cast<cufftReal*>(x.raw()),
                         static_cast<cufftComplex*>(out->raw()));
        } else {
          cufft->ExecC2C(plan, static_cast<cufftComplex*>(x.raw()),
                         static_cast<cufftComplex*>(out->raw()), CUFFT_FORWARD);
        }
      },
      [] { cudaDeviceSynchronize(); });
  cufft->Destroy(plan);
  Ratio(name + "_vs_cufft", ferry, baseline);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  ferry::bench::ParseFlags(argc, argv);
  std::unique_ptr<ferry::kernels::Backend> backend = ferry::bench::CudaBackendOrSkip(false);
  absl::StatusOr<ferry::bench::Cufft> loaded = ferry::bench::LoadCufft();
  if (!loaded.ok()) std::printf("NOTE no direct cuFFT: %s\n", loaded.status().ToString().c_str());
  const ferry::bench::Cufft* cufft = loaded.ok() ? &*loaded : nullptr;
  const bool quick = ferry::bench::Quick();
  const int64_t batch = quick ? 4 : 4096;
  ferry::bench::Bench(*backend, cufft, batch, quick ? 64 : 1024, false);
  ferry::bench::Bench(*backend, cufft, batch, quick ? 60 : 1000, false);
  ferry::bench::Bench(*backend, cufft, batch, quick ? 127 : 1009, false);
  ferry::bench::Bench(*backend, cufft, batch, quick ? 64 : 4096, true);
  return 0;
}
