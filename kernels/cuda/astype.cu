// astype, and the conversion other families use to bring inputs to one compute dtype.
// dst may be src (in-place reuse needs equal shape and bytes, so equal element sizes):
// each thread reads element i before writing it. complex64 to a real dtype takes the real
// part (to bool: either part not zero); a real dtype to complex64 gives a zero imaginary
// part, as kernels/cpu/astype.cc.

#include "kernels/cuda/complex.cuh"
#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <typename From, typename To>
__global__ void CastKernel(const From* src, To* dst, int64_t n) {
  DenseMap(n, dst, src, [](ComputeType<From> v) { return ConvertTo<To>(v); });
}

template <typename To>
__global__ void FromComplexKernel(const Complex64* src, To* dst, int64_t n) {
  DenseMap(n, dst, src, [](Complex64 z) -> ComputeType<To> {
    if constexpr (std::is_same_v<To, bool>) {
      return z.re != 0.0f || z.im != 0.0f;
    } else {
      return ConvertTo<To>(z.re);
    }
  });
}

template <typename From>
__global__ void ToComplexKernel(const From* src, Complex64* dst, int64_t n) {
  DenseMap(n, dst, src, [](ComputeType<From> v) { return Complex64(static_cast<float>(v), 0.0f); });
}

}  // namespace

cudaError_t LaunchCast(core::DType from, const void* src, core::DType to, void* dst, int64_t n,
                       cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (from == to) {
    return cudaMemcpyAsync(dst, src, static_cast<size_t>(n) * core::SizeOf(to),
                           cudaMemcpyDeviceToDevice, stream);
  }
  if (from == core::DType::kComplex64) {
    return DispatchDType(to, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      FromComplexKernel<To><<<GridFor(PacksOf(n, kPack<Complex64, To>)), kThreads, 0, stream>>>(
          static_cast<const Complex64*>(src), static_cast<To*>(dst), n);
      return cudaGetLastError();
    });
  }
  if (to == core::DType::kComplex64) {
    return DispatchDType(from, [&](auto from_tag) {
      using From = typename decltype(from_tag)::type;
      ToComplexKernel<From><<<GridFor(PacksOf(n, kPack<From, Complex64>)), kThreads, 0, stream>>>(
          static_cast<const From*>(src), static_cast<Complex64*>(dst), n);
      return cudaGetLastError();
    });
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
