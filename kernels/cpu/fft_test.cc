// The CPU fft kernel against the DFT's definition, summed naively in double, on lengths of
// every radix kind the plan makes (kernels/fft_plan.h).

#include <cmath>
#include <complex>
#include <cstring>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/fft_line.h"
#include "kernels/cpu/test_util.h"
#include "kernels/fft_plan.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using testing::Elements;
using ::testing::ElementsAre;
using testing::RunOp;

core::Attrs FftAttrs(int64_t axis, int64_t n, bool inverse, bool real) {
  return {{"axis", axis}, {"n", n}, {"inverse", int64_t{inverse}}, {"real", int64_t{real}}};
}

core::HostTensor ComplexHost(core::Shape shape, const std::vector<std::complex<float>>& values) {
  core::HostTensor host{{DType::kComplex64, std::move(shape)}, ""};
  host.data.resize(values.size() * sizeof(values[0]));
  std::memcpy(host.data.data(), values.data(), host.data.size());
  return host;
}

std::vector<std::complex<float>> RandomComplex(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::vector<std::complex<float>> values(n);
  for (auto& v : values) v = {dist(rng), dist(rng)};
  return values;
}

// sum_t x[t] exp(sign 2 pi i t k / n), scaled by 1/n for the inverse.
std::vector<std::complex<double>> NaiveDft(const std::vector<std::complex<float>>& x,
                                           bool inverse) {
  const int64_t n = static_cast<int64_t>(x.size());
  const double sign = inverse ? 1 : -1;
  std::vector<std::complex<double>> out(n);
  for (int64_t k = 0; k < n; ++k) {
    std::complex<double> sum = 0;
    for (int64_t t = 0; t < n; ++t) {
      sum += std::complex<double>(x[t]) * std::polar(1.0, sign * 2 * M_PI * ((t * k) % n) / n);
    }
    out[k] = inverse ? sum / static_cast<double>(n) : sum;
  }
  return out;
}

TEST(FftPlan, FactorsIntoTheRadicesItRuns) {
  EXPECT_THAT(FftRadices(1), ElementsAre());
  EXPECT_THAT(FftRadices(32), ElementsAre(4, 4, 2));
  EXPECT_THAT(FftRadices(210), ElementsAre(2, 3, 5, 7));
  EXPECT_THAT(FftRadices(11 * 11 * 13 * 4), ElementsAre(4, 11, 11, 13));
  EXPECT_THAT(FftRadices(97), ElementsAre(97));
}

TEST(FftPlan, LongPrimePassesGiveWayToBluesteinOnAPowerOfTwoAtLeast2nMinus1) {
  EXPECT_EQ(FftBluesteinLength(1), 0);
  EXPECT_EQ(FftBluesteinLength(1024), 0);
  EXPECT_EQ(FftBluesteinLength(7 * 7 * 5 * 3), 0);
  EXPECT_EQ(FftBluesteinLength(67), 0);     // a pass of 67 is cheaper than 3 of 256
  EXPECT_EQ(FftBluesteinLength(127), 256);  // 253 points at least
  EXPECT_EQ(FftBluesteinLength(2 * 127), 512);
  EXPECT_EQ(FftBluesteinLength(4 * 127), 0);  // the pass of 127 runs in vectors
  EXPECT_EQ(FftBluesteinLength(8 * 1021), 16384);
  EXPECT_EQ(FftBluesteinLength(65537), 262144);
}

TEST(FftPlan, ChirpExponentIsReducedExactly) {
  EXPECT_EQ(FftChirpTurn(0, 7), 0);
  EXPECT_EQ(FftChirpTurn(6, 7), 36 % 14);
  // t^2 past 2^63: the reduction is in unsigned 64 bits.
  const int64_t n = int64_t{3} << 30, t = n - 1;
  EXPECT_EQ(FftChirpTurn(t, n),
            static_cast<int64_t>(static_cast<unsigned __int128>(t) * t % (2 * n)));
}

TEST(Fft, EveryLengthMatchesTheDefinition) {
  for (int64_t n : {1,  2,  3,  4,  5,   6,   7,   8,   9,    12,   16,
                    30, 49, 64, 97, 121, 127, 210, 256, 1000, 1009, 4 * 331}) {
    for (bool inverse : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "n = " << n << (inverse ? " inverse" : ""));
      const std::vector<std::complex<float>> x = RandomComplex(n, static_cast<uint32_t>(n));
      absl::StatusOr<core::HostTensor> out =
          RunOp("fft", {ComplexHost({n}, x)}, FftAttrs(0, n, inverse, false));
      ASSERT_TRUE(out.ok()) << out.status();
      const std::vector<std::complex<float>> got = Elements<std::complex<float>>(*out);
      const std::vector<std::complex<double>> want = NaiveDft(x, inverse);
      // Each output sums n terms of magnitude <= sqrt(2) (over n for the inverse).
      const double scale = inverse ? 1.0 : static_cast<double>(n);
      for (int64_t k = 0; k < n; ++k) {
        EXPECT_LT(std::abs(std::complex<double>(got[k]) - want[k]), 1e-6 * scale) << "bin " << k;
      }
    }
  }
}

TEST(Fft, ScratchBeyondTheBudgetIsRefusedNotTaken) {
  // 65537 points: Bluestein on 262144, about 14 MiB of host scratch for 512 KiB of output
  // (as much input).
  const int64_t n = 65537;
  std::vector<std::complex<float>> impulse(n);
  impulse[0] = 1.0f;
  const core::HostTensor x = ComplexHost({n}, impulse);
  EXPECT_GT(FftLineBytes(n), 12 << 20);
  std::unique_ptr<Backend> small = MakeCpuBackend(4 << 20);
  absl::StatusOr<core::HostTensor> refused =
      testing::RunOn(*small, "fft", {x}, FftAttrs(0, n, false, false));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), ::testing::HasSubstr("[fft] scratch"));
  EXPECT_EQ(small->budget().in_use(), 0);
  // With room, the same transform runs (an impulse's spectrum is all ones) and gives the
  // scratch back.
  std::unique_ptr<Backend> roomy = MakeCpuBackend(64 << 20);
  absl::StatusOr<core::HostTensor> ran =
      testing::RunOn(*roomy, "fft", {x}, FftAttrs(0, n, false, false));
  ASSERT_TRUE(ran.ok()) << ran.status();
  const std::vector<std::complex<float>> spectrum = Elements<std::complex<float>>(*ran);
  for (int64_t k = 0; k < n; k += 4097) {
    EXPECT_NEAR(spectrum[k].real(), 1.0f, 1e-5) << "bin " << k;
    EXPECT_NEAR(spectrum[k].imag(), 0.0f, 1e-5) << "bin " << k;
  }
  EXPECT_EQ(roomy->budget().in_use(), 0);
}

TEST(Fft, AlongAMiddleAxisEachLineIsTransformed) {
  // (2, 3, 4): transform axis 1; line (o, :, i) of the output is the DFT of line (o, :, i).
  const std::vector<std::complex<float>> x = RandomComplex(24, 7);
  absl::StatusOr<core::HostTensor> out =
      RunOp("fft", {ComplexHost({2, 3, 4}, x)}, FftAttrs(1, 3, false, false));
  ASSERT_TRUE(out.ok()) << out.status();
  const std::vector<std::complex<float>> got = Elements<std::complex<float>>(*out);
  for (int o = 0; o < 2; ++o) {
    for (int i = 0; i < 4; ++i) {
      std::vector<std::complex<float>> line;
      for (int t = 0; t < 3; ++t) line.push_back(x[o * 12 + t * 4 + i]);
      const std::vector<std::complex<double>> want = NaiveDft(line, false);
      for (int k = 0; k < 3; ++k) {
        EXPECT_LT(std::abs(std::complex<double>(got[o * 12 + k * 4 + i]) - want[k]), 1e-5);
      }
    }
  }
}

TEST(Fft, RealTransformsKeepHalfTheSpectrumAndComeBack) {
  for (int64_t n : {1, 2, 7, 8, 15}) {
    SCOPED_TRACE(::testing::Message() << "n = " << n);
    std::vector<double> signal(n);
    for (int64_t t = 0; t < n; ++t) signal[t] = std::sin(1.0 + 0.7 * t) + 0.1 * t;
    const core::HostTensor x = testing::MakeHost(DType::kFloat32, {n}, signal);
    absl::StatusOr<core::HostTensor> spectrum = RunOp("fft", {x}, FftAttrs(0, n, false, true));
    ASSERT_TRUE(spectrum.ok()) << spectrum.status();
    ASSERT_EQ(spectrum->type.shape, core::Shape{n / 2 + 1});
    std::vector<std::complex<float>> as_complex(signal.begin(), signal.end());
    const std::vector<std::complex<double>> want = NaiveDft(as_complex, false);
    const std::vector<std::complex<float>> got = Elements<std::complex<float>>(*spectrum);
    for (int64_t k = 0; k <= n / 2; ++k) {
      EXPECT_LT(std::abs(std::complex<double>(got[k]) - want[k]), 1e-5 * n) << "bin " << k;
    }
    absl::StatusOr<core::HostTensor> back = RunOp("fft", {*spectrum}, FftAttrs(0, n, true, true));
    ASSERT_TRUE(back.ok()) << back.status();
    const std::vector<double> restored = testing::Values(*back);
    for (int64_t t = 0; t < n; ++t) EXPECT_NEAR(restored[t], signal[t], 1e-5) << "t = " << t;
  }
}

}  // namespace
}  // namespace ferry::kernels::cpu
