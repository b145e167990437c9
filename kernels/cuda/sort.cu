// sort, argsort, partition, argpartition (kernels/cpu/sort.cc): a stable ascending sort with
// NaN last along one axis. Each row's positions are bitonic-sorted in global memory (padded
// to a power of two; padding sorts after everything) under a total order: the key, NaN
// last, then the original position, which makes the result the CPU's stable order.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

struct Rows {
  int64_t n, inner, padded;
  __device__ int64_t Base(int64_t row) const { return (row / inner) * n * inner + row % inner; }
};

// Whether position i of the row sorts before position j.
template <typename T>
__device__ __forceinline__ bool Before(const T* row, int64_t inner, int64_t n, uint32_t i,
                                       uint32_t j) {
  if (j >= n) return i < j;  // padding goes last (and in order)
  if (i >= n) return false;
  const auto a = Load(row + i * inner);
  const auto b = Load(row + j * inner);
  if (a != a) return b != b && i < j;  // NaN last; NaNs keep their order
  if (b != b) return true;
  return a < b || (!(b < a) && i < j);
}

__global__ void IotaKernel(uint32_t* order, int64_t padded, int64_t total) {
  FERRY_GRID_LOOP(i, total) { order[i] = static_cast<uint32_t>(i % padded); }
}

template <typename T>
__global__ void BitonicStep(const T* x, uint32_t* order, Rows rows, int64_t k, int64_t j,
                            int64_t total) {
  FERRY_GRID_LOOP(t, total) {
    const int64_t row = t / rows.padded;
    const int64_t i = t % rows.padded;
    const int64_t l = i ^ j;
    if (l <= i) continue;
    uint32_t* o = order + row * rows.padded;
    const T* r = x + rows.Base(row);
    const uint32_t a = o[i], b = o[l];
    const bool ascending = (i & k) == 0;
    const bool swap =
        ascending ? Before(r, rows.inner, rows.n, b, a) : Before(r, rows.inner, rows.n, a, b);
    if (swap) {
      o[i] = b;
      o[l] = a;
    }
  }
}

template <typename T>
__global__ void WriteSorted(const T* x, void* out, bool indices, const uint32_t* order, Rows rows,
                            int64_t total) {
  FERRY_GRID_LOOP(t, total) {
    const int64_t row = t / rows.n;
    const int64_t j = t % rows.n;
    const int64_t base = rows.Base(row);
    const uint32_t from = order[row * rows.padded + j];
    if (indices) {
      static_cast<uint32_t*>(out)[base + j * rows.inner] = from;
    } else {
      static_cast<T*>(out)[base + j * rows.inner] = x[base + from * rows.inner];
    }
  }
}

}  // namespace

cudaError_t LaunchSort(bool indices, core::DType dtype, const void* x, void* out, uint32_t* order,
                       int64_t outer, int64_t n, int64_t inner, int64_t padded,
                       cudaStream_t stream) {
  const int64_t count = outer * inner;
  if (count * n == 0) return cudaSuccess;
  const Rows rows{n, inner, padded};
  const int64_t total = count * padded;
  IotaKernel<<<GridFor(total), kThreads, 0, stream>>>(order, padded, total);
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* data = static_cast<const T*>(x);
    for (int64_t k = 2; k <= padded; k <<= 1) {
      for (int64_t j = k >> 1; j > 0; j >>= 1) {
        BitonicStep<T><<<GridFor(total), kThreads, 0, stream>>>(data, order, rows, k, j, total);
      }
    }
    WriteSorted<T>
        <<<GridFor(count * n), kThreads, 0, stream>>>(data, out, indices, order, rows, count * n);
    return cudaGetLastError();
  });
}

}  // namespace ferry::kernels::cuda
