// full (one element's bytes everywhere) and arange (start + i * step in double, then
// astype's rules), as kernels/cpu/generators.cc.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <typename W>
__global__ void FillKernel(W value, W* dst, int64_t n) {
  FERRY_GRID_LOOP(i, n) { dst[i] = value; }
}

template <typename T>
__global__ void ArangeKernel(double start, double step, T* dst, int64_t n) {
  FERRY_GRID_LOOP(i, n) { Store(dst + i, ConvertTo<T>(start + static_cast<double>(i) * step)); }
}

}  // namespace

cudaError_t LaunchFill(int element_size, uint64_t element_bits, void* dst, int64_t n,
                       cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (element_size) {
    case 1:
      FillKernel<<<GridFor(n), kThreads, 0, stream>>>(static_cast<uint8_t>(element_bits),
                                                      static_cast<uint8_t*>(dst), n);
      break;
    case 2:
      FillKernel<<<GridFor(n), kThreads, 0, stream>>>(static_cast<uint16_t>(element_bits),
                                                      static_cast<uint16_t*>(dst), n);
      break;
    case 4:
      FillKernel<<<GridFor(n), kThreads, 0, stream>>>(static_cast<uint32_t>(element_bits),
                                                      static_cast<uint32_t*>(dst), n);
      break;
    default:
      FillKernel<<<GridFor(n), kThreads, 0, stream>>>(element_bits, static_cast<uint64_t*>(dst), n);
  }
  return cudaGetLastError();
}

cudaError_t LaunchArange(core::DType dtype, double start, double step, void* dst, int64_t n,
                         cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  return DispatchDType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    ArangeKernel<T><<<GridFor(n), kThreads, 0, stream>>>(start, step, static_cast<T*>(dst), n);
    return cudaGetLastError();
  });
}

}  // namespace ferry::kernels::cuda
