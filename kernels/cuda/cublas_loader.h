#ifndef FERRY_KERNELS_CUDA_CUBLAS_LOADER_H_
#define FERRY_KERNELS_CUDA_CUBLAS_LOADER_H_

// cuBLASLt, and the few calls of cuBLAS proper ferry makes (the batched LU), loaded with
// dlopen on first use instead of linked: linking libcublasLt adds ~100 KiB of static TLS to
// every thread of the process, which breaks libraries that run small-stack threads
// (prometheus-cpp's civetweb server fails to start). A dlopened library's TLS is allocated
// lazily, per thread that uses it.

#include <cublasLt.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::kernels::cuda {

// The cuBLASLt entry points ferry calls.
struct CublasLt {
  std::string path;  // the library that was loaded
  decltype(&cublasLtCreate) Create;
  decltype(&cublasLtDestroy) Destroy;
  decltype(&cublasLtGetVersion) GetVersion;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy;
  decltype(&cublasLtMatrixLayoutSetAttribute) MatrixLayoutSetAttribute;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic;
  decltype(&cublasLtMatmul) Matmul;
};

// The places LoadCublasLt tries: LibraryCandidates("libcublasLt.so.13").
std::vector<std::string> CublasLtCandidates();

// cuBLASLt loaded from the first candidate that opens and has every entry point, or
// FAILED_PRECONDITION listing each candidate and why it failed. Loaded once per process;
// later calls return the same result.
absl::StatusOr<const CublasLt*> LoadCublasLt();

// As LoadCublasLt, from `candidates`, without caching (the library stays loaded).
absl::StatusOr<CublasLt> LoadCublasLtFrom(const std::vector<std::string>& candidates);

// cuBLAS's batched LU (getrfBatched, getrsBatched) for many small matrices at once, which
// cuSOLVER lacks; libcublas.so.13 is what cuSOLVER needs beside it anyway.
struct Cublas {
  std::string path;  // the library that was loaded
  decltype(&cublasCreate_v2) Create;
  decltype(&cublasDestroy_v2) Destroy;
  decltype(&cublasSetStream_v2) SetStream;
  decltype(&cublasSgetrfBatched) SgetrfBatched;
  decltype(&cublasDgetrfBatched) DgetrfBatched;
  decltype(&cublasSgetrsBatched) SgetrsBatched;
  decltype(&cublasDgetrsBatched) DgetrsBatched;
};

// The places LoadCublas tries: LibraryCandidates("libcublas.so.13").
std::vector<std::string> CublasCandidates();

// As LoadCublasLt, for cuBLAS: loaded once per process, FAILED_PRECONDITION "cannot load
// cuBLAS ..." (the caller names its op) where no candidate has every entry point.
absl::StatusOr<const Cublas*> LoadCublas();
absl::StatusOr<Cublas> LoadCublasFrom(const std::vector<std::string>& candidates);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_CUBLAS_LOADER_H_
