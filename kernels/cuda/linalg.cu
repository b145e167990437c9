// The device code of the linear algebra ops beside cuSOLVER (linalg.cc): the triangles,
// identities and lu's permutation it leaves to the caller, and solve_triangular, which cuSOLVER
// lacks (it has no trsm, and cuBLAS proper is not loaded).

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <typename F>
__global__ void ZeroTriangleKernel(F* a, int64_t count, int64_t rows, int64_t cols, int64_t stride,
                                   bool keep_upper) {
  FERRY_GRID_LOOP(e, count * rows * cols) {
    const int64_t b = e / (rows * cols), i = e / cols % rows, j = e % cols;
    if (keep_upper ? j < i : j > i) a[b * stride + i * cols + j] = F{0};
  }
}

template <typename F>
__global__ void IdentityKernel(F* a, int64_t count, int64_t n, int64_t stride) {
  FERRY_GRID_LOOP(e, count * n * n) {
    const int64_t b = e / (n * n), i = e / n % n, j = e % n;
    a[b * stride + i * n + j] = i == j ? F{1} : F{0};
  }
}

template <typename F>
__global__ void FindZeroDiagonalKernel(const F* a, int64_t count, int64_t n, int* info) {
  FERRY_GRID_LOOP(b, count) {
    int first = 0;
    for (int64_t d = n - 1; d >= 0; --d) {
      if (a[b * n * n + d * n + d] == F{0}) first = static_cast<int>(d + 1);
    }
    info[b] = first;
  }
}

template <typename F>
__global__ void FindNonFiniteKernel(const F* a, int64_t count, int64_t rows, int64_t cols,
                                    int triangle, int* info) {
  FERRY_GRID_LOOP(e, count * rows * cols) {
    const int64_t i = e / cols % rows, j = e % cols;
    const bool read = triangle == 0 || (triangle == 1 ? j >= i : j <= i);
    if (read && !isfinite(a[e])) info[e / (rows * cols)] = 1;  // every writer writes 1
  }
}

// One thread per right-hand side (matrix b, column c) of a diagonal block: substitution down
// (lower) or up (upper) the column. Neighbouring threads read neighbouring columns, so x's
// loads coalesce and a's are broadcast within a matrix.
template <typename F>
__global__ void TriangularSolveKernel(const F* a, int64_t a_stride, int64_t lda, F* x,
                                      int64_t x_stride, int64_t count, int64_t n, int64_t k,
                                      bool upper) {
  FERRY_GRID_LOOP(e, count * k) {
    const int64_t b = e / k, c = e % k;
    const F* t = a + b * a_stride;
    F* col = x + b * x_stride + c;
    for (int64_t step = 0; step < n; ++step) {
      const int64_t i = upper ? n - 1 - step : step;
      F sum = col[i * k];
      if (upper) {
        for (int64_t j = i + 1; j < n; ++j) sum -= t[i * lda + j] * col[j * k];
      } else {
        for (int64_t j = 0; j < i; ++j) sum -= t[i * lda + j] * col[j * k];
      }
      col[i * k] = sum / t[i * lda + i];
    }
  }
}

template <typename F>
__global__ void SubtractKernel(F* x, int64_t x_stride, const F* t, int64_t count, int64_t size) {
  FERRY_GRID_LOOP(e, count * size) {
    const int64_t b = e / size;
    x[b * x_stride + e % size] -= t[e];
  }
}

// One thread per matrix: the row swaps in order give which row of a each row of L U is
// (order), and the permutation is its inverse.
template <typename F>
__global__ void LuPermutationKernel(const int* ipiv, int* order, F* packed, int64_t count,
                                    int64_t rows, int64_t k, int64_t stride, int64_t pivots_at,
                                    int64_t perm_at) {
  FERRY_GRID_LOOP(b, count) {
    int* o = order + b * rows;
    F* p = packed + b * stride;
    for (int64_t i = 0; i < rows; ++i) o[i] = static_cast<int>(i);
    for (int64_t i = 0; i < k; ++i) {
      const int pivot = ipiv[b * k + i] - 1;
      const int swapped = o[i];
      o[i] = o[pivot];
      o[pivot] = swapped;
      p[pivots_at + i] = static_cast<F>(pivot);
    }
    for (int64_t i = 0; i < rows; ++i) p[perm_at + o[i]] = static_cast<F>(i);
  }
}

// LAPACK's larfg on the column x[0], x[stride], ..., n elements: the reflector
// H = I - tau v v^T with H x = (beta, 0, ..., 0), v[0] = 1 and v's other elements written
// over x's, beta over x[0]; returns tau (0, H the identity, when x's tail is zero). Its norm
// is scaled by the largest element, as nrm2's, so squares neither overflow nor underflow.
template <typename F>
__device__ F HouseholderReflector(F* x, int n, int stride) {
  F scale = F{0};
  for (int i = 1; i < n; ++i) {
    const F v = fabs(x[i * stride]);
    if (!(v <= scale)) scale = v;  // a NaN becomes the scale, and the result NaN
  }
  if (scale == F{0}) return F{0};
  F sum = F{0};
  for (int i = 1; i < n; ++i) {
    const F v = x[i * stride] / scale;
    sum += v * v;
  }
  const F alpha = x[0];
  const F beta = -copysign(hypot(alpha, scale * sqrt(sum)), alpha);
  const F to_v = F{1} / (alpha - beta);
  for (int i = 1; i < n; ++i) x[i * stride] *= to_v;
  x[0] = beta;
  return (beta - alpha) / beta;
}

// One block of kSmallQrOrder threads per matrix, a thread per column, the matrix in shared
// memory: geqrf's reflectors applied column by column, then orgqr's Q = H_0 ... H_{k-1}
// formed a column per thread (column c of Q is H_0 ... H_c e_c: no reflector past c touches
// it). Q (rows x k) goes to q_at, R (k x cols, its lower part zero) to r_at of each packed
// result, `stride` apart.
template <typename F>
__global__ void SmallQrKernel(const F* x, int64_t count, int rows, int cols, F* y, int64_t stride,
                              int64_t q_at, int64_t r_at) {
  __shared__ F a[kSmallQrOrder * kSmallQrOrder];  // row-major rows x cols
  __shared__ F tau[kSmallQrOrder];
  const int c = static_cast<int>(threadIdx.x);
  const int k = rows < cols ? rows : cols;
  for (int64_t b = blockIdx.x; b < count; b += gridDim.x) {
    const F* in = x + b * rows * cols;
    if (c < cols) {
      for (int i = 0; i < rows; ++i) a[i * cols + c] = in[i * cols + c];
    }
    __syncthreads();
    for (int j = 0; j < k; ++j) {
      if (c == 0) tau[j] = HouseholderReflector(a + j * cols + j, rows - j, cols);
      __syncthreads();
      if (c > j && c < cols && tau[j] != F{0}) {  // H_j applied to column c, rows j and on
        F w = a[j * cols + c];
        for (int i = j + 1; i < rows; ++i) w += a[i * cols + j] * a[i * cols + c];
        w *= tau[j];
        a[j * cols + c] -= w;
        for (int i = j + 1; i < rows; ++i) a[i * cols + c] -= w * a[i * cols + j];
      }
      __syncthreads();
    }
    F* r = y + b * stride + r_at;
    if (c < cols) {
      for (int i = 0; i < k; ++i) r[i * cols + c] = c < i ? F{0} : a[i * cols + c];
    }
    if (c < k) {
      F column[kSmallQrOrder];
      for (int i = 0; i < rows; ++i) column[i] = i == c ? F{1} : F{0};
      for (int j = c; j >= 0; --j) {
        if (tau[j] == F{0}) continue;
        F w = column[j];
        for (int i = j + 1; i < rows; ++i) w += a[i * cols + j] * column[i];
        w *= tau[j];
        column[j] -= w;
        for (int i = j + 1; i < rows; ++i) column[i] -= w * a[i * cols + j];
      }
      F* q = y + b * stride + q_at;
      for (int i = 0; i < rows; ++i) q[i * k + c] = column[i];
    }
    __syncthreads();  // the next matrix overwrites a and tau
  }
}

// The batched solvers' argument: the address of each matrix of a dense batch.
__global__ void MatrixPointersKernel(char* base, int64_t stride_bytes, int64_t count,
                                     void** pointers) {
  FERRY_GRID_LOOP(b, count) { pointers[b] = base + b * stride_bytes; }
}

// Calls f(F{}) with F float or double, the types the linear algebra computes in.
template <typename Body>
cudaError_t WithFloat(core::DType dtype, Body&& body) {
  if (dtype == core::DType::kFloat64) return body(double{});
  return body(float{});
}

}  // namespace

cudaError_t LaunchZeroTriangle(core::DType dtype, void* a, int64_t count, int64_t rows,
                               int64_t cols, int64_t stride, bool keep_upper, cudaStream_t stream) {
  const int64_t n = count * rows * cols;
  if (n == 0) return cudaSuccess;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    ZeroTriangleKernel<F><<<GridFor(n), kThreads, 0, stream>>>(static_cast<F*>(a), count, rows,
                                                               cols, stride, keep_upper);
    return cudaGetLastError();
  });
}

cudaError_t LaunchIdentity(core::DType dtype, void* a, int64_t count, int64_t n, int64_t stride,
                           cudaStream_t stream) {
  if (count * n == 0) return cudaSuccess;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    IdentityKernel<F>
        <<<GridFor(count * n * n), kThreads, 0, stream>>>(static_cast<F*>(a), count, n, stride);
    return cudaGetLastError();
  });
}

cudaError_t LaunchFindZeroDiagonal(core::DType dtype, const void* a, int64_t count, int64_t n,
                                   int* info, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    FindZeroDiagonalKernel<F>
        <<<GridFor(count), kThreads, 0, stream>>>(static_cast<const F*>(a), count, n, info);
    return cudaGetLastError();
  });
}

cudaError_t LaunchTriangularBlockSolve(core::DType dtype, const void* a, int64_t a_stride,
                                       int64_t lda, void* x, int64_t x_stride, int64_t count,
                                       int64_t n, int64_t k, bool upper, cudaStream_t stream) {
  if (count * n * k == 0) return cudaSuccess;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    TriangularSolveKernel<F><<<GridFor(count * k), kThreads, 0, stream>>>(
        static_cast<const F*>(a), a_stride, lda, static_cast<F*>(x), x_stride, count, n, k, upper);
    return cudaGetLastError();
  });
}

cudaError_t LaunchSubtract(core::DType dtype, void* x, int64_t x_stride, const void* t,
                           int64_t count, int64_t size, cudaStream_t stream) {
  if (count * size == 0) return cudaSuccess;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    SubtractKernel<F><<<GridFor(count * size), kThreads, 0, stream>>>(
        static_cast<F*>(x), x_stride, static_cast<const F*>(t), count, size);
    return cudaGetLastError();
  });
}

cudaError_t LaunchFindNonFinite(core::DType dtype, const void* a, int64_t count, int64_t rows,
                                int64_t cols, int triangle, int* info, cudaStream_t stream) {
  const int64_t n = count * rows * cols;
  if (n == 0) return cudaSuccess;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    FindNonFiniteKernel<F><<<GridFor(n), kThreads, 0, stream>>>(static_cast<const F*>(a), count,
                                                                rows, cols, triangle, info);
    return cudaGetLastError();
  });
}

cudaError_t LaunchSmallQr(core::DType dtype, const void* x, int64_t count, int rows, int cols,
                          void* y, int64_t stride, int64_t q_at, int64_t r_at,
                          cudaStream_t stream) {
  if (count == 0 || rows == 0 || cols == 0) return cudaSuccess;
  if (rows > kSmallQrOrder || cols > kSmallQrOrder) return cudaErrorInvalidValue;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    const unsigned blocks = static_cast<unsigned>(count < 65536 ? count : 65536);
    SmallQrKernel<F><<<blocks, kSmallQrOrder, 0, stream>>>(
        static_cast<const F*>(x), count, rows, cols, static_cast<F*>(y), stride, q_at, r_at);
    return cudaGetLastError();
  });
}

cudaError_t LaunchMatrixPointers(void* base, int64_t stride_bytes, int64_t count, void** pointers,
                                 cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  MatrixPointersKernel<<<GridFor(count), kThreads, 0, stream>>>(static_cast<char*>(base),
                                                                stride_bytes, count, pointers);
  return cudaGetLastError();
}

cudaError_t LaunchLuPermutation(core::DType dtype, const int* ipiv, int* order, void* packed,
                                int64_t count, int64_t rows, int64_t k, int64_t stride,
                                int64_t pivots_at, int64_t perm_at, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  return WithFloat(dtype, [&](auto zero) {
    using F = decltype(zero);
    LuPermutationKernel<F><<<GridFor(count), kThreads, 0, stream>>>(
        ipiv, order, static_cast<F*>(packed), count, rows, k, stride, pivots_at, perm_at);
    return cudaGetLastError();
  });
}

}  // namespace ferry::kernels::cuda
