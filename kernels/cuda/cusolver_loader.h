#ifndef FERRY_KERNELS_CUDA_CUSOLVER_LOADER_H_
#define FERRY_KERNELS_CUDA_CUSOLVER_LOADER_H_

// cuSOLVER's dense API, loaded with dlopen on first use as cuBLASLt is (cublas_loader.h):
// libcusolver.so.12 is large, needs cuBLAS, cuSPARSE and nvJitLink beside it, and only the
// linear algebra ops use it.

#include <cusolverDn.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::kernels::cuda {

// The cuSOLVER entry points ferry calls: the legacy 32-bit dense API, float (S) and double
// (D), which every libcusolver.so.12 exports.
struct Cusolver {
  std::string path;  // the library that was loaded
  decltype(&cusolverDnCreate) Create;
  decltype(&cusolverDnDestroy) Destroy;
  decltype(&cusolverDnSetStream) SetStream;
  decltype(&cusolverDnSpotrf_bufferSize) SpotrfBufferSize;
  decltype(&cusolverDnDpotrf_bufferSize) DpotrfBufferSize;
  decltype(&cusolverDnSpotrf) Spotrf;
  decltype(&cusolverDnDpotrf) Dpotrf;
  decltype(&cusolverDnSgetrf_bufferSize) SgetrfBufferSize;
  decltype(&cusolverDnDgetrf_bufferSize) DgetrfBufferSize;
  decltype(&cusolverDnSgetrf) Sgetrf;
  decltype(&cusolverDnDgetrf) Dgetrf;
  decltype(&cusolverDnSgetrs) Sgetrs;
  decltype(&cusolverDnDgetrs) Dgetrs;
  decltype(&cusolverDnSgeqrf_bufferSize) SgeqrfBufferSize;
  decltype(&cusolverDnDgeqrf_bufferSize) DgeqrfBufferSize;
  decltype(&cusolverDnSgeqrf) Sgeqrf;
  decltype(&cusolverDnDgeqrf) Dgeqrf;
  decltype(&cusolverDnSorgqr_bufferSize) SorgqrBufferSize;
  decltype(&cusolverDnDorgqr_bufferSize) DorgqrBufferSize;
  decltype(&cusolverDnSorgqr) Sorgqr;
  decltype(&cusolverDnDorgqr) Dorgqr;
  decltype(&cusolverDnSgesvd_bufferSize) SgesvdBufferSize;
  decltype(&cusolverDnDgesvd_bufferSize) DgesvdBufferSize;
  decltype(&cusolverDnSgesvd) Sgesvd;
  decltype(&cusolverDnDgesvd) Dgesvd;
  decltype(&cusolverDnSsyevd_bufferSize) SsyevdBufferSize;
  decltype(&cusolverDnDsyevd_bufferSize) DsyevdBufferSize;
  decltype(&cusolverDnSsyevd) Ssyevd;
  decltype(&cusolverDnDsyevd) Dsyevd;
  // The batched calls for many small matrices at once.
  decltype(&cusolverDnSpotrfBatched) SpotrfBatched;
  decltype(&cusolverDnDpotrfBatched) DpotrfBatched;
  decltype(&cusolverDnCreateSyevjInfo) CreateSyevjInfo;
  decltype(&cusolverDnDestroySyevjInfo) DestroySyevjInfo;
  decltype(&cusolverDnXsyevjSetSortEig) XsyevjSetSortEig;
  decltype(&cusolverDnSsyevjBatched_bufferSize) SsyevjBatchedBufferSize;
  decltype(&cusolverDnDsyevjBatched_bufferSize) DsyevjBatchedBufferSize;
  decltype(&cusolverDnSsyevjBatched) SsyevjBatched;
  decltype(&cusolverDnDsyevjBatched) DsyevjBatched;
  decltype(&cusolverDnCreateGesvdjInfo) CreateGesvdjInfo;
  decltype(&cusolverDnDestroyGesvdjInfo) DestroyGesvdjInfo;
  decltype(&cusolverDnXgesvdjSetSortEig) XgesvdjSetSortEig;
  decltype(&cusolverDnSgesvdjBatched_bufferSize) SgesvdjBatchedBufferSize;
  decltype(&cusolverDnDgesvdjBatched_bufferSize) DgesvdjBatchedBufferSize;
  decltype(&cusolverDnSgesvdjBatched) SgesvdjBatched;
  decltype(&cusolverDnDgesvdjBatched) DgesvdjBatched;
};

// The places LoadCusolver tries: LibraryCandidates("libcusolver.so.12").
std::vector<std::string> CusolverCandidates();

// cuSOLVER loaded from the first candidate that opens and has every entry point, or
// FAILED_PRECONDITION "cannot load cuSOLVER ..." (the caller names its op) listing each
// candidate and why it failed. Loaded once per process;
// later calls return the same result.
absl::StatusOr<const Cusolver*> LoadCusolver();

// As LoadCusolver, from `candidates`, without caching (the library stays loaded).
absl::StatusOr<Cusolver> LoadCusolverFrom(const std::vector<std::string>& candidates);

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_CUSOLVER_LOADER_H_
