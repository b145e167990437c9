// gather, the scatter family (kernels/cpu/indexing.cc): slice starts from index arrays,
// checked on the device (the first bad position per index array lands in `bad`, which the
// host reads back), then the elements moved or combined.
//
// Scatter order: the CPU applies slices in index order, element by element. Here each
// thread owns one element position of the slice and walks the slices in index order, so
// duplicate indices combine in the CPU's order (later wins for scatter, the same rounding
// for scatter_add and scatter_prod) and the result is deterministic. Slices of different
// starts can only overlap at different positions when a slice spans more than one element
// along an indexed axis; then the caller asks for `serial`, one thread doing the CPU's loop.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

__global__ void SliceStartsKernel(const int64_t* values, Indexer ix, int64_t count, int64_t dim,
                                  int64_t slice, int64_t stride, int64_t* starts,
                                  unsigned long long* bad) {
  FERRY_GRID_LOOP(p, count) {
    int64_t off[1];
    Offsets(ix, p, off);
    int64_t index = values[off[0]];
    if (index < 0) index += dim;
    if (index < 0 || index + slice > dim) {
      atomicMin(bad, static_cast<unsigned long long>(p));
    } else {
      starts[p] += index * stride;
    }
  }
}

template <typename W>
__global__ void GatherKernel(const W* a, W* out, const int64_t* starts, Indexer slice,
                             int64_t slice_n, int64_t n) {
  FERRY_GRID_LOOP(i, n) {
    int64_t off[1];
    Offsets(slice, i % slice_n, off);
    out[i] = a[starts[i / slice_n] + off[0]];
  }
}

template <ScatterOp kOp, typename T>
__device__ __forceinline__ void CombineInto(T* dst, const T* src) {
  if constexpr (kOp == ScatterOp::kAssign) {
    *dst = *src;
  } else {
    using C = ComputeType<T>;
    const C have = Load(dst);
    const C v = Load(src);
    C result;
    if constexpr (kOp == ScatterOp::kAdd) {
      result = WrapAdd(have, v);
    } else if constexpr (kOp == ScatterOp::kProd) {
      result = WrapMul(have, v);
    } else if constexpr (kOp == ScatterOp::kMax) {
      result = (v > have || v != v) ? v : have;  // NaN propagates
    } else {
      result = (v < have || v != v) ? v : have;
    }
    Store(dst, result);
  }
}

template <ScatterOp kOp, typename T>
__global__ void ScatterKernel(T* out, const T* updates, const int64_t* starts, int64_t count,
                              Indexer slice, int64_t slice_n, bool serial) {
  if (serial) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (int64_t s = 0; s < count; ++s) {
      for (int64_t j = 0; j < slice_n; ++j) {
        int64_t off[1];
        Offsets(slice, j, off);
        CombineInto<kOp>(out + starts[s] + off[0], updates + s * slice_n + j);
      }
    }
    return;
  }
  FERRY_GRID_LOOP(j, slice_n) {
    int64_t off[1];
    Offsets(slice, j, off);
    for (int64_t s = 0; s < count; ++s) {
      CombineInto<kOp>(out + starts[s] + off[0], updates + s * slice_n + j);
    }
  }
}

template <ScatterOp kOp, typename T>
cudaError_t LaunchTyped(void* out, const void* updates, const int64_t* starts, int64_t count,
                        const Indexer& slice, int64_t slice_n, bool serial, cudaStream_t stream) {
  ScatterKernel<kOp, T><<<serial ? 1 : GridFor(slice_n), kThreads, 0, stream>>>(
      static_cast<T*>(out), static_cast<const T*>(updates), starts, count, slice, slice_n, serial);
  return cudaGetLastError();
}

template <ScatterOp kOp>
cudaError_t LaunchCombine(core::DType dtype, void* out, const void* updates, const int64_t* starts,
                          int64_t count, const Indexer& slice, int64_t slice_n, bool serial,
                          cudaStream_t stream) {
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return LaunchTyped<kOp, T>(out, updates, starts, count, slice, slice_n, serial, stream);
  });
}

}  // namespace

cudaError_t LaunchSliceStarts(const int64_t* values, const Indexer& ix, int64_t count, int64_t dim,
                              int64_t slice, int64_t stride, int64_t* starts,
                              unsigned long long* bad, cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  SliceStartsKernel<<<GridFor(count), kThreads, 0, stream>>>(values, ix, count, dim, slice, stride,
                                                             starts, bad);
  return cudaGetLastError();
}

cudaError_t LaunchGather(int element_size, const void* a, void* out, const int64_t* starts,
                         const Indexer& slice, int64_t slice_n, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (element_size) {
    case 1:
      GatherKernel<uint8_t><<<GridFor(n), kThreads, 0, stream>>>(
          static_cast<const uint8_t*>(a), static_cast<uint8_t*>(out), starts, slice, slice_n, n);
      break;
    case 2:
      GatherKernel<uint16_t><<<GridFor(n), kThreads, 0, stream>>>(
          static_cast<const uint16_t*>(a), static_cast<uint16_t*>(out), starts, slice, slice_n, n);
      break;
    case 4:
      GatherKernel<uint32_t><<<GridFor(n), kThreads, 0, stream>>>(
          static_cast<const uint32_t*>(a), static_cast<uint32_t*>(out), starts, slice, slice_n, n);
      break;
    default:
      GatherKernel<uint64_t><<<GridFor(n), kThreads, 0, stream>>>(
          static_cast<const uint64_t*>(a), static_cast<uint64_t*>(out), starts, slice, slice_n, n);
  }
  return cudaGetLastError();
}

cudaError_t LaunchScatter(ScatterOp op, core::DType dtype, void* out, const void* updates,
                          const int64_t* starts, int64_t count, const Indexer& slice,
                          int64_t slice_n, bool serial, cudaStream_t stream) {
  if (count == 0 || slice_n == 0) return cudaSuccess;
  switch (op) {
    case ScatterOp::kAssign:  // by element size: no arithmetic
      switch (core::SizeOf(dtype)) {
        case 1:
          return LaunchTyped<ScatterOp::kAssign, uint8_t>(out, updates, starts, count, slice,
                                                          slice_n, serial, stream);
        case 2:
          return LaunchTyped<ScatterOp::kAssign, uint16_t>(out, updates, starts, count, slice,
                                                           slice_n, serial, stream);
        case 4:
          return LaunchTyped<ScatterOp::kAssign, uint32_t>(out, updates, starts, count, slice,
                                                           slice_n, serial, stream);
        default:
          return LaunchTyped<ScatterOp::kAssign, uint64_t>(out, updates, starts, count, slice,
                                                           slice_n, serial, stream);
      }
    case ScatterOp::kAdd:
      return LaunchCombine<ScatterOp::kAdd>(dtype, out, updates, starts, count, slice, slice_n,
                                            serial, stream);
    case ScatterOp::kProd:
      return LaunchCombine<ScatterOp::kProd>(dtype, out, updates, starts, count, slice, slice_n,
                                             serial, stream);
    case ScatterOp::kMax:
      return LaunchCombine<ScatterOp::kMax>(dtype, out, updates, starts, count, slice, slice_n,
                                            serial, stream);
    case ScatterOp::kMin:
      return LaunchCombine<ScatterOp::kMin>(dtype, out, updates, starts, count, slice, slice_n,
                                            serial, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ferry::kernels::cuda
