#ifndef FERRY_KERNELS_CPU_FFT_LINE_H_
#define FERRY_KERNELS_CPU_FFT_LINE_H_

// One line of the CPU's fft: the Stockham passes of kernels/fft_plan.h on split real and
// imaginary parts, in double (the reference the CUDA kernels are held to). A pass whose s
// (the product of the radices before it) fills a vector runs kLanes values of k at once;
// the first pass (s = 1, no twiddles) runs kLanes values of j at once; the others, k by k.
// Built for the baseline, AVX2 and AVX-512 (fft_line_avx2.cc, fft_line_avx512.cc). A length
// with a large prime factor runs Bluestein's algorithm (fft_plan.h) on two m-point transforms.

#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/cpu/simd_level.h"

namespace ferry::kernels::cpu {

// A pass of radix R after passes whose radices multiply to s: twiddle w(r k, s R) at
// [r s + k], and for an odd radix the R-point DFT's cos and sign * sin of r q at [q R + r].
struct FftPass {
  int64_t radix = 0, s = 0;
  std::vector<double> twiddle_re, twiddle_im, dft_cos, dft_sin;
};

struct BluesteinPlan;

struct FftLinePlan {
  int64_t n = 0;
  double sign = -1;             // -1 forward, +1 inverse (unscaled)
  std::vector<FftPass> passes;  // empty when Bluestein's algorithm runs
  std::shared_ptr<const BluesteinPlan> bluestein;

  // The doubles of scratch TransformLine needs.
  int64_t ScratchSize() const;
};

// Bluestein's algorithm for n (fft_plan.h): the chirp c[t] for t < n, and the m-point
// forward transform of conj(c) wrapped around (t and m - t), over m.
struct BluesteinPlan {
  int64_t m = 0;
  FftLinePlan forward;  // m points
  std::vector<double> chirp_re, chirp_im, kernel_re, kernel_im;
};

FftLinePlan MakeFftLinePlan(int64_t n, bool inverse);

// The host bytes MakeFftLinePlan(n) takes, with a line's re, im and scratch: what a
// kernel reserves (scratch_budget.h) before it plans.
int64_t FftLineBytes(int64_t n);

// Transforms re[0..n) and im[0..n) in place (scratch: plan.ScratchSize() doubles) with
// `level`'s vectors, or BestSimdLevel()'s where this CPU lacks them.
void TransformLine(const FftLinePlan& plan, double* re, double* im, double* scratch,
                   SimdLevel level);

// The AVX2 and AVX-512 builds of one pass, which TransformLine picks among.
void FftPassAvx2(const FftPass& pass, int64_t n, double sign, const double* in_re,
                 const double* in_im, double* out_re, double* out_im);
void FftPassAvx512(const FftPass& pass, int64_t n, double sign, const double* in_re,
                   const double* in_im, double* out_re, double* out_im);

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_FFT_LINE_H_
