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

core::HostTensor Binary(const std::string& op, const core::HostTensor& a,
                        const core::HostTensor& b) {
  absl::StatusOr<core::HostTensor> out = RunOp(op, {a, b});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

TEST(Binary, AddBroadcastsARowOverAMatrix) {
  const core::HostTensor out = Binary("add", MakeHost(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
                                      MakeHost(DType::kFloat32, {3}, {10, 20, 30}));
  EXPECT_EQ(out.type, (core::TensorType{DType::kFloat32, {2, 3}}));
  EXPECT_THAT(Values(out), ElementsAre(11, 22, 33, 14, 25, 36));
}

TEST(Binary, BroadcastsBothWays) {
  // (2, 1) - (1, 3): every pair.
  const core::HostTensor out = Binary("sub", MakeHost(DType::kInt32, {2, 1}, {10, 20}),
                                      MakeHost(DType::kInt32, {1, 3}, {1, 2, 3}));
  EXPECT_EQ(out.type.shape, (core::Shape{2, 3}));
  EXPECT_THAT(Values(out), ElementsAre(9, 8, 7, 19, 18, 17));
  // A scalar on the left, and a column broadcast across a batch.
  EXPECT_THAT(Values(Binary("mul", MakeHost(DType::kFloat64, {}, {3}),
                            MakeHost(DType::kFloat64, {2, 2}, {1, 2, 3, 4}))),
              ElementsAre(3, 6, 9, 12));
  EXPECT_THAT(Values(Binary("add", MakeHost(DType::kInt64, {2, 2, 1}, {0, 10, 20, 30}),
                            MakeHost(DType::kInt64, {2}, {1, 2}))),
              ElementsAre(1, 2, 11, 12, 21, 22, 31, 32));
}

TEST(Binary, PromotesMixedDTypes) {
  const core::HostTensor out = Binary("add", MakeHost(DType::kInt32, {2}, {1, 2}),
                                      MakeHost(DType::kFloat32, {2}, {0.5, 0.25}));
  EXPECT_EQ(out.type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(out), ElementsAre(1.5, 2.25));
  const core::HostTensor wide = Binary("mul", MakeHost(DType::kUInt32, {1}, {4000000000.0}),
                                       MakeHost(DType::kInt32, {1}, {-1}));
  EXPECT_EQ(wide.type.dtype, DType::kInt64);
  EXPECT_THAT(Values(wide), ElementsAre(-4000000000.0));
}

TEST(Binary, DivisionIsAlwaysFloating) {
  const core::HostTensor out = Binary("div", MakeHost(DType::kInt32, {3}, {7, -7, 1}),
                                      MakeHost(DType::kInt32, {3}, {2, 2, 0}));
  EXPECT_EQ(out.type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(out), ElementsAre(3.5, -3.5, kInf));
}

TEST(Binary, IntegerPowerIsExact) {
  EXPECT_THAT(Values(Binary("pow", MakeHost(DType::kInt64, {4}, {3, -2, 10, 2}),
                            MakeHost(DType::kInt64, {4}, {4, 3, 15, 0}))),
              ElementsAre(81, -8, 1e15, 1));
  // Negative exponents truncate 1 / base^n toward zero.
  EXPECT_THAT(Values(Binary("pow", MakeHost(DType::kInt32, {4}, {2, 1, -1, -1}),
                            MakeHost(DType::kInt32, {4}, {-1, -5, -3, -2}))),
              ElementsAre(0, 1, -1, 1));
  EXPECT_THAT(Values(Binary("pow", MakeHost(DType::kFloat32, {2}, {2, 4}),
                            MakeHost(DType::kFloat32, {2}, {0.5, -1}))),
              Pointwise(DoubleNear(1e-6), {std::sqrt(2.0), 0.25}));
}

TEST(Binary, IntegerArithmeticWraps) {
  EXPECT_THAT(Values(Binary("add", MakeHost(DType::kInt32, {1}, {2147483647}),
                            MakeHost(DType::kInt32, {1}, {1}))),
              ElementsAre(-2147483648.0));
  EXPECT_THAT(
      Values(Binary("mul", MakeHost(DType::kUInt8, {1}, {16}), MakeHost(DType::kUInt8, {1}, {17}))),
      ElementsAre(16));
  EXPECT_THAT(
      Values(Binary("sub", MakeHost(DType::kUInt32, {1}, {0}), MakeHost(DType::kUInt32, {1}, {1}))),
      ElementsAre(4294967295.0));
}

TEST(Binary, MaximumAndMinimumPropagateNaN) {
  const core::HostTensor a = MakeHost(DType::kFloat32, {4}, {1, kNaN, 3, -0.5});
  const core::HostTensor b = MakeHost(DType::kFloat32, {4}, {2, 0, kNaN, -1});
  const std::vector<double> hi = Values(Binary("maximum", a, b));
  const std::vector<double> lo = Values(Binary("minimum", a, b));
  EXPECT_EQ(hi[0], 2);
  EXPECT_TRUE(std::isnan(hi[1]));
  EXPECT_TRUE(std::isnan(hi[2]));
  EXPECT_EQ(hi[3], -0.5);
  EXPECT_EQ(lo[0], 1);
  EXPECT_TRUE(std::isnan(lo[1]));
  EXPECT_TRUE(std::isnan(lo[2]));
  EXPECT_EQ(lo[3], -1);
}

TEST(Binary, ComparisonsGiveBool) {
  const core::HostTensor a = MakeHost(DType::kInt32, {4}, {1, 2, 3, 4});
  const core::HostTensor b = MakeHost(DType::kFloat32, {4}, {1, 2.5, 2.5, kNaN});
  const core::HostTensor eq = Binary("equal", a, b);
  EXPECT_EQ(eq.type.dtype, DType::kBool);
  EXPECT_THAT(testing::Elements<uint8_t>(eq), ElementsAre(1, 0, 0, 0));
  EXPECT_THAT(testing::Elements<uint8_t>(Binary("less", a, b)), ElementsAre(0, 1, 0, 0));
  EXPECT_THAT(testing::Elements<uint8_t>(Binary("greater", a, b)), ElementsAre(0, 0, 1, 0));
}

TEST(Binary, LogicalOpsTreatNonzeroAsTrue) {
  const core::HostTensor a = MakeHost(DType::kFloat32, {4}, {0, 0, 2, -1});
  const core::HostTensor b = MakeHost(DType::kInt32, {4}, {0, 5, 0, 7});
  EXPECT_THAT(testing::Elements<uint8_t>(Binary("logical_and", a, b)), ElementsAre(0, 0, 0, 1));
  EXPECT_THAT(testing::Elements<uint8_t>(Binary("logical_or", a, b)), ElementsAre(0, 1, 1, 1));
}

TEST(Binary, BoolArithmeticStaysBool) {
  const core::HostTensor a = MakeHost(DType::kBool, {4}, {0, 0, 1, 1});
  const core::HostTensor b = MakeHost(DType::kBool, {4}, {0, 1, 0, 1});
  const core::HostTensor sum = Binary("add", a, b);
  EXPECT_EQ(sum.type.dtype, DType::kBool);
  EXPECT_THAT(testing::Elements<uint8_t>(sum), ElementsAre(0, 1, 1, 1));
  EXPECT_THAT(testing::Elements<uint8_t>(Binary("mul", a, b)), ElementsAre(0, 0, 0, 1));
}

TEST(Binary, HalfPrecisionRoundsEachResult) {
  // 1 + 2^-11 is not a float16: the sum rounds to even, back to 1.
  const core::HostTensor out = Binary("add", MakeHost(DType::kFloat16, {3}, {1, 1, 1000}),
                                      MakeHost(DType::kFloat16, {3}, {0.00048828125, 0.5, 0.3}));
  EXPECT_EQ(out.type.dtype, DType::kFloat16);
  EXPECT_THAT(Values(out), ElementsAre(1, 1.5, 1000.5));
  const core::HostTensor bf = Binary("mul", MakeHost(DType::kBFloat16, {2}, {3, 1.5}),
                                     MakeHost(DType::kBFloat16, {2}, {1.0 / 3.0, 2}));
  EXPECT_THAT(Values(bf), ElementsAre(1, 3));
  // float16 with bfloat16 meet in float32.
  const core::HostTensor mixed =
      Binary("sub", MakeHost(DType::kFloat16, {1}, {1}), MakeHost(DType::kBFloat16, {1}, {0.25}));
  EXPECT_EQ(mixed.type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(mixed), ElementsAre(0.75));
}

TEST(Binary, EmptyAndScalarShapes) {
  const core::HostTensor empty = Binary("add", MakeHost(DType::kFloat32, {0, 3}, {}),
                                        MakeHost(DType::kFloat32, {3}, {1, 2, 3}));
  EXPECT_EQ(empty.type.shape, (core::Shape{0, 3}));
  EXPECT_TRUE(empty.data.empty());
  const core::HostTensor scalar =
      Binary("maximum", MakeHost(DType::kInt32, {}, {-3}), MakeHost(DType::kInt32, {}, {2}));
  EXPECT_EQ(scalar.type.shape, core::Shape{});
  EXPECT_THAT(Values(scalar), ElementsAre(2));
}

TEST(Binary, LongStridedBroadcastMatchesAnElementwiseLoop) {
  // A (64, 1, 33) by (17, 1) broadcast: no dimension merges, so every row is strided.
  std::vector<double> a(64 * 33), b(17);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<double>(i % 97);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<double>(i * 3);
  const std::vector<double> out = Values(Binary("sub", MakeHost(DType::kFloat64, {64, 1, 33}, a),
                                                MakeHost(DType::kFloat64, {17, 1}, b)));
  ASSERT_EQ(out.size(), 64u * 17 * 33);
  for (int i = 0; i < 64; ++i) {
    for (int j = 0; j < 17; ++j) {
      for (int k = 0; k < 33; ++k) {
        ASSERT_EQ(out[(i * 17 + j) * 33 + k], a[i * 33 + k] - b[j]) << i << " " << j << " " << k;
      }
    }
  }
}

}  // namespace
}  // namespace ferry::kernels::cpu
