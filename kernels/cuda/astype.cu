// astype, and the conversion other families use to bring inputs to one compute dtype.
// dst may be src (in-place reuse needs equal shape and bytes, so equal element sizes):
// each thread reads element i before writing it.

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <typename From, typename To>
__global__ void CastKernel(const From* src, To* dst, int64_t n) {
  DenseMap(n, dst, src, [](ComputeType<From> v) { return ConvertTo<To>(v); });
}

}  // namespace

cudaError_t LaunchCast(core::DType from, const void* src, core::DType to, void* dst, int64_t n,
                       cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (from == to) {
    return cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * core::SizeOf(to),
                           cudaMemcpyDeviceToDevice, stream);
  }
  return DispatchDType(from, [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    return DispatchDType(to, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      CastKernel<From, To><<<GridFor(PacksOf(n, kPack<From, To>)), kThreads, 0, stream>>>(
          static_cast<const From*>(src), static_cast<To*>(dst), n);
      return cudaGetLastError();
    });
  });
}

}  // namespace ferry::kernels::cuda
