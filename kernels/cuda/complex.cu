// The parts of complex64 numbers and their conjugate (kernels/cpu/complex.cc).

#include "kernels/cuda/complex.cuh"
#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {
namespace {

template <ComplexPart kPart, typename O>
__global__ void PartKernel(const Complex64* x, O* y, int64_t n) {
  DenseMap(n, y, x, [](Complex64 z) {
    if constexpr (kPart == ComplexPart::kReal) {
      return z.re;
    } else if constexpr (kPart == ComplexPart::kImag) {
      return z.im;
    } else {
      return Conj(z);
    }
  });
}

template <ComplexPart kPart, typename O>
cudaError_t Launch(const void* x, void* y, int64_t n, cudaStream_t stream) {
  PartKernel<kPart, O><<<GridFor(PacksOf(n, kPack<Complex64>)), kThreads, 0, stream>>>(
      static_cast<const Complex64*>(x), static_cast<O*>(y), n);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchComplexPart(ComplexPart part, const void* x, void* y, int64_t n,
                              cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  switch (part) {
    case ComplexPart::kReal:
      return Launch<ComplexPart::kReal, float>(x, y, n, stream);
    case ComplexPart::kImag:
      return Launch<ComplexPart::kImag, float>(x, y, n, stream);
    case ComplexPart::kConjugate:
      return Launch<ComplexPart::kConjugate, Complex64>(x, y, n, stream);
  }
  return cudaErrorInvalidValue;
}

}  // namespace ferry::kernels::cuda
