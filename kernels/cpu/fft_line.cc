// The line plan, the baseline build of the passes (16-byte vectors: SSE2, NEON) and the
// choice among the builds.

#include "kernels/cpu/fft_line.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "kernels/cpu/fft_passes.h"
#include "kernels/fft_plan.h"

namespace ferry::kernels::cpu {
namespace {

struct Baseline {
  static constexpr int kLanes = 2;
  typedef double Vec __attribute__((vector_size(16)));
};

using PassFn = void (*)(const FftPass&, int64_t, double, const double*, const double*, double*,
                        double*);

PassFn PassFor(SimdLevel level) {
#if defined(FERRY_X86_SIMD_BUILDS)
  level = std::min(level, BestSimdLevel());
  if (level == SimdLevel::kAvx512) return &FftPassAvx512;
  if (level == SimdLevel::kAvx2) return &FftPassAvx2;
#endif
  return &fft_passes::Pass<Baseline>;
}

// c[t] and the transform of conj(c) wrapped around: the factors of fft_plan.h's convolution.
std::shared_ptr<const BluesteinPlan> MakeBluesteinPlan(int64_t n, int64_t m, double sign) {
  auto plan = std::make_shared<BluesteinPlan>();
  plan->m = m;
  plan->forward = MakeFftLinePlan(m, false);
  plan->chirp_re.resize(n);
  plan->chirp_im.resize(n);
  plan->kernel_re.assign(m, 0.0);
  plan->kernel_im.assign(m, 0.0);
  for (int64_t t = 0; t < n; ++t) {
    const double angle =
        sign * M_PI * static_cast<double>(FftChirpTurn(t, n)) / static_cast<double>(n);
    plan->chirp_re[t] = std::cos(angle);
    plan->chirp_im[t] = std::sin(angle);
    const double scale = 1.0 / static_cast<double>(m);  // the inverse transform's
    plan->kernel_re[t] = plan->chirp_re[t] * scale;
    plan->kernel_im[t] = -plan->chirp_im[t] * scale;
    if (t > 0) {
      plan->kernel_re[m - t] = plan->kernel_re[t];
      plan->kernel_im[m - t] = plan->kernel_im[t];
    }
  }
  std::vector<double> scratch(plan->forward.ScratchSize());
  TransformLine(plan->forward, plan->kernel_re.data(), plan->kernel_im.data(), scratch.data(),
                BestSimdLevel());
  return plan;
}

// The convolution of fft_plan.h: a = x c, zero-padded to m, transformed, times the kernel's
// transform, transformed back (the inverse as the conjugate of the forward transform of the
// conjugate), times c.
void TransformBluestein(const BluesteinPlan& plan, int64_t n, double* re, double* im,
                        double* scratch, SimdLevel level) {
  const int64_t m = plan.m;
  double *a_re = scratch, *a_im = scratch + m, *inner_scratch = scratch + 2 * m;
  for (int64_t t = 0; t < n; ++t) {
    a_re[t] = re[t] * plan.chirp_re[t] - im[t] * plan.chirp_im[t];
    a_im[t] = re[t] * plan.chirp_im[t] + im[t] * plan.chirp_re[t];
  }
  std::fill(a_re + n, a_re + m, 0.0);
  std::fill(a_im + n, a_im + m, 0.0);
  TransformLine(plan.forward, a_re, a_im, inner_scratch, level);
  for (int64_t j = 0; j < m; ++j) {  // conj(a K)
    const double product_re = a_re[j] * plan.kernel_re[j] - a_im[j] * plan.kernel_im[j];
    const double product_im = a_re[j] * plan.kernel_im[j] + a_im[j] * plan.kernel_re[j];
    a_re[j] = product_re;
    a_im[j] = -product_im;
  }
  TransformLine(plan.forward, a_re, a_im, inner_scratch, level);
  for (int64_t k = 0; k < n; ++k) {  // c conj(a)
    re[k] = a_re[k] * plan.chirp_re[k] + a_im[k] * plan.chirp_im[k];
    im[k] = a_re[k] * plan.chirp_im[k] - a_im[k] * plan.chirp_re[k];
  }
}

// The doubles of a direct plan's tables for n: each pass's twiddles, an odd radix's DFT.
int64_t PassTableDoubles(int64_t n) {
  int64_t doubles = 0, s = 1;
  for (int64_t radix : FftRadices(n)) {
    doubles += 2 * radix * s + (radix != 2 && radix != 4 ? 2 * radix * radix : 0);
    s *= radix;
  }
  return doubles;
}

}  // namespace

int64_t FftLineBytes(int64_t n) {
  const int64_t m = FftBluesteinLength(n);
  // re and im; then the direct plan's tables and scratch, or Bluestein's chirp, kernel,
  // scratch and the m-point plan's tables.
  const int64_t doubles =
      2 * n + (m > 0 ? 2 * n + 2 * m + 4 * m + PassTableDoubles(m) : PassTableDoubles(n) + 2 * n);
  return doubles * static_cast<int64_t>(sizeof(double));
}

int64_t FftLinePlan::ScratchSize() const { return bluestein ? 4 * bluestein->m : 2 * n; }

FftLinePlan MakeFftLinePlan(int64_t n, bool inverse) {
  FftLinePlan plan;
  plan.n = n;
  plan.sign = inverse ? 1.0 : -1.0;
  if (const int64_t m = FftBluesteinLength(n); m > 0) {
    plan.bluestein = MakeBluesteinPlan(n, m, plan.sign);
    return plan;
  }
  int64_t s = 1;
  for (int64_t radix : FftRadices(n)) {
    FftPass pass;
    pass.radix = radix;
    pass.s = s;
    pass.twiddle_re.resize(radix * s);
    pass.twiddle_im.resize(radix * s);
    for (int64_t r = 0; r < radix; ++r) {
      for (int64_t k = 0; k < s; ++k) {
        const std::complex<double> w =
            std::polar(1.0, plan.sign * 2 * M_PI * static_cast<double>(r * k) /
                                static_cast<double>(s * radix));
        pass.twiddle_re[r * s + k] = w.real();
        pass.twiddle_im[r * s + k] = w.imag();
      }
    }
    if (radix != 2 && radix != 4) {
      pass.dft_cos.resize(radix * radix);
      pass.dft_sin.resize(radix * radix);
      for (int64_t q = 0; q < radix; ++q) {
        for (int64_t r = 0; r < radix; ++r) {
          const double angle = 2 * M_PI * static_cast<double>(r * q % radix) / radix;
          pass.dft_cos[q * radix + r] = std::cos(angle);
          pass.dft_sin[q * radix + r] = plan.sign * std::sin(angle);
        }
      }
    }
    plan.passes.push_back(std::move(pass));
    s *= radix;
  }
  return plan;
}

void TransformLine(const FftLinePlan& plan, double* re, double* im, double* scratch,
                   SimdLevel level) {
  if (plan.bluestein) return TransformBluestein(*plan.bluestein, plan.n, re, im, scratch, level);
  const PassFn pass_fn = PassFor(level);
  const int64_t n = plan.n;
  double *in_re = re, *in_im = im, *out_re = scratch, *out_im = scratch + n;
  for (const FftPass& pass : plan.passes) {
    pass_fn(pass, n, plan.sign, in_re, in_im, out_re, out_im);
    std::swap(in_re, out_re);
    std::swap(in_im, out_im);
  }
  if (in_re != re) {  // an odd number of passes: the result is in the scratch
    std::memcpy(re, in_re, n * sizeof(double));
    std::memcpy(im, in_im, n * sizeof(double));
  }
}

}  // namespace ferry::kernels::cpu
