#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using testing::MakeHost;
using ::testing::Pointwise;
using testing::RunOp;
using testing::Values;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

std::vector<double> Unary(const std::string& op, const core::HostTensor& x) {
  absl::StatusOr<core::HostTensor> out = RunOp(op, {x});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? Values(*out) : std::vector<double>{};
}

TEST(Unary, KeepsShapeAndDType) {
  absl::StatusOr<core::HostTensor> out =
      RunOp("neg", {MakeHost(DType::kInt32, {2, 2}, {1, -2, 3, 0})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type, (core::TensorType{DType::kInt32, {2, 2}}));
  EXPECT_THAT(Values(*out), ElementsAre(-1, 2, -3, 0));
}

TEST(Unary, NegAbsReluOnFloats) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {4}, {-1.5, 0, 2, -0.25});
  EXPECT_THAT(Unary("neg", x), ElementsAre(1.5, 0, -2, 0.25));
  EXPECT_THAT(Unary("abs", x), ElementsAre(1.5, 0, 2, 0.25));
  EXPECT_THAT(Unary("relu", x), ElementsAre(0, 0, 2, 0));
}

TEST(Unary, IntegersWrapAtTheirRange) {
  const double min32 = std::numeric_limits<int32_t>::min();
  EXPECT_THAT(Unary("neg", MakeHost(DType::kInt32, {2}, {min32, 7})), ElementsAre(min32, -7));
  EXPECT_THAT(Unary("abs", MakeHost(DType::kInt32, {2}, {min32, -7})), ElementsAre(min32, 7));
  EXPECT_THAT(Unary("neg", MakeHost(DType::kUInt8, {2}, {1, 0})), ElementsAre(255, 0));
  EXPECT_THAT(Unary("relu", MakeHost(DType::kInt64, {3}, {-4, 0, 9})), ElementsAre(0, 0, 9));
}

TEST(Unary, MathFunctions) {
  const core::HostTensor x = MakeHost(DType::kFloat64, {3}, {0.0, 1.0, 4.0});
  EXPECT_THAT(Unary("exp", x), Pointwise(DoubleNear(1e-12), {1.0, M_E, std::exp(4.0)}));
  EXPECT_THAT(Unary("log", x), Pointwise(DoubleNear(1e-12), {-kInf, 0.0, std::log(4.0)}));
  EXPECT_THAT(Unary("sqrt", x), ElementsAre(0.0, 1.0, 2.0));
  EXPECT_THAT(Unary("rsqrt", x), ElementsAre(kInf, 1.0, 0.5));
  EXPECT_THAT(Unary("sin", x), Pointwise(DoubleNear(1e-12), {0.0, std::sin(1.0), std::sin(4.0)}));
  EXPECT_THAT(Unary("cos", x), Pointwise(DoubleNear(1e-12), {1.0, std::cos(1.0), std::cos(4.0)}));
  EXPECT_THAT(Unary("tanh", x),
              Pointwise(DoubleNear(1e-12), {0.0, std::tanh(1.0), std::tanh(4.0)}));
  EXPECT_THAT(Unary("erf", x),
              Pointwise(DoubleNear(1e-12), {0.0, 0.8427007929497149, 0.9999999845827421}));
}

TEST(Unary, SigmoidSaturatesWithoutNaN) {
  EXPECT_THAT(Unary("sigmoid", MakeHost(DType::kFloat32, {4}, {0, 2, -1000, 1000})),
              Pointwise(DoubleNear(1e-7), {0.5, 0.8807970779778823, 0.0, 1.0}));
}

TEST(Unary, GeluIsTheExactErfForm) {
  // 0.5 x (1 + erf(x / sqrt 2)), as MLX's nn.gelu.
  EXPECT_THAT(Unary("gelu", MakeHost(DType::kFloat64, {5}, {-3, -1, 0, 1, 2})),
              Pointwise(DoubleNear(1e-12), {-0.00404969409489031, -0.15865525393145707, 0.0,
                                            0.8413447460685429, 1.9544997361036416}));
}

TEST(Unary, IntegersComputeInFloat32) {
  absl::StatusOr<core::HostTensor> out = RunOp("sqrt", {MakeHost(DType::kInt32, {3}, {0, 4, 9})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(*out), ElementsAre(0, 2, 3));
  out = RunOp("exp", {MakeHost(DType::kBool, {2}, {0, 1})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(*out), Pointwise(DoubleNear(1e-6), {1.0, M_E}));
}

TEST(Unary, HalfPrecisionComputesInFloatAndRounds) {
  // exp(1) = 2.71828...: float16 holds 2.71875, bfloat16 2.71875 as well (8 bits: 2.71875).
  absl::StatusOr<core::HostTensor> half = RunOp("exp", {MakeHost(DType::kFloat16, {2}, {1, 0})});
  ASSERT_TRUE(half.ok()) << half.status();
  EXPECT_EQ(half->type.dtype, DType::kFloat16);
  EXPECT_THAT(Values(*half), ElementsAre(2.71875, 1.0));
  absl::StatusOr<core::HostTensor> bf = RunOp("neg", {MakeHost(DType::kBFloat16, {2}, {1.5, -3})});
  ASSERT_TRUE(bf.ok()) << bf.status();
  EXPECT_THAT(Values(*bf), ElementsAre(-1.5, 3));
  EXPECT_THAT(Unary("sqrt", MakeHost(DType::kBFloat16, {1}, {2})), ElementsAre(1.4140625));
}

TEST(Unary, NaNPassesThrough) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {1}, {kNaN});
  for (const char* op : {"neg", "abs", "relu", "exp", "sqrt", "tanh", "sigmoid", "gelu"}) {
    EXPECT_TRUE(std::isnan(Unary(op, x)[0])) << op;
  }
  EXPECT_TRUE(std::isnan(Unary("log", MakeHost(DType::kFloat32, {1}, {-1}))[0]));
}

TEST(Unary, ScalarsAndEmptyArrays) {
  absl::StatusOr<core::HostTensor> scalar = RunOp("abs", {MakeHost(DType::kFloat32, {}, {-2})});
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->type.shape, core::Shape{});
  EXPECT_THAT(Values(*scalar), ElementsAre(2));
  absl::StatusOr<core::HostTensor> empty = RunOp("exp", {MakeHost(DType::kInt32, {0, 3}, {})});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->type, (core::TensorType{DType::kFloat32, {0, 3}}));
}

// ---- part A -------------------------------------------------------------------------

TEST(UnaryPartA, LogAndExpVariants) {
  const core::HostTensor x = MakeHost(DType::kFloat64, {4}, {0, 1e-10, 1, 100});
  EXPECT_THAT(Unary("log1p", x), Pointwise(DoubleNear(1e-15), {0.0, 9.9999999995e-11, std::log(2.0),
                                                               std::log(101.0)}));
  EXPECT_THAT(Unary("expm1", x),
              Pointwise(DoubleNear(1e-15), {0.0, 1.00000000005e-10, M_E - 1, std::expm1(100.0)}));
  EXPECT_THAT(Unary("log2", MakeHost(DType::kFloat32, {4}, {1, 8, 0.5, 0})),
              ElementsAre(0, 3, -1, -kInf));
  EXPECT_THAT(Unary("log10", MakeHost(DType::kInt32, {3}, {1, 1000, 10})), ElementsAre(0, 3, 1));
}

TEST(UnaryPartA, RoundingHalfToEven) {
  const core::HostTensor x =
      MakeHost(DType::kFloat32, {8}, {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.6, -2.4});
  EXPECT_THAT(Unary("round", x), ElementsAre(-2, -2, -0.0, 0, 2, 2, 3, -2));
  EXPECT_THAT(Unary("floor", x), ElementsAre(-3, -2, -1, 0, 1, 2, 2, -3));
  EXPECT_THAT(Unary("ceil", x), ElementsAre(-2, -1, -0.0, 1, 2, 3, 3, -2));
  // Integers are whole: kept as they are, dtype too.
  absl::StatusOr<core::HostTensor> ints = RunOp("floor", {MakeHost(DType::kInt64, {2}, {-7, 5})});
  ASSERT_TRUE(ints.ok()) << ints.status();
  EXPECT_EQ(ints->type.dtype, DType::kInt64);
  EXPECT_THAT(Values(*ints), ElementsAre(-7, 5));
  // float16 and bfloat16 compute in float and keep their dtype.
  EXPECT_THAT(Unary("round", MakeHost(DType::kFloat16, {3}, {0.5, 1.5, -3.25})),
              ElementsAre(0, 2, -3));
  EXPECT_THAT(Unary("ceil", MakeHost(DType::kBFloat16, {2}, {1.25, -1.25})), ElementsAre(2, -1));
}

TEST(UnaryPartA, SquareAndSign) {
  EXPECT_THAT(Unary("square", MakeHost(DType::kFloat32, {3}, {-3, 0.5, 0})),
              ElementsAre(9, 0.25, 0));
  // Integers wrap: 65536^2 = 2^32 is 0 in int32.
  EXPECT_THAT(Unary("square", MakeHost(DType::kInt32, {3}, {-4, 65536, 46341})),
              ElementsAre(16, 0, -2147479015));
  EXPECT_THAT(Unary("square", MakeHost(DType::kBool, {2}, {0, 1})), ElementsAre(0, 1));
  EXPECT_THAT(Unary("sign", MakeHost(DType::kFloat32, {4}, {-2.5, 0, 7, -0.0})),
              ElementsAre(-1, 0, 1, 0));
  EXPECT_TRUE(std::isnan(Unary("sign", MakeHost(DType::kFloat32, {1}, {kNaN}))[0]));
  EXPECT_THAT(Unary("sign", MakeHost(DType::kInt32, {3}, {-9, 0, 3})), ElementsAre(-1, 0, 1));
  EXPECT_THAT(Unary("sign", MakeHost(DType::kUInt8, {2}, {0, 200})), ElementsAre(0, 1));
}

TEST(UnaryPartA, PredicatesGiveBoolForEveryDType) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {4}, {kNaN, kInf, -kInf, 0});
  absl::StatusOr<core::HostTensor> nan = RunOp("isnan", {x});
  ASSERT_TRUE(nan.ok()) << nan.status();
  EXPECT_EQ(nan->type, (core::TensorType{DType::kBool, {4}}));
  EXPECT_THAT(Values(*nan), ElementsAre(1, 0, 0, 0));
  EXPECT_THAT(Unary("isinf", x), ElementsAre(0, 1, 1, 0));
  EXPECT_THAT(Unary("logical_not", x), ElementsAre(0, 0, 0, 1));
  EXPECT_THAT(Unary("isnan", MakeHost(DType::kFloat16, {2}, {kNaN, 1})), ElementsAre(1, 0));
  EXPECT_THAT(Unary("isinf", MakeHost(DType::kBFloat16, {2}, {-kInf, 1})), ElementsAre(1, 0));
  EXPECT_THAT(Unary("isnan", MakeHost(DType::kInt32, {2}, {0, 1})), ElementsAre(0, 0));
  EXPECT_THAT(Unary("logical_not", MakeHost(DType::kInt64, {3}, {0, -1, 5})), ElementsAre(1, 0, 0));
  EXPECT_THAT(Unary("logical_not", MakeHost(DType::kBool, {2}, {0, 1})), ElementsAre(1, 0));
}

TEST(UnaryPartA, BitwiseInvert) {
  EXPECT_THAT(Unary("bitwise_invert", MakeHost(DType::kInt32, {3}, {0, 5, -1})),
              ElementsAre(-1, -6, 0));
  EXPECT_THAT(Unary("bitwise_invert", MakeHost(DType::kUInt8, {2}, {0, 15})),
              ElementsAre(255, 240));
  EXPECT_THAT(Unary("bitwise_invert", MakeHost(DType::kBool, {2}, {0, 1})), ElementsAre(1, 0));
  absl::StatusOr<core::HostTensor> refused =
      RunOp("bitwise_invert", {MakeHost(DType::kFloat32, {1}, {1})});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().message(),
            "[bitwise_invert] needs an integer or bool input, got float32");
}

TEST(UnaryPartA, ScalarsAndEmptyArrays) {
  EXPECT_THAT(Unary("round", MakeHost(DType::kFloat64, {}, {3.5})), ElementsAre(4));
  absl::StatusOr<core::HostTensor> empty = RunOp("isinf", {MakeHost(DType::kFloat32, {2, 0}, {})});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->type, (core::TensorType{DType::kBool, {2, 0}}));
}

}  // namespace
}  // namespace ferry::kernels::cpu
