// Elementwise functions of one array on the local device.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::Pointwise;

std::vector<float> Values(const Array& a) { return Array(a).to_vector<float>(); }

TEST(UnaryTest, SignOps) {
  Array x = from_host(std::vector<float>{-2, -0.5, 0, 3}, {4});
  EXPECT_THAT(Values(negative(x)), ElementsAre(2, 0.5, 0, -3));
  EXPECT_THAT(Values(-x), ElementsAre(2, 0.5, 0, -3));
  EXPECT_THAT(Values(abs(x)), ElementsAre(2, 0.5, 0, 3));
  EXPECT_THAT(Values(relu(x)), ElementsAre(0, 0, 0, 3));
  Array i = from_host(std::vector<int32_t>{-3, 4}, {2});
  EXPECT_EQ(abs(i).dtype(), int32);
  EXPECT_THAT(abs(i).to_vector<int32_t>(), ElementsAre(3, 4));
  EXPECT_THROW(negative(ones({2}, bool_)), Error);
}

TEST(UnaryTest, MathFunctions) {
  Array x = from_host(std::vector<float>{0, 1, 4}, {3});
  EXPECT_THAT(Values(exp(x)), Pointwise(FloatNear(1e-4), {1.0f, 2.7182817f, 54.59815f}));
  EXPECT_THAT(Values(sqrt(x)), ElementsAre(0, 1, 2));
  EXPECT_THAT(Values(rsqrt(from_host(std::vector<float>{4, 0.25}, {2}))),
              Pointwise(FloatNear(1e-6), {0.5f, 2.0f}));
  EXPECT_THAT(Values(log(from_host(std::vector<float>{1, std::exp(2.0f)}, {2}))),
              Pointwise(FloatNear(1e-6), {0.0f, 2.0f}));
  Array t = from_host(std::vector<float>{0, 0.5f * static_cast<float>(M_PI)}, {2});
  EXPECT_THAT(Values(sin(t)), Pointwise(FloatNear(1e-6), {0.0f, 1.0f}));
  EXPECT_THAT(Values(cos(t)), Pointwise(FloatNear(1e-6), {1.0f, 0.0f}));
}

TEST(UnaryTest, Activations) {
  Array x = from_host(std::vector<float>{-1, 0, 1}, {3});
  EXPECT_THAT(Values(tanh(x)), Pointwise(FloatNear(1e-6), {-0.7615942f, 0.0f, 0.7615942f}));
  EXPECT_THAT(Values(sigmoid(x)), Pointwise(FloatNear(1e-6), {0.26894142f, 0.5f, 0.7310586f}));
  EXPECT_THAT(Values(erf(x)), Pointwise(FloatNear(1e-6), {-0.8427008f, 0.0f, 0.8427008f}));
  // gelu(x) = x * Phi(x), the exact form.
  EXPECT_THAT(Values(gelu(x)), Pointwise(FloatNear(1e-6), {-0.15865526f, 0.0f, 0.8413447f}));
}

TEST(UnaryTest, IntegersComputeInFloat32) {
  Array i = from_host(std::vector<int32_t>{1, 4}, {2});
  EXPECT_EQ(sqrt(i).dtype(), float32);
  EXPECT_THAT(Values(sqrt(i)), ElementsAre(1, 2));
  Array d = from_host(std::vector<double>{4}, {1});
  EXPECT_EQ(sqrt(d).dtype(), float64);
}

// ---- part A -------------------------------------------------------------------------

TEST(UnaryPartATest, RoundingAndSign) {
  Array x = from_host(std::vector<float>{-2.5, -1.5, 0.5, 1.5, 2.5, 2.7}, {6});
  EXPECT_THAT(Values(round(x)), ElementsAre(-2, -2, 0, 2, 2, 3));
  EXPECT_THAT(Values(floor(x)), ElementsAre(-3, -2, 0, 1, 2, 2));
  EXPECT_THAT(Values(ceil(x)), ElementsAre(-2, -1, 1, 2, 3, 3));
  EXPECT_THAT(Values(sign(x)), ElementsAre(-1, -1, 1, 1, 1, 1));
  // round to decimals as MLX: round(x * 100) / 100, and to tens with negative decimals.
  Array d = from_host(std::vector<float>{1.234f, 15.0f}, {2});
  EXPECT_THAT(Values(round(d, 2)), Pointwise(FloatNear(1e-6), {1.23f, 15.0f}));
  EXPECT_THAT(Values(round(d, -1)), ElementsAre(0, 20));
  Array i = from_host(std::vector<int32_t>{-3, 0, 7}, {3});
  EXPECT_EQ(floor(i).dtype(), int32);
  EXPECT_THAT(sign(i).to_vector<int32_t>(), ElementsAre(-1, 0, 1));
  EXPECT_THAT(square(i).to_vector<int32_t>(), ElementsAre(9, 0, 49));
}

TEST(UnaryPartATest, LogsExpsAndReciprocal) {
  Array x = from_host(std::vector<float>{1, 8, 100}, {3});
  EXPECT_THAT(Values(log2(x)), Pointwise(FloatNear(1e-6), {0.0f, 3.0f, 6.643856f}));
  EXPECT_THAT(Values(log10(x)), Pointwise(FloatNear(1e-6), {0.0f, 0.90309f, 2.0f}));
  EXPECT_THAT(Values(log1p(x)), Pointwise(FloatNear(1e-5), {0.6931472f, 2.1972246f, 4.6151204f}));
  EXPECT_THAT(Values(expm1(from_host(std::vector<float>{0, 1e-7f}, {2}))),
              Pointwise(FloatNear(1e-12), {0.0f, 1e-7f}));
  Array r = reciprocal(from_host(std::vector<int32_t>{2, 4}, {2}));
  EXPECT_EQ(r.dtype(), float32);
  EXPECT_THAT(Values(r), ElementsAre(0.5, 0.25));
}

TEST(UnaryPartATest, PredicatesAndBitwiseInvert) {
  const float nan = std::nanf("");
  Array x = from_host(std::vector<float>{nan, INFINITY, 0, 1}, {4});
  EXPECT_EQ(isnan(x).dtype(), bool_);
  EXPECT_THAT(isnan(x).to_vector<bool>(), ElementsAre(true, false, false, false));
  EXPECT_THAT(isinf(x).to_vector<bool>(), ElementsAre(false, true, false, false));
  EXPECT_THAT(logical_not(x).to_vector<bool>(), ElementsAre(false, false, true, false));
  Array i = from_host(std::vector<int32_t>{0, 5}, {2});
  EXPECT_THAT((~i).to_vector<int32_t>(), ElementsAre(-1, -6));
  EXPECT_EQ(BuildError([&] { bitwise_invert(x); }),
            "[bitwise_invert] needs an integer or bool input, got float32");
}

TEST(UnaryPartATest, SiluAndSoftplus) {
  Array x = from_host(std::vector<float>{-1, 0, 2, 100}, {4});
  EXPECT_THAT(Values(silu(x)),
              Pointwise(FloatNear(1e-5), {-0.26894142f, 0.0f, 1.7615942f, 100.0f}));
  EXPECT_THAT(Values(softplus(x)),
              Pointwise(FloatNear(1e-5), {0.31326166f, 0.6931472f, 2.126928f, 100.0f}));
}

TEST(UnaryPartATest, HalfPrecisionAndNonContiguousInputs) {
  Array h = astype(from_host(std::vector<float>{0.5, 1.5, -2.5, 3.25}, {2, 2}), float16);
  Array rounded = round(transpose(h));  // reads a transposed view
  EXPECT_EQ(rounded.dtype(), float16);
  EXPECT_THAT(Values(astype(rounded, float32)), ElementsAre(0, -2, 2, 3));
  Array b = astype(from_host(std::vector<float>{1, 8, 64, 4}, {4}), bfloat16);
  Array every_other = slice(b, {0}, {4}, {2});
  EXPECT_EQ(log2(every_other).dtype(), bfloat16);
  EXPECT_THAT(Values(astype(log2(every_other), float32)), ElementsAre(0, 6));
}

}  // namespace
}  // namespace ferry
