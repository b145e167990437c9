#ifndef FERRY_KERNELS_FFT_PLAN_H_
#define FERRY_KERNELS_FFT_PLAN_H_

// How every backend computes a length-n DFT: a Stockham autosort FFT, one pass per radix R
// of n's factorization, reading one buffer and writing the other, so no bit reversal is
// needed. With s the product of the earlier passes' radices, pass R computes, for each
// j < n/R and k = j mod s,
//   v[r] = in[j + r n/R] * w(r k, s R) for r < R,   V = the R-point DFT of v,
//   out[(j / s) s R + k + q s] = V[q] for q < R,
// with w(a, m) = exp(sign 2 pi i a / m) (sign -1 forward, +1 inverse). A radix is 4, 2, 3,
// 5 or 7, or a larger prime factor, whose pass costs O(n R). A length with a large prime
// factor runs Bluestein's algorithm instead (FftBluesteinLength), in O(n log n): with the
// chirp c[t] = w(t^2 / 2, n) (t k = (t^2 + k^2 - (k - t)^2) / 2),
//   X[k] = c[k] sum_t (x[t] c[t]) conj(c[k - t]),
// a convolution, computed as the product of two m-point transforms (m the power of two
// at least 2n - 1, so the circular convolution does not wrap onto the n bins kept).
// Plain C++: nvcc reads it too.

#include <cstdint>
#include <vector>

#include "core/host_device.h"

namespace ferry::kernels {

// One fft node's geometry: lines of the transformed axis, `outer` blocks of them `inner`
// apart (the product of the dims before and after the axis), n points each; the input has
// in_dim elements along the axis and the output out_dim (they differ for rfft and irfft).
struct FftProblem {
  int64_t outer, inner, n, in_dim, out_dim;
  bool inverse, real;
};

// n's radices, 4s first, then 2, 3, 5, 7, then the other prime factors ascending; none
// for n = 1.
inline std::vector<int64_t> FftRadices(int64_t n) {
  std::vector<int64_t> radices;
  for (int64_t r : {4, 2, 3, 5, 7}) {
    for (; n % r == 0; n /= r) radices.push_back(r);
  }
  for (int64_t p = 11; n > 1; p += 2) {
    if (p * p > n) p = n;  // what is left is prime
    for (; n % p == 0; n /= p) radices.push_back(p);
  }
  return radices;
}

// Bluestein's algorithm runs where a cost model, fitted to the CPU kernel's times for lengths
// with a prime factor of 67 to 4099 (2026-12-06), says it is cheaper: a pass of a prime radix
// R > 7 costs n R units, or kFftUnvectorizedPassCost n R while the radices before it
// multiply to less than 4 (too few k to fill vectors), and Bluestein kFftBluesteinCost
// m log2 m (three m-point transforms and the products). The other passes are left out.
inline constexpr double kFftUnvectorizedPassCost = 3.6;
inline constexpr double kFftBluesteinCost = 17;

// The convolution length m of Bluestein's algorithm for n, or 0 when n's passes run directly.
inline int64_t FftBluesteinLength(int64_t n) {
  double direct = 0;
  int64_t s = 1;
  for (int64_t radix : FftRadices(n)) {
    if (radix > 7) {
      direct += static_cast<double>(n) * static_cast<double>(radix) *
                (s < 4 ? kFftUnvectorizedPassCost : 1.0);
    }
    s *= radix;
  }
  if (direct == 0) return 0;
  int64_t m = 1, log2_m = 0;
  for (; m < 2 * n - 1; m *= 2) ++log2_m;
  return direct > kFftBluesteinCost * static_cast<double>(m) * static_cast<double>(log2_m) ? m : 0;
}

// The exponent a of the chirp c[t] = w(t^2 / 2, n) = w(a, 2n), a = t^2 mod 2n: reduced
// exactly in integers (t < n < 2^32), so the angle keeps its digits however long the line.
FERRY_HOST_DEVICE inline int64_t FftChirpTurn(int64_t t, int64_t n) {
  return static_cast<int64_t>(static_cast<uint64_t>(t) * static_cast<uint64_t>(t) %
                              static_cast<uint64_t>(2 * n));
}

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_FFT_PLAN_H_
