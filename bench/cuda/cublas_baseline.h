#ifndef FERRY_BENCH_CUDA_CUBLAS_BASELINE_H_
#define FERRY_BENCH_CUDA_CUBLAS_BASELINE_H_

// cuBLAS called directly, the baseline of the product benchmarks (matmul_bench,
// conv_bench). dlopened as the backend opens cuBLASLt: FERRY_CUDA_LIB_DIR names its
// directory.

#include <cublas_api.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/dtype.h"

namespace ferry::bench {

class CublasBaseline {
 public:
  // cuBLAS, or nullptr after a NOTE line saying why there is no baseline.
  static CublasBaseline* Load() {
    static CublasBaseline* loaded = [] {
      const char* dir = std::getenv("FERRY_CUDA_LIB_DIR");
      const std::string path =
          dir != nullptr ? absl::StrCat(dir, "/libcublas.so.13") : std::string("libcublas.so.13");
      void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (lib == nullptr) {
        std::printf("NOTE no cuBLAS baseline: %s\n", dlerror());
        return static_cast<CublasBaseline*>(nullptr);
      }
      auto* cublas = new CublasBaseline;
      cublas->create_ = reinterpret_cast<decltype(create_)>(dlsym(lib, "cublasCreate_v2"));
      cublas->gemm_ = reinterpret_cast<decltype(gemm_)>(dlsym(lib, "cublasGemmEx"));
      if (cublas->create_ == nullptr || cublas->gemm_ == nullptr ||
          cublas->create_(&cublas->handle_) != CUBLAS_STATUS_SUCCESS) {
        std::printf("NOTE no cuBLAS baseline: %s lacks cublasGemmEx or has no handle\n",
                    path.c_str());
        return static_cast<CublasBaseline*>(nullptr);
      }
      return cublas;
    }();
    return loaded;
  }

  // Queues the row-major C (m x n) = A (m x k) B, B stored k x n or, transposed, n x k,
  // all dense, as the backend computes `dtype` (float32 accumulation, TF32 when asked).
  void Gemm(core::DType dtype, bool tf32, int m, int n, int k, const void* a, const void* b,
            bool b_transposed, void* c) const {
    const cudaDataType_t data = dtype == core::DType::kFloat16    ? CUDA_R_16F
                                : dtype == core::DType::kBFloat16 ? CUDA_R_16BF
                                                                  : CUDA_R_32F;
    const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const float one = 1, zero = 0;
    // Column-major: C^T = B^T A^T.
    gemm_(handle_, b_transposed ? CUBLAS_OP_T : CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, b, data,
          b_transposed ? k : n, a, data, k, &zero, c, data, n, compute, CUBLAS_GEMM_DEFAULT);
  }

 private:
  decltype(&cublasCreate_v2) create_ = nullptr;
  // cublasGemmEx with a cublasComputeType_t (the header also overloads it for C++).
  cublasStatus_t (*gemm_)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                          const void*, const void*, cudaDataType, int, const void*, cudaDataType,
                          int, const void*, void*, cudaDataType, int, cublasComputeType_t,
                          cublasGemmAlgo_t) = nullptr;
  cublasHandle_t handle_ = nullptr;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_CUDA_CUBLAS_BASELINE_H_
