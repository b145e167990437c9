// The line plan, the baseline build of the passes (16-byte vectors: SSE2, NEON) and the
// choice among the builds.

#include "kernels/cpu/fft_line.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <cstring>
#include <utility>

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

}  // namespace

FftLinePlan MakeFftLinePlan(int64_t n, bool inverse) {
  FftLinePlan plan;
  plan.n = n;
  plan.sign = inverse ? 1.0 : -1.0;
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
