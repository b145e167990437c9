// The fft's Stockham pass (fft_passes.h) built for AVX-512: 8 doubles per register.
// Called only on CPUs that have them (see BestSimdLevel).

#include "kernels/cpu/simd_level.h"

#if defined(FERRY_X86_SIMD_BUILDS)

// Every header before the pragma, which holds to the end of the file (templates are
// instantiated there), so only this file's own functions use AVX-512.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/cpu/fft_line.h"

#pragma GCC target("avx512f")

#include "kernels/cpu/fft_passes.h"

namespace ferry::kernels::cpu {
namespace {

struct Avx512 {
  static constexpr int kLanes = 8;
  typedef double Vec __attribute__((vector_size(64)));
};

}  // namespace

void FftPassAvx512(const FftPass& pass, int64_t n, double sign, const double* in_re,
                   const double* in_im, double* out_re, double* out_im) {
  fft_passes::Pass<Avx512>(pass, n, sign, in_re, in_im, out_re, out_im);
}

}  // namespace ferry::kernels::cpu

#endif
