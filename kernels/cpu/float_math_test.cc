#include "kernels/cpu/float_math.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// |got - exact| in units of the last place of `exact` rounded to float (subnormals' unit
// below the smallest normal); 0 when both are the same infinity or both NaN.
double UlpsFrom(float got, double exact) {
  if (std::isnan(exact)) return std::isnan(got) ? 0 : kInf;
  const float rounded = static_cast<float>(exact);
  if (std::isinf(rounded)) return got == rounded ? 0 : kInf;
  const float magnitude = std::fabs(rounded);
  const float ulp = magnitude < std::numeric_limits<float>::min()
                        ? std::numeric_limits<float>::denorm_min()
                        : std::nextafter(magnitude, kInf) - magnitude;
  return std::fabs(static_cast<double>(got) - exact) / ulp;
}

// Every 397th float, all signs and magnitudes (about 10.8 million).
template <typename Function, typename Exact>
double WorstUlps(Function function, Exact exact, float* worst_at) {
  double worst = 0;
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 397) {
    const float x = FloatFromBits(static_cast<int32_t>(static_cast<uint32_t>(bits)));
    const double ulps = UlpsFrom(function(x), exact(static_cast<double>(x)));
    if (ulps > worst) {
      worst = ulps;
      *worst_at = x;
    }
  }
  return worst;
}

TEST(FloatMathTest, ExpIsWithinOneUlpOfTheExactValue) {
  float at = 0;
  EXPECT_LE(WorstUlps([](float x) { return ExpF32(x); }, [](double x) { return std::exp(x); }, &at),
            1.0)
      << "at " << at;
}

TEST(FloatMathTest, TanhIsWithinOneAndAHalfUlpsOfTheExactValue) {
  float at = 0;
  EXPECT_LE(
      WorstUlps([](float x) { return TanhF32(x); }, [](double x) { return std::tanh(x); }, &at),
      1.5)
      << "at " << at;
}

TEST(FloatMathTest, LogIsWithinOneUlpOfTheExactValue) {
  float at = 0;
  EXPECT_LE(WorstUlps([](float x) { return LogF32(x); }, [](double x) { return std::log(x); }, &at),
            1.0)
      << "at " << at;
}

TEST(FloatMathTest, ErfIsWithinOneAndAHalfUlpsOfTheExactValue) {
  float at = 0;
  EXPECT_LE(WorstUlps([](float x) { return ErfF32(x); }, [](double x) { return std::erf(x); }, &at),
            1.5)
      << "at " << at;
}

// The exact gelu, erfc's form in double: no cancellation where 1 + erf nears 0.
TEST(FloatMathTest, GeluIsWithinSixUlpsOfTheExactValueEverywhere) {
  float at = 0;
  EXPECT_LE(WorstUlps([](float x) { return GeluF32(x); },
                      [](double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }, &at),
            6.0)
      << "at " << at;
  // Where 1 + erf(x / sqrt 2) in float keeps no digit: gelu(-8) is -5e-15.
  EXPECT_LE(UlpsFrom(GeluF32(-8.0f), 0.5 * -8.0 * std::erfc(8.0 / std::sqrt(2.0))), 2.0);
}

TEST(FloatMathTest, SinAndCosAreWithinOneUlpOfTheExactValue) {
  float at = 0;
  EXPECT_LE(WorstUlps([](float x) { return SinF32(x); }, [](double x) { return std::sin(x); }, &at),
            1.0)
      << "at " << at;
  EXPECT_LE(WorstUlps([](float x) { return CosF32(x); }, [](double x) { return std::cos(x); }, &at),
            1.0)
      << "at " << at;
}

// The reduction keeps r's digits where x is the float nearest a multiple of pi/2 (r as
// small as 1e-9 of x), up to the limit, and every angle a rotary embedding makes.
TEST(FloatMathTest, SinAndCosNearMultiplesOfHalfPiAndOfLargeAngles) {
  double worst = 0;
  float worst_at = 0;
  auto check = [&](float x) {
    for (double ulps : {UlpsFrom(SinF32(x), std::sin(static_cast<double>(x))),
                        UlpsFrom(CosF32(x), std::cos(static_cast<double>(x)))}) {
      if (ulps > worst) {
        worst = ulps;
        worst_at = x;
      }
    }
  };
  for (int64_t j = 1; j < (int64_t{1} << 23); j += 7) {
    const float nearest = static_cast<float>(static_cast<double>(j) * 1.5707963267948966);
    check(nearest);
    check(std::nextafter(nearest, kInf));
    check(-std::nextafter(nearest, 0.0f));
  }
  for (int64_t position = 0; position < 131072; position += 3) {
    for (float frequency : {1.0f, 0.31622776f, 1e-4f}) check(position * frequency);
  }
  EXPECT_LE(worst, 1.0) << "at " << worst_at;
}

TEST(FloatMathTest, SinAndCosOfTheEdges) {
  EXPECT_EQ(SinF32(0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(SinF32(-0.0f)));
  EXPECT_EQ(CosF32(-0.0f), 1.0f);
  EXPECT_EQ(SinF32(1e-30f), 1e-30f);
  EXPECT_EQ(SinF32(-2.5f), -SinF32(2.5f));
  EXPECT_EQ(CosF32(-2.5f), CosF32(2.5f));
  for (float x : {kInf, -kInf, std::numeric_limits<float>::quiet_NaN()}) {
    EXPECT_TRUE(std::isnan(SinF32(x))) << x;
    EXPECT_TRUE(std::isnan(CosF32(x))) << x;
  }
  // Past the limit the C library's; just below it the near path, both within an ulp.
  for (float x : {kTrigNearLimit, std::nextafter(kTrigNearLimit, 0.0f), 3e38f}) {
    EXPECT_LE(UlpsFrom(SinF32(x), std::sin(static_cast<double>(x))), 1.0) << x;
    EXPECT_LE(UlpsFrom(CosF32(x), std::cos(static_cast<double>(x))), 1.0) << x;
  }
}

TEST(FloatMathTest, ExpOfTheEdges) {
  EXPECT_EQ(ExpF32(0.0f), 1.0f);
  EXPECT_EQ(ExpF32(-0.0f), 1.0f);
  EXPECT_EQ(ExpF32(kInf), kInf);
  EXPECT_EQ(ExpF32(-kInf), 0.0f);
  EXPECT_TRUE(std::isnan(ExpF32(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(ExpF32(88.75f), kInf);             // past the largest float
  EXPECT_TRUE(std::isfinite(ExpF32(88.72f)));  // just below it
  EXPECT_EQ(ExpF32(-104.0f), 0.0f);
  // Subnormal results round once: e^-100 is 3.7e-44, about 26 units of 2^-149.
  EXPECT_LE(UlpsFrom(ExpF32(-100.0f), std::exp(-100.0)), 0.5);
  EXPECT_GT(ExpF32(-103.0f), 0.0f);
}

TEST(FloatMathTest, TanhOfTheEdges) {
  EXPECT_EQ(TanhF32(0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(TanhF32(-0.0f)));
  EXPECT_EQ(TanhF32(kInf), 1.0f);
  EXPECT_EQ(TanhF32(-kInf), -1.0f);
  EXPECT_EQ(TanhF32(20.0f), 1.0f);
  EXPECT_TRUE(std::isnan(TanhF32(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(TanhF32(1e-30f), 1e-30f);  // tanh x = x to float precision near 0
  EXPECT_EQ(TanhF32(-0.3f), -TanhF32(0.3f));
  EXPECT_EQ(TanhF32(-3.0f), -TanhF32(3.0f));
}

TEST(FloatMathTest, LogOfTheEdges) {
  EXPECT_EQ(LogF32(1.0f), 0.0f);
  EXPECT_EQ(LogF32(0.0f), -kInf);
  EXPECT_EQ(LogF32(-0.0f), -kInf);
  EXPECT_EQ(LogF32(kInf), kInf);
  EXPECT_TRUE(std::isnan(LogF32(-1.0f)));
  EXPECT_TRUE(std::isnan(LogF32(-kInf)));
  EXPECT_TRUE(std::isnan(LogF32(std::numeric_limits<float>::quiet_NaN())));
  const float smallest = std::numeric_limits<float>::denorm_min();  // 2^-149
  EXPECT_LE(UlpsFrom(LogF32(smallest), -149 * std::log(2.0)), 1.0);
  EXPECT_LE(UlpsFrom(LogF32(std::numeric_limits<float>::max()), std::log(3.4028234663852886e38)),
            1.0);
}

TEST(FloatMathTest, ErfAndGeluOfTheEdges) {
  EXPECT_EQ(ErfF32(0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(ErfF32(-0.0f)));
  EXPECT_EQ(ErfF32(kInf), 1.0f);
  EXPECT_EQ(ErfF32(-kInf), -1.0f);
  EXPECT_EQ(ErfF32(5.0f), 1.0f);
  EXPECT_EQ(ErfF32(-0.7f), -ErfF32(0.7f));
  EXPECT_EQ(ErfF32(-2.5f), -ErfF32(2.5f));
  EXPECT_TRUE(std::isnan(ErfF32(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(GeluF32(0.0f), 0.0f);
  EXPECT_EQ(GeluF32(kInf), kInf);
  EXPECT_EQ(GeluF32(20.0f), 20.0f);
  EXPECT_EQ(GeluF32(-20.0f), 0.0f);         // -1e-88: below the subnormals
  EXPECT_TRUE(std::isnan(GeluF32(-kInf)));  // -inf * 0, as x/2 (1 + erf(x / sqrt 2))
  EXPECT_TRUE(std::isnan(GeluF32(std::numeric_limits<float>::quiet_NaN())));
}

// The kernels' loops are vectorized (and built for each instruction set); each element is
// still the function's bits.
TEST(FloatMathTest, KernelsGiveTheFunctionsBitsForEveryElement) {
  std::vector<double> values;
  for (int i = 0; i < 5000; ++i) values.push_back((i - 2500) * 0.0173);
  values.push_back(std::numeric_limits<double>::infinity());
  values.push_back(-std::numeric_limits<double>::infinity());
  values.push_back(std::numeric_limits<double>::quiet_NaN());
  // Past sin and cos's near range (kTrigNearLimit) from about the 1304th on.
  for (int i = 0; i < 3000; ++i) values.push_back(i * 9973.1);
  values.push_back(2e7);  // a block with one argument past it
  for (int i = 0; i < 600; ++i) values.push_back(i * 0.5);
  const core::Shape shape = {static_cast<int64_t>(values.size())};
  const core::HostTensor x = testing::MakeHost(core::DType::kFloat32, shape, values);
  const float* in = reinterpret_cast<const float*>(x.data.data());
  using Function = float (*)(float);
  const std::pair<const char*, Function> ops[] = {
      {"exp", [](float v) { return ExpF32(v); }},
      {"tanh", [](float v) { return TanhF32(v); }},
      {"sigmoid", [](float v) { return 1.0f / (1.0f + ExpF32(-v)); }},
      {"log", [](float v) { return LogF32(v); }},
      {"erf", [](float v) { return ErfF32(v); }},
      {"gelu", [](float v) { return GeluF32(v); }},
      {"sin", [](float v) { return SinF32(v); }},
      {"cos", [](float v) { return CosF32(v); }},
  };
  for (const auto& [op, function] : ops) {
    absl::StatusOr<core::HostTensor> out = testing::RunOp(op, {x});
    ASSERT_TRUE(out.ok()) << out.status();
    const float* y = reinterpret_cast<const float*>(out->data.data());
    for (size_t i = 0; i < values.size(); ++i) {
      ASSERT_EQ(BitsOfFloat(y[i]), BitsOfFloat(function(in[i]))) << op << " of " << in[i];
    }
  }
}

}  // namespace
}  // namespace ferry::kernels::cpu
