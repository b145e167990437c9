// matmul TFLOP/s through the CUDA backend (cuBLASLt) against cuBLAS called directly
// (cublasGemmEx on the same device buffers). Prints RESULT and RATIO lines; SKIP without a
// GPU. cuBLAS is dlopened as the backend does: FERRY_CUDA_LIB_DIR names its directory.

#include <cublas_api.h>
#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"

namespace ferry::bench {
namespace {

struct Cublas {
  decltype(&cublasCreate_v2) create = nullptr;
  // cublasGemmEx with a cublasComputeType_t (the header also overloads it for C++).
  cublasStatus_t (*gemm)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                         const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                         int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                         cublasGemmAlgo_t) = nullptr;
  cublasHandle_t handle = nullptr;
};

bool LoadCublas(Cublas& cublas) {
  const char* dir = std::getenv("FERRY_CUDA_LIB_DIR");
  const std::string path =
      dir != nullptr ? absl::StrCat(dir, "/libcublas.so.13") : std::string("libcublas.so.13");
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::printf("NOTE no cuBLAS baseline: %s\n", dlerror());
    return false;
  }
  cublas.create = reinterpret_cast<decltype(cublas.create)>(dlsym(lib, "cublasCreate_v2"));
  cublas.gemm = reinterpret_cast<decltype(cublas.gemm)>(dlsym(lib, "cublasGemmEx"));
  return cublas.create != nullptr && cublas.gemm != nullptr &&
         cublas.create(&cublas.handle) == CUBLAS_STATUS_SUCCESS;
}

void Bench(kernels::Backend& backend, Cublas* cublas, core::DType dtype, bool tf32, int64_t n) {
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
  const double ferry = flops /
                       SecondsPerCall([&] { Check(backend.Run(node, inputs, *c)); },
                                      [&] { Check(backend.Synchronize()); }) /
                       1e12;
  Result(name, ferry, "TFLOP/s");
  if (cublas == nullptr) return;
  const cudaDataType_t data = dtype == core::DType::kFloat16    ? CUDA_R_16F
                              : dtype == core::DType::kBFloat16 ? CUDA_R_16BF
                                                                : CUDA_R_32F;
  const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  const float one = 1, zero = 0;
  const int dim = static_cast<int>(n);
  const double direct = flops /
                        SecondsPerCall(
                            [&] {
                              cublas->gemm(cublas->handle, CUBLAS_OP_N, CUBLAS_OP_N, dim, dim, dim,
                                           &one, b->raw(), data, dim, a->raw(), data, dim, &zero,
                                           c->raw(), data, dim, compute, CUBLAS_GEMM_DEFAULT);
                            },
                            [] { cudaDeviceSynchronize(); }) /
                        1e12;
  Result(name + "_cublas", direct, "TFLOP/s");
  Ratio(name + "_vs_cublas", ferry, direct);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  using ferry::core::DType;
  ferry::bench::ParseFlags(argc, argv);
  std::unique_ptr<ferry::kernels::Backend> strict = ferry::bench::CudaBackendOrSkip(false);
  std::unique_ptr<ferry::kernels::Backend> tf32 = ferry::bench::CudaBackendOrSkip(true);
  ferry::bench::Cublas cublas;
  ferry::bench::Cublas* baseline = ferry::bench::LoadCublas(cublas) ? &cublas : nullptr;
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
