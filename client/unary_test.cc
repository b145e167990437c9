// Elementwise functions of one array on the local device.

#include <cmath>
#include <cstdint>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

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

}  // namespace
}  // namespace ferry
