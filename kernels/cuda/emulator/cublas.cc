// A CPU stand-in for the cuBLAS calls ferry makes (kernels/cuda/cublas_loader.h: the batched
// LU) and linalg_bench's geqrfBatched, used only by the CUDA emulation tests and never shipped.
// Built as libcublas.so.13, it is what the loader dlopens when the tests run the CUDA backend on
// the CPU emulation of CUDA, where device memory is host memory. Each matrix of a batch goes to
// OpenBLAS's LAPACK routine (getrf, getrs, geqrf) on the calling thread, as cusolver.cc does; it is
// strict where cuBLAS fails (a bad handle, dimension or leading dimension, a null matrix).

#include <cublas_api.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "kernels/cpu/lapack.h"

// The handle type is a pointer to a struct cuBLAS leaves undefined; this is ours.
struct cublasContext {
  uint64_t magic;
  cudaStream_t stream;
};

namespace {

namespace lapack = ferry::kernels::cpu::lapack;

constexpr uint64_t kMagic = 0x6665727279'426c61;  // "ferryBla": set in every live handle

bool Live(cublasHandle_t handle) { return handle != nullptr && handle->magic == kMagic; }

// getrfBatched: getrf with partial pivoting on each n x n matrix of the array, its pivots
// (1-based, n a matrix) and info into their slots.
template <typename F>
cublasStatus_t GetrfBatched(cublasHandle_t handle, int n, F* const a[], int lda, int* pivots,
                            int* infos, int batch) {
  if (!Live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  // cuBLAS skips pivoting for a null pivot array; linalg.cc always pivots, as LAPACK does.
  if (n < 0 || lda < std::max(1, n) || batch < 0 || a == nullptr || infos == nullptr ||
      pivots == nullptr) {
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  for (int b = 0; b < batch; ++b) {
    if (a[b] == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  }
  for (int b = 0; b < batch; ++b) {
    infos[b] = lapack::getrf(n, n, a[b], lda, pivots + int64_t{b} * n);
  }
  return CUBLAS_STATUS_SUCCESS;
}

// getrsBatched: getrs on each matrix with getrfBatched's factors and pivots; `info` is a
// host int that reports a bad argument only.
template <typename F>
cublasStatus_t GetrsBatched(cublasHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                            const F* const a[], int lda, const int* pivots, F* const b[], int ldb,
                            int* info, int batch) {
  if (!Live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (info == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *info = 0;
  const int bad = trans != CUBLAS_OP_N && trans != CUBLAS_OP_T ? -2
                  : n < 0                                      ? -3
                  : nrhs < 0                                   ? -4
                  : lda < std::max(1, n)                       ? -6
                  : ldb < std::max(1, n)                       ? -9
                  : batch < 0                                  ? -11
                                                               : 0;
  if (bad != 0 || a == nullptr || b == nullptr || pivots == nullptr) {
    *info = bad != 0 ? bad : -1;
    return CUBLAS_STATUS_INVALID_VALUE;
  }
  for (int i = 0; i < batch; ++i) {
    if (a[i] == nullptr || b[i] == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  }
  for (int i = 0; i < batch; ++i) {
    lapack::getrs(trans == CUBLAS_OP_N ? 'N' : 'T', n, nrhs, a[i], lda, pivots + int64_t{i} * n,
                  b[i], ldb);
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  if (handle == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *handle = new (std::nothrow) cublasContext{kMagic, nullptr};
  return *handle == nullptr ? CUBLAS_STATUS_ALLOC_FAILED : CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  if (!Live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->magic = 0;
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (!Live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgetrfBatched(cublasHandle_t handle, int n, float* const a[], int lda,
                                   int* pivots, int* infos, int batch) {
  return GetrfBatched(handle, n, a, lda, pivots, infos, batch);
}
cublasStatus_t cublasDgetrfBatched(cublasHandle_t handle, int n, double* const a[], int lda,
                                   int* pivots, int* infos, int batch) {
  return GetrfBatched(handle, n, a, lda, pivots, infos, batch);
}

cublasStatus_t cublasSgetrsBatched(cublasHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                                   const float* const a[], int lda, const int* pivots,
                                   float* const b[], int ldb, int* info, int batch) {
  return GetrsBatched(handle, trans, n, nrhs, a, lda, pivots, b, ldb, info, batch);
}
cublasStatus_t cublasDgetrsBatched(cublasHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                                   const double* const a[], int lda, const int* pivots,
                                   double* const b[], int ldb, int* info, int batch) {
  return GetrsBatched(handle, trans, n, nrhs, a, lda, pivots, b, ldb, info, batch);
}

// geqrfBatched (bench/cuda/linalg_bench.cc's baseline for qr of a batch): geqrf on each
// m x n matrix, its reflectors' scales into taus[b]; `info` is a host int that reports a bad
// argument only.
cublasStatus_t cublasSgeqrfBatched(cublasHandle_t handle, int m, int n, float* const a[], int lda,
                                   float* const taus[], int* info, int batch) {
  if (!Live(handle)) return CUBLAS_STATUS_NOT_INITIALIZED;
  if (info == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  *info = m < 0 ? -1 : n < 0 ? -2 : lda < std::max(1, m) ? -4 : batch < 0 ? -7 : 0;
  if (*info != 0 || a == nullptr || taus == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  for (int b = 0; b < batch; ++b) {
    if (a[b] == nullptr || taus[b] == nullptr) return CUBLAS_STATUS_INVALID_VALUE;
  }
  float query = 0, unused = 0;
  lapack::geqrf(m, n, &unused, lda, &unused, &query, -1);
  std::vector<float> work(static_cast<size_t>(std::max(1, static_cast<int>(query))));
  for (int b = 0; b < batch; ++b) {
    lapack::geqrf(m, n, a[b], lda, taus[b], work.data(), static_cast<int>(work.size()));
  }
  return CUBLAS_STATUS_SUCCESS;
}

}  // extern "C"
