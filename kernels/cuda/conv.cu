// convolution, channels last (kernels/conv_geometry.h): the lowering of x into the matrix
// cuBLASLt multiplies by the weights (kernels.cc), and a direct kernel for many small
// groups.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

// One thread per (row, tap) of the lowered band, copying the tap's channels of every group:
// they are contiguous in x and in the band, and the thread's index arithmetic (64-bit
// divisions, costly on a GPU) is paid once for them all rather than once per element.
template <typename T>
__global__ void LowerKernel(const T* x, T* lowered, ConvGeometry g, int64_t row0, int64_t pairs) {
  const int64_t cin_g = g.c_in / g.groups;
  const int64_t taps = g.k_dim[0] * g.k_dim[1] * g.k_dim[2];
  const int64_t depth = taps * cin_g;
  FERRY_GRID_LOOP(at, pairs) {
    const int64_t row = at / taps;
    const int64_t tap = at - row * taps;
    const ConvPosition p = PositionOfRow(g, row0 + row);
    const int64_t k2 = tap % g.k_dim[2];
    const int64_t k1 = tap / g.k_dim[2] % g.k_dim[1];
    const int64_t k0 = tap / (g.k_dim[2] * g.k_dim[1]);
    const int64_t from = TapOffset(g, p, k0, k1, k2);
    T* dst = lowered + row * g.groups * depth + tap * cin_g;
    for (int64_t group = 0; group < g.groups; ++group, dst += depth) {
      if (from < 0) {
        for (int64_t ci = 0; ci < cin_g; ++ci) Store(dst + ci, ComputeType<T>(0));
      } else {
        const T* src = x + from + group * cin_g;
        for (int64_t ci = 0; ci < cin_g; ++ci) dst[ci] = src[ci];
      }
    }
  }
}

template <typename T>
__global__ void DirectKernel(const T* x, const T* k, T* y, ConvGeometry g, int64_t total) {
  const int64_t cin_g = g.c_in / g.groups;
  const int64_t cout_g = g.c_out / g.groups;
  FERRY_GRID_LOOP(at, total) {
    const int64_t co = at % g.c_out;
    const ConvPosition p = PositionOfRow(g, at / g.c_out);
    const T* ks = k + co * g.k_dim[0] * g.k_dim[1] * g.k_dim[2] * cin_g;
    double acc = 0;
    for (int64_t k0 = 0; k0 < g.k_dim[0]; ++k0) {
      for (int64_t k1 = 0; k1 < g.k_dim[1]; ++k1) {
        for (int64_t k2 = 0; k2 < g.k_dim[2]; ++k2, ks += cin_g) {
          const int64_t from = TapOffset(g, p, k0, k1, k2);
          if (from < 0) continue;
          const T* xs = x + from + co / cout_g * cin_g;
          for (int64_t ci = 0; ci < cin_g; ++ci) {
            acc += static_cast<double>(Load(xs + ci)) * static_cast<double>(Load(ks + ci));
          }
        }
      }
    }
    Store(y + at, static_cast<ComputeType<T>>(acc));
  }
}

}  // namespace

cudaError_t LaunchConvolutionLowering(core::DType dtype, const void* x, void* lowered,
                                      const ConvGeometry& g, int64_t row0, int64_t rows,
                                      cudaStream_t stream) {
  const int64_t pairs = rows * g.k_dim[0] * g.k_dim[1] * g.k_dim[2];
  if (pairs == 0 || g.c_in == 0) return cudaSuccess;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsFloating<T>) {
      return cudaErrorInvalidValue;  // refused by the caller
    } else {
      LowerKernel<T><<<GridFor(pairs), kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(lowered), g, row0, pairs);
      return cudaGetLastError();
    }
  });
}

cudaError_t LaunchConvolution(core::DType dtype, const void* x, const void* k, void* y,
                              const ConvGeometry& g, cudaStream_t stream) {
  const int64_t total = g.batch * g.out_dim[0] * g.out_dim[1] * g.out_dim[2] * g.c_out;
  if (total == 0) return cudaSuccess;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsFloating<T>) {
      return cudaErrorInvalidValue;  // refused by the caller
    } else {
      DirectKernel<T><<<GridFor(total), kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<const T*>(k), static_cast<T*>(y), g, total);
      return cudaGetLastError();
    }
  });
}

}  // namespace ferry::kernels::cuda
