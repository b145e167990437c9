#ifndef FERRY_KERNELS_CUDA_COMPLEX_CUH_
#define FERRY_KERNELS_CUDA_COMPLEX_CUH_

// complex64 in device code: a pair of floats laid out as float2 (real part, then imaginary
// part), with the arithmetic the complex kernels need, written out (no std::complex on the
// device). Complex<double> is the accumulator of sums and products, as the CPU's
// complex<double> (kernels/cpu/fold.h).

#include "kernels/cuda/device.cuh"

namespace ferry::kernels::cuda {

template <typename F>
struct alignas(2 * sizeof(F)) Complex {
  F re, im;

  Complex() = default;  // trivial: __shared__ arrays of it need no constructor
  __host__ __device__ constexpr Complex(F real, F imag = F(0)) : re(real), im(imag) {}
  template <typename G>
  __host__ __device__ explicit constexpr Complex(Complex<G> z) : re(F(z.re)), im(F(z.im)) {}
};

using Complex64 = Complex<float>;  // the stored element of complex64

template <typename T>
inline constexpr bool kIsComplex =
    std::is_same_v<T, Complex<float>> || std::is_same_v<T, Complex<double>>;

template <typename F>
__device__ __forceinline__ Complex<F> operator+(Complex<F> a, Complex<F> b) {
  return {a.re + b.re, a.im + b.im};
}
template <typename F>
__device__ __forceinline__ Complex<F> operator-(Complex<F> a, Complex<F> b) {
  return {a.re - b.re, a.im - b.im};
}
template <typename F>
__device__ __forceinline__ Complex<F> operator-(Complex<F> a) {
  return {-a.re, -a.im};
}
// The textbook product, as GCC's complex multiply for finite values.
template <typename F>
__device__ __forceinline__ Complex<F> operator*(Complex<F> a, Complex<F> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
template <typename F>
__device__ __forceinline__ Complex<F> operator*(Complex<F> a, F b) {
  return {a.re * b, a.im * b};
}
// Smith's quotient (no overflow of |b|^2 for large divisors); where that gives NaN in both
// parts, the infinities and zeros of C99's Annex G (as GCC's __divsc3, the CPU's): a
// nonzero number over zero, an infinity over a finite number, a finite one over an infinity.
template <typename F>
__device__ __forceinline__ Complex<F> operator/(Complex<F> a, Complex<F> b) {
  Complex<F> q;
  if (fabs(b.re) >= fabs(b.im)) {
    const F r = b.im / b.re, d = b.re + b.im * r;
    q = {(a.re + a.im * r) / d, (a.im - a.re * r) / d};
  } else {
    const F r = b.re / b.im, d = b.im + b.re * r;
    q = {(a.re * r + a.im) / d, (a.im * r - a.re) / d};
  }
  if (!isnan(q.re) || !isnan(q.im)) return q;
  const F inf = F(INFINITY);
  if (b.re == F(0) && b.im == F(0) && (!isnan(a.re) || !isnan(a.im))) {
    const F signed_inf = copysign(inf, b.re);
    return {signed_inf * a.re, signed_inf * a.im};
  }
  if ((isinf(a.re) || isinf(a.im)) && isfinite(b.re) && isfinite(b.im)) {
    const F x = copysign(isinf(a.re) ? F(1) : F(0), a.re);
    const F y = copysign(isinf(a.im) ? F(1) : F(0), a.im);
    return {inf * (x * b.re + y * b.im), inf * (y * b.re - x * b.im)};
  }
  if ((isinf(b.re) || isinf(b.im)) && isfinite(a.re) && isfinite(a.im)) {
    const F x = copysign(isinf(b.re) ? F(1) : F(0), b.re);
    const F y = copysign(isinf(b.im) ? F(1) : F(0), b.im);
    return {F(0) * (a.re * x + a.im * y), F(0) * (a.im * x - a.re * y)};
  }
  return q;
}
template <typename F>
__device__ __forceinline__ Complex<F> operator/(Complex<F> a, F b) {
  return {a.re / b, a.im / b};
}
template <typename F>
__device__ __forceinline__ bool operator==(Complex<F> a, Complex<F> b) {
  return a.re == b.re && a.im == b.im;
}
template <typename F>
__device__ __forceinline__ bool operator!=(Complex<F> a, Complex<F> b) {
  return !(a == b);
}

__device__ __forceinline__ Complex64 Conj(Complex64 z) { return {z.re, -z.im}; }

// exp(sign 2 pi i a / m) for 0 <= a < m: the fraction reduced to (-1/2, 1/2] of a turn
// exactly in integers, so that sincospif sees a small argument (and gives exact values at
// quarter turns).
__device__ __forceinline__ Complex64 Twiddle(int64_t a, int64_t m, float sign) {
  if (2 * a > m) a -= m;
  float s, c;
  sincospif(2.0f * static_cast<float>(a) / static_cast<float>(m), &s, &c);
  return {c, sign * s};
}

}  // namespace ferry::kernels::cuda

#endif  // FERRY_KERNELS_CUDA_COMPLEX_CUH_
