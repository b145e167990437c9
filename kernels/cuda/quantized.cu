// quantized_matmul's device code (host side: kernels.cc). The kernels read the packed words
// (kernels/quantized_packing.h) and dequantize each weight as it is used, s * q + b in
// float (double for float64), as the CPU's kernel computes them.

#include "kernels/cuda/device.cuh"
#include "kernels/quantized_packing.h"

namespace ferry::kernels::cuda {
namespace {

template <typename T>
__device__ __forceinline__ ComputeType<T> Weight(const QuantizedMatrix& q, int64_t row, int64_t k) {
  const int64_t group = row * (q.columns / q.group_size) + k / q.group_size;
  const auto s = Load(static_cast<const T*>(q.scales) + group);
  const auto b = Load(static_cast<const T*>(q.biases) + group);
  using C = ComputeType<T>;
  return s * static_cast<C>(PackedElement(q.words + row * q.words_per_row, k, q.bits)) + b;
}

template <typename T>
__global__ void DequantizeKernel(QuantizedMatrix q, T* w) {
  FERRY_GRID_LOOP(i, q.rows * q.columns) {
    Store(w + i, Weight<T>(q, i / q.columns, i % q.columns));
  }
}

// transpose: a block per weight row r (grid-stride); its threads split the row's elements,
// each keeping a partial sum per row of x, then a block reduction per row of x.
template <typename T>
__global__ void RowDotKernel(const T* x, QuantizedMatrix q, int64_t m, T* y) {
  using C = ComputeType<T>;
  __shared__ C shared[kThreads];
  for (int64_t r = blockIdx.x; r < q.rows; r += gridDim.x) {
    C acc[kQuantizedVectorRows] = {};
    for (int64_t k = threadIdx.x; k < q.columns; k += blockDim.x) {
      const C w = Weight<T>(q, r, k);
#pragma unroll
      for (int i = 0; i < kQuantizedVectorRows; ++i) {
        if (i < m) acc[i] += Load(x + i * q.columns + k) * w;
      }
    }
    for (int i = 0; i < m; ++i) {
      const C total = BlockReduce(acc[i], shared, [](C a, C b) { return a + b; });
      if (threadIdx.x == 0) Store(y + i * q.rows + r, total);
    }
  }
}

// !transpose: a thread per column c of w (neighbouring threads read neighbouring bits of
// each row), walking the rows.
template <typename T>
__global__ void ColumnDotKernel(const T* x, QuantizedMatrix q, int64_t m, T* y) {
  using C = ComputeType<T>;
  FERRY_GRID_LOOP(c, q.columns) {
    C acc[kQuantizedVectorRows] = {};
    for (int64_t r = 0; r < q.rows; ++r) {
      const C w = Weight<T>(q, r, c);
#pragma unroll
      for (int i = 0; i < kQuantizedVectorRows; ++i) {
        if (i < m) acc[i] += Load(x + i * q.rows + r) * w;
      }
    }
    for (int i = 0; i < m; ++i) Store(y + i * q.columns + c, acc[i]);
  }
}

}  // namespace

cudaError_t LaunchDequantize(core::DType dtype, const QuantizedMatrix& q, void* w,
                             cudaStream_t stream) {
  if (q.rows * q.columns == 0) return cudaSuccess;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloating<T>) {
      DequantizeKernel<T>
          <<<GridFor(q.rows * q.columns), kThreads, 0, stream>>>(q, static_cast<T*>(w));
      return cudaGetLastError();
    }
    return cudaErrorInvalidValue;
  });
}

cudaError_t LaunchQuantizedVectors(core::DType dtype, const void* x, const QuantizedMatrix& q,
                                   bool transpose, int64_t m, void* y, cudaStream_t stream) {
  if (m <= 0 || m > kQuantizedVectorRows) return cudaErrorInvalidValue;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (kIsFloating<T>) {
      if (transpose) {
        const int64_t blocks = q.rows < 65536 ? (q.rows > 0 ? q.rows : 1) : 65536;
        RowDotKernel<T><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
            static_cast<const T*>(x), q, m, static_cast<T*>(y));
      } else {
        ColumnDotKernel<T><<<GridFor(q.columns), kThreads, 0, stream>>>(static_cast<const T*>(x), q,
                                                                        m, static_cast<T*>(y));
      }
      return cudaGetLastError();
    }
    return cudaErrorInvalidValue;
  });
}

}  // namespace ferry::kernels::cuda
