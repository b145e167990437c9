#ifndef FERRY_KERNELS_CPU_FFT_PASSES_H_
#define FERRY_KERNELS_CPU_FFT_PASSES_H_

// The Stockham pass (fft_line.h), a template over `Isa`: compiled once per instruction set,
// at the baseline in fft_line.cc and in fft_line_avx2.cc / _avx512.cc after their
// `#pragma GCC target`. `Isa` names kLanes and a vector Vec of kLanes doubles. The
// butterflies are templates over `Lanes` too: Isa for kLanes values of k (or j) at once,
// OneLane<Isa> for one.

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "kernels/cpu/fft_line.h"
#include "kernels/cpu/simd_memory.h"

namespace ferry::kernels::cpu::fft_passes {

#define FERRY_FFT_INLINE __attribute__((always_inline)) inline

// Isa's one-value counterpart (a template over Isa, so each build has its own).
template <class Isa>
struct OneLane {
  static constexpr int kLanes = 1;
  using Vec = double;
};

template <class Lanes>
struct Cx {
  typename Lanes::Vec re, im;
};

template <class Lanes>
FERRY_FFT_INLINE Cx<Lanes> Add(Cx<Lanes> a, Cx<Lanes> b) {
  return {a.re + b.re, a.im + b.im};
}
template <class Lanes>
FERRY_FFT_INLINE Cx<Lanes> Sub(Cx<Lanes> a, Cx<Lanes> b) {
  return {a.re - b.re, a.im - b.im};
}
template <class Lanes>
FERRY_FFT_INLINE Cx<Lanes> Mul(Cx<Lanes> a, Cx<Lanes> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}

// out[q] = the R-point DFT of v (v is overwritten for an odd radix). kRadix is R when the
// caller knows it (2 or 4: the arrays then stay in registers), else 0.
template <class Lanes, int kRadix>
FERRY_FFT_INLINE void Butterfly(const FftPass& pass, double sign, Cx<Lanes>* v, Cx<Lanes>* out) {
  const int64_t radix = kRadix != 0 ? kRadix : pass.radix;
  if (radix == 2) {
    out[0] = Add(v[0], v[1]);
    out[1] = Sub(v[0], v[1]);
  } else if (radix == 4) {
    const Cx<Lanes> even = Add(v[0], v[2]), odd = Sub(v[0], v[2]), sum13 = Add(v[1], v[3]);
    const Cx<Lanes> diff13 = Sub(v[1], v[3]);
    const Cx<Lanes> turned = {-sign * diff13.im, sign * diff13.re};  // w(1, 4) diff13
    out[0] = Add(even, sum13);
    out[1] = Add(odd, turned);
    out[2] = Sub(even, sum13);
    out[3] = Sub(odd, turned);
  } else {
    // An odd radix: v[r] and v[R - r] meet the same cosine and opposite sines, so bins q and
    // R - q share their sums (half the products of the plain R x R DFT).
    const int64_t half = radix / 2;
    Cx<Lanes> total = v[0];
    for (int64_t r = 1; r <= half; ++r) {
      const Cx<Lanes> sum = Add(v[r], v[radix - r]);
      total = Add(total, sum);
      v[radix - r] = Sub(v[r], v[radix - r]);
      v[r] = sum;
    }
    out[0] = total;
    for (int64_t q = 1; q <= half; ++q) {
      const double* cos_row = pass.dft_cos.data() + q * radix;
      const double* sin_row = pass.dft_sin.data() + q * radix;
      Cx<Lanes> even = v[0], odd = {typename Lanes::Vec{}, typename Lanes::Vec{}};
      for (int64_t r = 1; r <= half; ++r) {
        even.re += v[r].re * cos_row[r];
        even.im += v[r].im * cos_row[r];
        odd.re += v[radix - r].re * sin_row[r];
        odd.im += v[radix - r].im * sin_row[r];
      }
      const Cx<Lanes> turned = {-odd.im, odd.re};  // i odd
      out[q] = Add(even, turned);
      out[radix - q] = Sub(even, turned);
    }
  }
}

// The butterflies of j = block + k for Lanes::kLanes values of k from k: twiddled inputs
// from in[j + r m], results to out[block R + k + q s].
template <class Lanes, int kRadix>
FERRY_FFT_INLINE void TwiddledButterflies(const FftPass& pass, int64_t m, double sign,
                                          int64_t block, int64_t k, const double* in_re,
                                          const double* in_im, double* out_re, double* out_im,
                                          Cx<Lanes>* v, Cx<Lanes>* bins) {
  const int64_t radix = kRadix != 0 ? kRadix : pass.radix, s = pass.s, j = block + k;
  Cx<Lanes> v_here[kRadix != 0 ? kRadix : 1], bins_here[kRadix != 0 ? kRadix : 1];
  if (kRadix != 0) {  // in registers
    v = v_here;
    bins = bins_here;
  }
  v[0] = {LoadVector<Lanes>(in_re + j), LoadVector<Lanes>(in_im + j)};
  for (int64_t r = 1; r < radix; ++r) {
    const Cx<Lanes> x = {LoadVector<Lanes>(in_re + j + r * m),
                         LoadVector<Lanes>(in_im + j + r * m)};
    const Cx<Lanes> w = {LoadVector<Lanes>(pass.twiddle_re.data() + r * s + k),
                         LoadVector<Lanes>(pass.twiddle_im.data() + r * s + k)};
    v[r] = Mul(x, w);
  }
  Butterfly<Lanes, kRadix>(pass, sign, v, bins);
  const int64_t base = block * radix + k;
  for (int64_t q = 0; q < radix; ++q) {
    StoreVector<Lanes>(out_re + base + q * s, bins[q].re);
    StoreVector<Lanes>(out_im + base + q * s, bins[q].im);
  }
}

// R values of Cx<Lanes>, 64-byte aligned (std::vector's allocator need not align them to the
// vector registers' width).
template <class Lanes>
struct CxArray {
  explicit CxArray(int64_t size)
      : data(static_cast<Cx<Lanes>*>(
            std::aligned_alloc(64, (size * sizeof(Cx<Lanes>) + 63) / 64 * 64))) {}
  ~CxArray() { std::free(data); }
  CxArray(const CxArray&) = delete;
  CxArray& operator=(const CxArray&) = delete;
  Cx<Lanes>* data;
};

template <class Isa, int kRadix>
void PassOfRadix(const FftPass& pass, int64_t n, double sign, const double* in_re,
                 const double* in_im, double* out_re, double* out_im) {
  using One = OneLane<Isa>;
  constexpr int kLanes = Isa::kLanes;
  const int64_t radix = kRadix != 0 ? kRadix : pass.radix, s = pass.s, m = n / radix;
  CxArray<Isa> v(radix), bins(radix);
  CxArray<One> v1(radix), bins1(radix);
  if (s < kLanes && kLanes % s == 0 && m % kLanes == 0) {
    // Too few values of k for a vector: kLanes values of j at once instead (lane l has
    // k = l mod s, the same twiddles for every such vector), each lane's bins stored apart.
    CxArray<Isa> twiddles(radix);
    for (int64_t r = 0; r < radix; ++r) {
      for (int l = 0; l < kLanes; ++l) {
        twiddles.data[r].re[l] = pass.twiddle_re[r * s + l % s];
        twiddles.data[r].im[l] = pass.twiddle_im[r * s + l % s];
      }
    }
    for (int64_t j = 0; j < m; j += kLanes) {
      Cx<Isa> v_here[kRadix != 0 ? kRadix : 1], bins_here[kRadix != 0 ? kRadix : 1];
      Cx<Isa>* vj = kRadix != 0 ? v_here : v.data;  // in registers for a known radix
      Cx<Isa>* bj = kRadix != 0 ? bins_here : bins.data;
      vj[0] = {LoadVector<Isa>(in_re + j), LoadVector<Isa>(in_im + j)};
      for (int64_t r = 1; r < radix; ++r) {
        const Cx<Isa> x = {LoadVector<Isa>(in_re + j + r * m), LoadVector<Isa>(in_im + j + r * m)};
        vj[r] = s == 1 ? x : Mul(x, twiddles.data[r]);
      }
      Butterfly<Isa, kRadix>(pass, sign, vj, bj);
      for (int l = 0; l < kLanes; ++l) {
        const int64_t k = l % s, base = (j + l - k) * radix + k;
        for (int64_t q = 0; q < radix; ++q) {
          out_re[base + q * s] = bj[q].re[l];
          out_im[base + q * s] = bj[q].im[l];
        }
      }
    }
    return;
  }
  for (int64_t block = 0; block < m; block += s) {
    int64_t k = 0;
    for (; k + kLanes <= s; k += kLanes) {
      TwiddledButterflies<Isa, kRadix>(pass, m, sign, block, k, in_re, in_im, out_re, out_im,
                                       v.data, bins.data);
    }
    for (; k < s; ++k) {
      TwiddledButterflies<One, kRadix>(pass, m, sign, block, k, in_re, in_im, out_re, out_im,
                                       v1.data, bins1.data);
    }
  }
}

template <class Isa>
void Pass(const FftPass& pass, int64_t n, double sign, const double* in_re, const double* in_im,
          double* out_re, double* out_im) {
  switch (pass.radix) {
    case 2:
      return PassOfRadix<Isa, 2>(pass, n, sign, in_re, in_im, out_re, out_im);
    case 4:
      return PassOfRadix<Isa, 4>(pass, n, sign, in_re, in_im, out_re, out_im);
    default:
      return PassOfRadix<Isa, 0>(pass, n, sign, in_re, in_im, out_re, out_im);
  }
}

#undef FERRY_FFT_INLINE

}  // namespace ferry::kernels::cpu::fft_passes

#endif  // FERRY_KERNELS_CPU_FFT_PASSES_H_
