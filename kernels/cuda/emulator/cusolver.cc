// A CPU stand-in for cuSOLVER's dense API, used only by the CUDA emulation tests and never
// shipped. Built as libcusolver.so.12, it is what kernels/cuda/cusolver_loader.cc dlopens
// when the tests run the CUDA backend on the CPU emulation of CUDA, where device memory is
// host memory. Each function is OpenBLAS's LAPACK routine of the same name, run on the
// calling thread (the emulator's launches are synchronous too, so stream order holds), with
// LAPACK's info written to devInfo: the codes cuSOLVER documents are LAPACK's. It is strict
// where cuSOLVER fails (a bad handle, dimension, leading dimension or workspace size, gesvd
// with m < n), so that a mistake in linalg.cc shows here rather than on a GPU.

#include <cusolverDn.h>

#include <algorithm>
#include <cstdint>
#include <new>
#include <vector>

#include "kernels/cpu/lapack.h"

// The handle type is a pointer to a struct cuSOLVER leaves undefined; this is ours.
struct cusolverDnContext {
  uint64_t magic;
  cudaStream_t stream;
};

// So are the Jacobi calls' parameter objects'.
struct syevjInfo {
  uint64_t magic;
  int sort;
};
struct gesvdjInfo {
  uint64_t magic;
  int sort;
};

extern "C" {
// gesvd, which kernels/cpu/lapack.h lacks (the CPU backend uses gesdd).
void sgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, float* a,
             const int* lda, float* s, float* u, const int* ldu, float* vt, const int* ldvt,
             float* work, const int* lwork, int* info, size_t, size_t);
void dgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, double* a,
             const int* lda, double* s, double* u, const int* ldu, double* vt, const int* ldvt,
             double* work, const int* lwork, int* info, size_t, size_t);
}

namespace {

namespace lapack = ferry::kernels::cpu::lapack;

constexpr uint64_t kMagic = 0x6665727279'536f6c;  // "ferrySol": set in every live handle

bool Live(cusolverDnHandle_t handle) { return handle != nullptr && handle->magic == kMagic; }

int Gesvd(char jobu, char jobvt, int m, int n, float* a, int lda, float* s, float* u, int ldu,
          float* vt, int ldvt, float* work, int lwork) {
  int info = 0;
  sgesvd_(&jobu, &jobvt, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, &info, 1, 1);
  return info;
}
int Gesvd(char jobu, char jobvt, int m, int n, double* a, int lda, double* s, double* u, int ldu,
          double* vt, int ldvt, double* work, int lwork) {
  int info = 0;
  dgesvd_(&jobu, &jobvt, &m, &n, a, &lda, s, u, &ldu, vt, &ldvt, work, &lwork, &info, 1, 1);
  return info;
}

// LAPACK's workspace query answer as a count (at least 1).
template <typename F>
int Answer(F query) {
  return std::max(1, static_cast<int>(query));
}

char Uplo(cublasFillMode_t uplo) { return uplo == CUBLAS_FILL_MODE_LOWER ? 'L' : 'U'; }

bool ValidUplo(cublasFillMode_t uplo) {
  return uplo == CUBLAS_FILL_MODE_LOWER || uplo == CUBLAS_FILL_MODE_UPPER;
}

// The checks every call shares: a live handle, n >= 0, lda >= max(1, rows).
cusolverStatus_t CheckCall(cusolverDnHandle_t handle, int rows, int n, int lda) {
  if (!Live(handle)) return CUSOLVER_STATUS_NOT_INITIALIZED;
  if (rows < 0 || n < 0 || lda < std::max(1, rows)) return CUSOLVER_STATUS_INVALID_VALUE;
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t PotrfBufferSize(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, int lda,
                                 int* lwork) {
  if (cusolverStatus_t s = CheckCall(handle, n, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (!ValidUplo(uplo) || lwork == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  *lwork = 1;  // LAPACK's potrf needs none
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t Potrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, F* a, int lda,
                       F* work, int lwork, int* info) {
  if (cusolverStatus_t s = CheckCall(handle, n, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (!ValidUplo(uplo) || info == nullptr || work == nullptr || lwork < 1) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  *info = lapack::potrf(Uplo(uplo), n, a, lda);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t GetrfBufferSize(cusolverDnHandle_t handle, int m, int n, int lda, int* lwork) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (lwork == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  *lwork = 1;
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t Getrf(cusolverDnHandle_t handle, int m, int n, F* a, int lda, F* work, int* ipiv,
                       int* info) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (work == nullptr || info == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  // cuSOLVER may skip pivoting with a null ipiv; linalg.cc always pivots, as LAPACK does.
  if (ipiv == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  *info = lapack::getrf(m, n, a, lda, ipiv);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t Getrs(cusolverDnHandle_t handle, cublasOperation_t trans, int n, int nrhs,
                       const F* a, int lda, const int* ipiv, F* b, int ldb, int* info) {
  if (cusolverStatus_t s = CheckCall(handle, n, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if ((trans != CUBLAS_OP_N && trans != CUBLAS_OP_T) || nrhs < 0 || ldb < std::max(1, n) ||
      ipiv == nullptr || info == nullptr) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  *info = lapack::getrs(trans == CUBLAS_OP_N ? 'N' : 'T', n, nrhs, a, lda, ipiv, b, ldb);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t GeqrfBufferSize(cusolverDnHandle_t handle, int m, int n, F* a, int lda,
                                 int* lwork) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (lwork == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  F query = 0, tau = 0;
  lapack::geqrf(m, n, a, lda, &tau, &query, -1);
  *lwork = Answer(query);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t Geqrf(cusolverDnHandle_t handle, int m, int n, F* a, int lda, F* tau, F* work,
                       int lwork, int* info) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  int needed = 0;
  GeqrfBufferSize(handle, m, n, a, lda, &needed);
  if (tau == nullptr || work == nullptr || info == nullptr || lwork < needed) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  *info = lapack::geqrf(m, n, a, lda, tau, work, lwork);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t OrgqrBufferSize(cusolverDnHandle_t handle, int m, int n, int k, const F* a,
                                 int lda, int* lwork) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (n > m || k < 0 || k > n || lwork == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  F query = 0, tau = 0;
  lapack::orgqr(m, n, k, const_cast<F*>(a), lda, &tau, &query, -1);  // a is not read
  *lwork = Answer(query);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t Orgqr(cusolverDnHandle_t handle, int m, int n, int k, F* a, int lda, const F* tau,
                       F* work, int lwork, int* info) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  int needed = 0;
  if (cusolverStatus_t s = OrgqrBufferSize(handle, m, n, k, a, lda, &needed);
      s != CUSOLVER_STATUS_SUCCESS) {
    return s;
  }
  if (tau == nullptr || work == nullptr || info == nullptr || lwork < needed) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  *info = lapack::orgqr(m, n, k, a, lda, tau, work, lwork);
  return CUSOLVER_STATUS_SUCCESS;
}

bool ValidJob(signed char job) { return job == 'A' || job == 'S' || job == 'O' || job == 'N'; }

template <typename F>
cusolverStatus_t GesvdBufferSize(cusolverDnHandle_t handle, int m, int n, int* lwork) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, std::max(1, m)); s != CUSOLVER_STATUS_SUCCESS) {
    return s;
  }
  if (m < n || lwork == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;  // cuSOLVER: m >= n
  F query = 0, dummy = 0;
  const int ld = std::max(1, m);
  Gesvd('A', 'A', m, n, &dummy, ld, &dummy, &dummy, ld, &dummy, std::max(1, n), &query, -1);
  *lwork = Answer(query);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t Gesvd(cusolverDnHandle_t handle, signed char jobu, signed char jobvt, int m, int n,
                       F* a, int lda, F* s, F* u, int ldu, F* vt, int ldvt, F* work, int lwork,
                       F* rwork, int* info) {
  if (cusolverStatus_t c = CheckCall(handle, m, n, lda); c != CUSOLVER_STATUS_SUCCESS) return c;
  int needed = 0;
  if (cusolverStatus_t c = GesvdBufferSize<F>(handle, m, n, &needed);
      c != CUSOLVER_STATUS_SUCCESS) {
    return c;
  }
  const bool full_u = jobu == 'A' || jobu == 'S', full_vt = jobvt == 'A' || jobvt == 'S';
  if (!ValidJob(jobu) || !ValidJob(jobvt) || s == nullptr || work == nullptr || info == nullptr ||
      lwork < needed || (full_u && (u == nullptr || ldu < std::max(1, m))) ||
      (full_vt && (vt == nullptr || ldvt < std::max(1, n)))) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  F unused = 0;  // LAPACK reads no U or Vt it is not asked for, but wants a pointer
  *info = Gesvd(static_cast<char>(jobu), static_cast<char>(jobvt), m, n, a, lda, s,
                u != nullptr ? u : &unused, std::max(1, ldu), vt != nullptr ? vt : &unused,
                std::max(1, ldvt), work, lwork);
  // cuSOLVER leaves the unconverged superdiagonal in rwork; LAPACK in work[1..].
  if (*info > 0 && rwork != nullptr) std::copy(work + 1, work + std::min(m, n), rwork);
  return CUSOLVER_STATUS_SUCCESS;
}

// LAPACK's syevd workspace (real, integer) for n.
template <typename F>
void SyevdQuery(char jobz, char uplo, int n, int lda, int& lwork, int& liwork) {
  F query = 0, a = 0, w = 0;
  int iquery = 0;
  lapack::syevd(jobz, uplo, n, &a, std::max(1, lda), &w, &query, -1, &iquery, -1);
  lwork = Answer(query);
  liwork = std::max(1, iquery);
}

bool ValidMode(cusolverEigMode_t jobz) {
  return jobz == CUSOLVER_EIG_MODE_NOVECTOR || jobz == CUSOLVER_EIG_MODE_VECTOR;
}

template <typename F>
cusolverStatus_t SyevdBufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                 cublasFillMode_t uplo, int n, int lda, int* lwork) {
  if (cusolverStatus_t s = CheckCall(handle, n, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (!ValidMode(jobz) || !ValidUplo(uplo) || lwork == nullptr) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  int liwork = 0;
  SyevdQuery<F>(jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N', Uplo(uplo), n, lda, *lwork, liwork);
  return CUSOLVER_STATUS_SUCCESS;
}

template <typename F>
cusolverStatus_t Syevd(cusolverDnHandle_t handle, cusolverEigMode_t jobz, cublasFillMode_t uplo,
                       int n, F* a, int lda, F* w, F* work, int lwork, int* info) {
  if (cusolverStatus_t s = CheckCall(handle, n, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (!ValidMode(jobz) || !ValidUplo(uplo) || w == nullptr || work == nullptr || info == nullptr) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  const char job = jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N';
  int needed = 0, liwork = 0;
  SyevdQuery<F>(job, Uplo(uplo), n, lda, needed, liwork);
  if (lwork < needed) return CUSOLVER_STATUS_INVALID_VALUE;
  std::vector<int> iwork(static_cast<size_t>(liwork));  // cuSOLVER needs none from the caller
  *info = lapack::syevd(job, Uplo(uplo), n, a, lda, w, work, lwork, iwork.data(), liwork);
  return CUSOLVER_STATUS_SUCCESS;
}

// potrfBatched: potrf on each matrix of the array, its info into infos[b].
template <typename F>
cusolverStatus_t PotrfBatched(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, F* a[],
                              int lda, int* infos, int batch) {
  if (cusolverStatus_t s = CheckCall(handle, n, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (!ValidUplo(uplo) || a == nullptr || infos == nullptr || batch < 1) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  for (int b = 0; b < batch; ++b) {
    if (a[b] == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  }
  for (int b = 0; b < batch; ++b) infos[b] = lapack::potrf(Uplo(uplo), n, a[b], lda);
  return CUSOLVER_STATUS_SUCCESS;
}

bool LiveParams(syevjInfo_t params) { return params != nullptr && params->magic == kMagic; }

// syevjBatched's checks: n at most 32 (cuSOLVER's limit), a batch, live parameters.
cusolverStatus_t CheckSyevjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                   cublasFillMode_t uplo, int n, int lda, syevjInfo_t params,
                                   int batch) {
  if (cusolverStatus_t s = CheckCall(handle, n, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (!ValidMode(jobz) || !ValidUplo(uplo) || n > 32 || !LiveParams(params) || batch < 1) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  return CUSOLVER_STATUS_SUCCESS;
}

// The workspace is syevd's for one matrix: the stand-in solves the batch one at a time.
template <typename F>
cusolverStatus_t SyevjBatchedBufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                        cublasFillMode_t uplo, int n, int lda, int* lwork,
                                        syevjInfo_t params, int batch) {
  if (cusolverStatus_t s = CheckSyevjBatched(handle, jobz, uplo, n, lda, params, batch);
      s != CUSOLVER_STATUS_SUCCESS) {
    return s;
  }
  if (lwork == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  int liwork = 0;
  SyevdQuery<F>(jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N', Uplo(uplo), n, lda, *lwork, liwork);
  return CUSOLVER_STATUS_SUCCESS;
}

// LAPACK's syevd on each matrix (lda * n elements apart; eigenvalues n apart, ascending, as
// a sorting syevj's), with cuSOLVER's info for one that does not converge: n + 1.
template <typename F>
cusolverStatus_t SyevjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                              cublasFillMode_t uplo, int n, F* a, int lda, F* w, F* work, int lwork,
                              int* infos, syevjInfo_t params, int batch) {
  if (cusolverStatus_t s = CheckSyevjBatched(handle, jobz, uplo, n, lda, params, batch);
      s != CUSOLVER_STATUS_SUCCESS) {
    return s;
  }
  if (a == nullptr || w == nullptr || work == nullptr || infos == nullptr || params->sort != 1) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  const char job = jobz == CUSOLVER_EIG_MODE_VECTOR ? 'V' : 'N';
  int needed = 0, liwork = 0;
  SyevdQuery<F>(job, Uplo(uplo), n, lda, needed, liwork);
  if (lwork < needed) return CUSOLVER_STATUS_INVALID_VALUE;
  std::vector<int> iwork(static_cast<size_t>(liwork));
  for (int b = 0; b < batch; ++b) {
    const int info = lapack::syevd(job, Uplo(uplo), n, a + int64_t{b} * lda * n, lda,
                                   w + int64_t{b} * n, work, lwork, iwork.data(), liwork);
    infos[b] = info > 0 ? n + 1 : info;
  }
  return CUSOLVER_STATUS_SUCCESS;
}

bool LiveParams(gesvdjInfo_t params) { return params != nullptr && params->magic == kMagic; }

// gesvdjBatched's checks: m and n at most 32, a batch, live parameters, U's and V's leading
// dimensions where vectors are asked for.
cusolverStatus_t CheckGesvdjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz, int m, int n,
                                    int lda, int ldu, int ldv, gesvdjInfo_t params, int batch) {
  if (cusolverStatus_t s = CheckCall(handle, m, n, lda); s != CUSOLVER_STATUS_SUCCESS) return s;
  if (!ValidMode(jobz) || m > 32 || n > 32 || !LiveParams(params) || batch < 1 ||
      (jobz == CUSOLVER_EIG_MODE_VECTOR && (ldu < std::max(1, m) || ldv < std::max(1, n)))) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  return CUSOLVER_STATUS_SUCCESS;
}

// The workspace is LAPACK's gesvd's for one matrix, any shape.
template <typename F>
int GesvdjQuery(int m, int n) {
  F query = 0, dummy = 0;
  Gesvd('A', 'A', m, n, &dummy, std::max(1, m), &dummy, &dummy, std::max(1, m), &dummy,
        std::max(1, n), &query, -1);
  return Answer(query);
}

template <typename F>
cusolverStatus_t GesvdjBatchedBufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz, int m,
                                         int n, int lda, int ldu, int ldv, int* lwork,
                                         gesvdjInfo_t params, int batch) {
  if (cusolverStatus_t s = CheckGesvdjBatched(handle, jobz, m, n, lda, ldu, ldv, params, batch);
      s != CUSOLVER_STATUS_SUCCESS) {
    return s;
  }
  if (lwork == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  *lwork = GesvdjQuery<F>(m, n);
  return CUSOLVER_STATUS_SUCCESS;
}

// LAPACK's gesvd on each matrix (A lda * n apart, S min(m, n), U ldu * m and V ldv * n),
// V written as gesvdj's (gesvd gives V^T), min(m, n) + 1 as info where it does not converge.
template <typename F>
cusolverStatus_t GesvdjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz, int m, int n,
                               F* a, int lda, F* s, F* u, int ldu, F* v, int ldv, F* work,
                               int lwork, int* infos, gesvdjInfo_t params, int batch) {
  if (cusolverStatus_t c = CheckGesvdjBatched(handle, jobz, m, n, lda, ldu, ldv, params, batch);
      c != CUSOLVER_STATUS_SUCCESS) {
    return c;
  }
  const bool vectors = jobz == CUSOLVER_EIG_MODE_VECTOR;
  if (a == nullptr || s == nullptr || work == nullptr || infos == nullptr ||
      (vectors && (u == nullptr || v == nullptr)) || params->sort != 1 ||
      lwork < GesvdjQuery<F>(m, n)) {
    return CUSOLVER_STATUS_INVALID_VALUE;
  }
  const int k = std::min(m, n);
  std::vector<F> vt(static_cast<size_t>(std::max(1, n * n)));
  F unused = 0;
  for (int b = 0; b < batch; ++b) {
    F* matrix = a + int64_t{b} * lda * n;
    F* values = s + int64_t{b} * k;
    int info = 0;
    if (vectors) {
      F* u_b = u + int64_t{b} * ldu * m;
      F* v_b = v + int64_t{b} * ldv * n;
      info = Gesvd('A', 'A', m, n, matrix, lda, values, u_b, ldu, vt.data(), std::max(1, n), work,
                   lwork);
      for (int i = 0; i < n; ++i) {
        for (int j = 0; j < n; ++j) v_b[i + int64_t{j} * ldv] = vt[j + i * n];
      }
    } else {
      info = Gesvd('N', 'N', m, n, matrix, lda, values, &unused, 1, &unused, 1, work, lwork);
    }
    infos[b] = info > 0 ? k + 1 : info;
  }
  return CUSOLVER_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

cusolverStatus_t cusolverDnCreate(cusolverDnHandle_t* handle) {
  if (handle == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  *handle = new (std::nothrow) cusolverDnContext{kMagic, nullptr};
  return *handle == nullptr ? CUSOLVER_STATUS_ALLOC_FAILED : CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnDestroy(cusolverDnHandle_t handle) {
  if (!Live(handle)) return CUSOLVER_STATUS_NOT_INITIALIZED;
  handle->magic = 0;
  delete handle;
  return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnSetStream(cusolverDnHandle_t handle, cudaStream_t stream) {
  if (!Live(handle)) return CUSOLVER_STATUS_NOT_INITIALIZED;
  handle->stream = stream;
  return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnSpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t uplo,
                                             int n, float*, int lda, int* lwork) {
  return PotrfBufferSize<float>(handle, uplo, n, lda, lwork);
}
cusolverStatus_t cusolverDnDpotrf_bufferSize(cusolverDnHandle_t handle, cublasFillMode_t uplo,
                                             int n, double*, int lda, int* lwork) {
  return PotrfBufferSize<double>(handle, uplo, n, lda, lwork);
}
cusolverStatus_t cusolverDnSpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n, float* a,
                                  int lda, float* work, int lwork, int* info) {
  return Potrf(handle, uplo, n, a, lda, work, lwork, info);
}
cusolverStatus_t cusolverDnDpotrf(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n,
                                  double* a, int lda, double* work, int lwork, int* info) {
  return Potrf(handle, uplo, n, a, lda, work, lwork, info);
}

cusolverStatus_t cusolverDnSgetrf_bufferSize(cusolverDnHandle_t handle, int m, int n, float*,
                                             int lda, int* lwork) {
  return GetrfBufferSize<float>(handle, m, n, lda, lwork);
}
cusolverStatus_t cusolverDnDgetrf_bufferSize(cusolverDnHandle_t handle, int m, int n, double*,
                                             int lda, int* lwork) {
  return GetrfBufferSize<double>(handle, m, n, lda, lwork);
}
cusolverStatus_t cusolverDnSgetrf(cusolverDnHandle_t handle, int m, int n, float* a, int lda,
                                  float* work, int* ipiv, int* info) {
  return Getrf(handle, m, n, a, lda, work, ipiv, info);
}
cusolverStatus_t cusolverDnDgetrf(cusolverDnHandle_t handle, int m, int n, double* a, int lda,
                                  double* work, int* ipiv, int* info) {
  return Getrf(handle, m, n, a, lda, work, ipiv, info);
}
cusolverStatus_t cusolverDnSgetrs(cusolverDnHandle_t handle, cublasOperation_t trans, int n,
                                  int nrhs, const float* a, int lda, const int* ipiv, float* b,
                                  int ldb, int* info) {
  return Getrs(handle, trans, n, nrhs, a, lda, ipiv, b, ldb, info);
}
cusolverStatus_t cusolverDnDgetrs(cusolverDnHandle_t handle, cublasOperation_t trans, int n,
                                  int nrhs, const double* a, int lda, const int* ipiv, double* b,
                                  int ldb, int* info) {
  return Getrs(handle, trans, n, nrhs, a, lda, ipiv, b, ldb, info);
}

cusolverStatus_t cusolverDnSgeqrf_bufferSize(cusolverDnHandle_t handle, int m, int n, float* a,
                                             int lda, int* lwork) {
  return GeqrfBufferSize(handle, m, n, a, lda, lwork);
}
cusolverStatus_t cusolverDnDgeqrf_bufferSize(cusolverDnHandle_t handle, int m, int n, double* a,
                                             int lda, int* lwork) {
  return GeqrfBufferSize(handle, m, n, a, lda, lwork);
}
cusolverStatus_t cusolverDnSgeqrf(cusolverDnHandle_t handle, int m, int n, float* a, int lda,
                                  float* tau, float* work, int lwork, int* info) {
  return Geqrf(handle, m, n, a, lda, tau, work, lwork, info);
}
cusolverStatus_t cusolverDnDgeqrf(cusolverDnHandle_t handle, int m, int n, double* a, int lda,
                                  double* tau, double* work, int lwork, int* info) {
  return Geqrf(handle, m, n, a, lda, tau, work, lwork, info);
}

cusolverStatus_t cusolverDnSorgqr_bufferSize(cusolverDnHandle_t handle, int m, int n, int k,
                                             const float* a, int lda, const float*, int* lwork) {
  return OrgqrBufferSize(handle, m, n, k, a, lda, lwork);
}
cusolverStatus_t cusolverDnDorgqr_bufferSize(cusolverDnHandle_t handle, int m, int n, int k,
                                             const double* a, int lda, const double*, int* lwork) {
  return OrgqrBufferSize(handle, m, n, k, a, lda, lwork);
}
cusolverStatus_t cusolverDnSorgqr(cusolverDnHandle_t handle, int m, int n, int k, float* a, int lda,
                                  const float* tau, float* work, int lwork, int* info) {
  return Orgqr(handle, m, n, k, a, lda, tau, work, lwork, info);
}
cusolverStatus_t cusolverDnDorgqr(cusolverDnHandle_t handle, int m, int n, int k, double* a,
                                  int lda, const double* tau, double* work, int lwork, int* info) {
  return Orgqr(handle, m, n, k, a, lda, tau, work, lwork, info);
}

cusolverStatus_t cusolverDnSgesvd_bufferSize(cusolverDnHandle_t handle, int m, int n, int* lwork) {
  return GesvdBufferSize<float>(handle, m, n, lwork);
}
cusolverStatus_t cusolverDnDgesvd_bufferSize(cusolverDnHandle_t handle, int m, int n, int* lwork) {
  return GesvdBufferSize<double>(handle, m, n, lwork);
}
cusolverStatus_t cusolverDnSgesvd(cusolverDnHandle_t handle, signed char jobu, signed char jobvt,
                                  int m, int n, float* a, int lda, float* s, float* u, int ldu,
                                  float* vt, int ldvt, float* work, int lwork, float* rwork,
                                  int* info) {
  return Gesvd(handle, jobu, jobvt, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, rwork, info);
}
cusolverStatus_t cusolverDnDgesvd(cusolverDnHandle_t handle, signed char jobu, signed char jobvt,
                                  int m, int n, double* a, int lda, double* s, double* u, int ldu,
                                  double* vt, int ldvt, double* work, int lwork, double* rwork,
                                  int* info) {
  return Gesvd(handle, jobu, jobvt, m, n, a, lda, s, u, ldu, vt, ldvt, work, lwork, rwork, info);
}

cusolverStatus_t cusolverDnSsyevd_bufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                             cublasFillMode_t uplo, int n, const float*, int lda,
                                             const float*, int* lwork) {
  return SyevdBufferSize<float>(handle, jobz, uplo, n, lda, lwork);
}
cusolverStatus_t cusolverDnDsyevd_bufferSize(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                             cublasFillMode_t uplo, int n, const double*, int lda,
                                             const double*, int* lwork) {
  return SyevdBufferSize<double>(handle, jobz, uplo, n, lda, lwork);
}
cusolverStatus_t cusolverDnSsyevd(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                  cublasFillMode_t uplo, int n, float* a, int lda, float* w,
                                  float* work, int lwork, int* info) {
  return Syevd(handle, jobz, uplo, n, a, lda, w, work, lwork, info);
}
cusolverStatus_t cusolverDnDsyevd(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                  cublasFillMode_t uplo, int n, double* a, int lda, double* w,
                                  double* work, int lwork, int* info) {
  return Syevd(handle, jobz, uplo, n, a, lda, w, work, lwork, info);
}

cusolverStatus_t cusolverDnSpotrfBatched(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n,
                                         float* a[], int lda, int* infos, int batch) {
  return PotrfBatched(handle, uplo, n, a, lda, infos, batch);
}
cusolverStatus_t cusolverDnDpotrfBatched(cusolverDnHandle_t handle, cublasFillMode_t uplo, int n,
                                         double* a[], int lda, int* infos, int batch) {
  return PotrfBatched(handle, uplo, n, a, lda, infos, batch);
}

cusolverStatus_t cusolverDnCreateSyevjInfo(syevjInfo_t* params) {
  if (params == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  *params = new (std::nothrow) syevjInfo{kMagic, 1};  // cuSOLVER sorts unless told not to
  return *params == nullptr ? CUSOLVER_STATUS_ALLOC_FAILED : CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnDestroySyevjInfo(syevjInfo_t params) {
  if (!LiveParams(params)) return CUSOLVER_STATUS_INVALID_VALUE;
  params->magic = 0;
  delete params;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnXsyevjSetSortEig(syevjInfo_t params, int sort) {
  if (!LiveParams(params)) return CUSOLVER_STATUS_INVALID_VALUE;
  params->sort = sort;
  return CUSOLVER_STATUS_SUCCESS;
}

cusolverStatus_t cusolverDnSsyevjBatched_bufferSize(cusolverDnHandle_t handle,
                                                    cusolverEigMode_t jobz, cublasFillMode_t uplo,
                                                    int n, const float*, int lda, const float*,
                                                    int* lwork, syevjInfo_t params, int batch) {
  return SyevjBatchedBufferSize<float>(handle, jobz, uplo, n, lda, lwork, params, batch);
}
cusolverStatus_t cusolverDnDsyevjBatched_bufferSize(cusolverDnHandle_t handle,
                                                    cusolverEigMode_t jobz, cublasFillMode_t uplo,
                                                    int n, const double*, int lda, const double*,
                                                    int* lwork, syevjInfo_t params, int batch) {
  return SyevjBatchedBufferSize<double>(handle, jobz, uplo, n, lda, lwork, params, batch);
}
cusolverStatus_t cusolverDnSsyevjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                         cublasFillMode_t uplo, int n, float* a, int lda, float* w,
                                         float* work, int lwork, int* infos, syevjInfo_t params,
                                         int batch) {
  return SyevjBatched(handle, jobz, uplo, n, a, lda, w, work, lwork, infos, params, batch);
}
cusolverStatus_t cusolverDnDsyevjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz,
                                         cublasFillMode_t uplo, int n, double* a, int lda,
                                         double* w, double* work, int lwork, int* infos,
                                         syevjInfo_t params, int batch) {
  return SyevjBatched(handle, jobz, uplo, n, a, lda, w, work, lwork, infos, params, batch);
}

cusolverStatus_t cusolverDnCreateGesvdjInfo(gesvdjInfo_t* params) {
  if (params == nullptr) return CUSOLVER_STATUS_INVALID_VALUE;
  *params = new (std::nothrow) gesvdjInfo{kMagic, 1};
  return *params == nullptr ? CUSOLVER_STATUS_ALLOC_FAILED : CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnDestroyGesvdjInfo(gesvdjInfo_t params) {
  if (!LiveParams(params)) return CUSOLVER_STATUS_INVALID_VALUE;
  params->magic = 0;
  delete params;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnXgesvdjSetSortEig(gesvdjInfo_t params, int sort) {
  if (!LiveParams(params)) return CUSOLVER_STATUS_INVALID_VALUE;
  params->sort = sort;
  return CUSOLVER_STATUS_SUCCESS;
}
cusolverStatus_t cusolverDnSgesvdjBatched_bufferSize(cusolverDnHandle_t handle,
                                                     cusolverEigMode_t jobz, int m, int n,
                                                     const float*, int lda, const float*,
                                                     const float*, int ldu, const float*, int ldv,
                                                     int* lwork, gesvdjInfo_t params, int batch) {
  return GesvdjBatchedBufferSize<float>(handle, jobz, m, n, lda, ldu, ldv, lwork, params, batch);
}
cusolverStatus_t cusolverDnDgesvdjBatched_bufferSize(cusolverDnHandle_t handle,
                                                     cusolverEigMode_t jobz, int m, int n,
                                                     const double*, int lda, const double*,
                                                     const double*, int ldu, const double*, int ldv,
                                                     int* lwork, gesvdjInfo_t params, int batch) {
  return GesvdjBatchedBufferSize<double>(handle, jobz, m, n, lda, ldu, ldv, lwork, params, batch);
}
cusolverStatus_t cusolverDnSgesvdjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz, int m,
                                          int n, float* a, int lda, float* s, float* u, int ldu,
                                          float* v, int ldv, float* work, int lwork, int* infos,
                                          gesvdjInfo_t params, int batch) {
  return GesvdjBatched(handle, jobz, m, n, a, lda, s, u, ldu, v, ldv, work, lwork, infos, params,
                       batch);
}
cusolverStatus_t cusolverDnDgesvdjBatched(cusolverDnHandle_t handle, cusolverEigMode_t jobz, int m,
                                          int n, double* a, int lda, double* s, double* u, int ldu,
                                          double* v, int ldv, double* work, int lwork, int* infos,
                                          gesvdjInfo_t params, int batch) {
  return GesvdjBatched(handle, jobz, m, n, a, lda, s, u, ldu, v, ldv, work, lwork, infos, params,
                       batch);
}

}  // extern "C"
