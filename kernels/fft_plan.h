#ifndef FERRY_KERNELS_FFT_PLAN_H_
#define FERRY_KERNELS_FFT_PLAN_H_

// How every backend computes a length-n DFT: a Stockham autosort FFT, one pass per radix R
// of n's factorization, reading one buffer and writing the other, so no bit reversal is
// needed. With s the product of the earlier passes' radices, pass R computes, for each
// j < n/R and k = j mod s,
//   v[r] = in[j + r n/R] * w(r k, s R) for r < R,   V = the R-point DFT of v,
//   out[(j / s) s R + k + q s] = V[q] for q < R,
// with w(a, m) = exp(sign 2 pi i a / m) (sign -1 forward, +1 inverse). A radix is 4, 2, 3,
// 5 or 7, or a larger prime factor, whose pass costs O(n R): a long prime length is slow.
// Plain C++: nvcc reads it too.

#include <cstdint>
#include <vector>

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

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_FFT_PLAN_H_
