// convolution, channels last (kernels/conv_geometry.h): the lowering of x into the matrix
// cuBLASLt multiplies by the weights (kernels.cc), and a direct kernel for many small
// groups.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

// One thread per element of the lowered band: consecutive threads take consecutive input
// channels of a tap, so reads of x and writes of the band are both contiguous.
template <typename T>
__global__ void LowerKernel(const T* x, T* lowered, ConvGeometry g, int64_t row0, int64_t total) {
  const int64_t cin_g = g.c_in / g.groups;
  const int64_t depth = g.k_dim[0] * g.k_dim[1] * g.k_dim[2] * cin_g;
  const int64_t width = g.groups * depth;
  FERRY_GRID_LOOP(at, total) {
    const int64_t column = at % width;
    int64_t rest = row0 + at / width;
    const int64_t o2 = rest % g.out_dim[2];
    rest /= g.out_dim[2];
    const int64_t o1 = rest % g.out_dim[1];
    rest /= g.out_dim[1];
    const int64_t o0 = rest % g.out_dim[0];
    const int64_t n = rest / g.out_dim[0];
    const int64_t group = column / depth;
    const int64_t ci = column % cin_g;
    int64_t tap = column % depth / cin_g;
    const int64_t k2 = tap % g.k_dim[2];
    tap /= g.k_dim[2];
    const int64_t k1 = tap % g.k_dim[1];
    const int64_t k0 = tap / g.k_dim[1];
    const int64_t i0 = o0 * g.stride[0] - g.lo[0] + k0 * g.dil[0];
    const int64_t i1 = o1 * g.stride[1] - g.lo[1] + k1 * g.dil[1];
    const int64_t i2 = o2 * g.stride[2] - g.lo[2] + k2 * g.dil[2];
    if (i0 >= 0 && i0 < g.in_dim[0] && i1 >= 0 && i1 < g.in_dim[1] && i2 >= 0 && i2 < g.in_dim[2]) {
      lowered[at] = x[(((n * g.in_dim[0] + i0) * g.in_dim[1] + i1) * g.in_dim[2] + i2) * g.c_in +
                      group * cin_g + ci];
    } else {
      Store(lowered + at, ComputeType<T>(0));
    }
  }
}

template <typename T>
__global__ void DirectKernel(const T* x, const T* k, T* y, ConvGeometry s, int64_t total) {
  const int64_t cin_g = s.c_in / s.groups;
  const int64_t cout_g = s.c_out / s.groups;
  FERRY_GRID_LOOP(at, total) {
    int64_t rest = at;
    const int64_t co = rest % s.c_out;
    rest /= s.c_out;
    const int64_t o2 = rest % s.out_dim[2];
    rest /= s.out_dim[2];
    const int64_t o1 = rest % s.out_dim[1];
    rest /= s.out_dim[1];
    const int64_t o0 = rest % s.out_dim[0];
    const int64_t n = rest / s.out_dim[0];
    const int64_t g = co / cout_g;
    double acc = 0;
    for (int64_t k0 = 0; k0 < s.k_dim[0]; ++k0) {
      const int64_t i0 = o0 * s.stride[0] - s.lo[0] + k0 * s.dil[0];
      if (i0 < 0 || i0 >= s.in_dim[0]) continue;
      for (int64_t k1 = 0; k1 < s.k_dim[1]; ++k1) {
        const int64_t i1 = o1 * s.stride[1] - s.lo[1] + k1 * s.dil[1];
        if (i1 < 0 || i1 >= s.in_dim[1]) continue;
        for (int64_t k2 = 0; k2 < s.k_dim[2]; ++k2) {
          const int64_t i2 = o2 * s.stride[2] - s.lo[2] + k2 * s.dil[2];
          if (i2 < 0 || i2 >= s.in_dim[2]) continue;
          const T* xs = x +
                        (((n * s.in_dim[0] + i0) * s.in_dim[1] + i1) * s.in_dim[2] + i2) * s.c_in +
                        g * cin_g;
          const T* ks = k + (((co * s.k_dim[0] + k0) * s.k_dim[1] + k1) * s.k_dim[2] + k2) * cin_g;
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
  const int64_t total =
      rows * g.groups * g.k_dim[0] * g.k_dim[1] * g.k_dim[2] * (g.c_in / g.groups);
  if (total == 0) return cudaSuccess;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsFloating<T>) {
      return cudaErrorInvalidValue;  // refused by the caller
    } else {
      LowerKernel<T><<<GridFor(total), kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<T*>(lowered), g, row0, total);
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
