// One line's transform at every instruction set this CPU has, against the DFT's definition
// summed naively in double: the first pass's vectors of j, later passes' vectors of k, and
// the values of k left over when s is no multiple of a vector; and Bluestein's algorithm
// (127, 2 x 127, 1009, 2 x 1009; 67 and 4 x 127 run their prime's pass).

#include "kernels/cpu/fft_line.h"

#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

TEST(FftLine, EveryBuildMatchesTheDefinition) {
  for (SimdLevel level : testing::SimdLevelsOfThisCpu()) {
    for (int64_t n : {1,   2,   3,   5,   8,   12,  16,  20,   36,   60,   64,   67,  125,
                      127, 128, 243, 254, 256, 343, 508, 1000, 1009, 1024, 1331, 2018}) {
      for (bool inverse : {false, true}) {
        SCOPED_TRACE(::testing::Message() << testing::SimdLevelName(level) << ", n = " << n
                                          << (inverse ? " inverse" : ""));
        std::mt19937 rng(static_cast<uint32_t>(n));
        std::uniform_real_distribution<double> uniform(-1, 1);
        const FftLinePlan plan = MakeFftLinePlan(n, inverse);
        std::vector<double> re(n), im(n), scratch(plan.ScratchSize());
        for (int64_t t = 0; t < n; ++t) {
          re[t] = uniform(rng);
          im[t] = uniform(rng);
        }
        const std::vector<double> x_re = re, x_im = im;
        TransformLine(plan, re.data(), im.data(), scratch.data(), level);
        const double sign = inverse ? 1 : -1;
        for (int64_t k = 0; k < n; ++k) {
          std::complex<double> want = 0;
          for (int64_t t = 0; t < n; ++t) {
            want += std::complex<double>(x_re[t], x_im[t]) *
                    std::polar(1.0, sign * 2 * M_PI * static_cast<double>((t * k) % n) / n);
          }
          ASSERT_LT(std::abs(std::complex<double>(re[k], im[k]) - want), 1e-12 * n) << "bin " << k;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ferry::kernels::cpu
