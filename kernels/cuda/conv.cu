// convolution, channels last (kernels/cpu/conv.cc): a direct kernel, one thread per output
// element, accumulating in double in the CPU's order, so both backends round alike.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <typename T>
__global__ void ConvKernel(const T* x, const T* k, T* y, ConvShape s, int64_t total) {
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

cudaError_t LaunchConvolution(core::DType dtype, const void* x, const void* k, void* y,
                              const ConvShape& shape, int64_t total, cudaStream_t stream) {
  if (total == 0) return cudaSuccess;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!kIsFloating<T>) {
      return cudaErrorInvalidValue;  // refused by the caller
    } else {
      ConvKernel<T><<<GridFor(total), kThreads, 0, stream>>>(
          static_cast<const T*>(x), static_cast<const T*>(k), static_cast<T*>(y), shape, total);
      return cudaGetLastError();
    }
  });
}

}  // namespace ferry::kernels::cuda
