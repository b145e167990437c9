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
  // 16-bit products past int's range (uint16 would promote to int and overflow: UBSan's
  // finding under the graph fuzz target), and powers, which multiply the same way.
  EXPECT_THAT(Values(Binary("mul", MakeHost(DType::kUInt16, {1}, {50689}),
                            MakeHost(DType::kUInt16, {1}, {50689}))),
              ElementsAre(35841));
  EXPECT_THAT(Values(Binary("mul", MakeHost(DType::kInt16, {1}, {-20000}),
                            MakeHost(DType::kInt16, {1}, {20000}))),
              ElementsAre(31744));
  EXPECT_THAT(Values(Binary("pow", MakeHost(DType::kUInt16, {1}, {53952}),
                            MakeHost(DType::kUInt16, {1}, {2}))),
              ElementsAre(36864));
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

// ---- part A -------------------------------------------------------------------------

std::vector<double> BinaryValues(const std::string& op, const core::HostTensor& a,
                                 const core::HostTensor& b) {
  return Values(Binary(op, a, b));
}

TEST(BinaryPartA, Comparisons) {
  const core::HostTensor a = MakeHost(DType::kFloat32, {4}, {1, 2, 3, kNaN});
  const core::HostTensor b = MakeHost(DType::kInt32, {1}, {2});
  const core::HostTensor ne = Binary("not_equal", a, b);
  EXPECT_EQ(ne.type, (core::TensorType{DType::kBool, {4}}));
  EXPECT_THAT(Values(ne), ElementsAre(1, 0, 1, 1));
  EXPECT_THAT(BinaryValues("less_equal", a, b), ElementsAre(1, 1, 0, 0));
  EXPECT_THAT(BinaryValues("greater_equal", a, b), ElementsAre(0, 1, 1, 0));
}

TEST(BinaryPartA, Arctan2CoversAllQuadrants) {
  const core::HostTensor y = MakeHost(DType::kFloat64, {4}, {1, 1, -1, 0});
  const core::HostTensor x = MakeHost(DType::kFloat64, {4}, {1, -1, -1, -1});
  EXPECT_THAT(BinaryValues("arctan2", y, x),
              Pointwise(DoubleNear(1e-15), {M_PI / 4, 3 * M_PI / 4, -3 * M_PI / 4, M_PI}));
  const core::HostTensor ints =
      Binary("arctan2", MakeHost(DType::kInt32, {1}, {0}), MakeHost(DType::kInt32, {1}, {1}));
  EXPECT_EQ(ints.type.dtype, DType::kFloat32);
}

TEST(BinaryPartA, LogAddExpIsStable) {
  const core::HostTensor a = MakeHost(DType::kFloat32, {5}, {0, 1000, -kInf, kInf, kNaN});
  const core::HostTensor b = MakeHost(DType::kFloat32, {5}, {0, 1000, -kInf, 1, 0});
  const std::vector<double> out = BinaryValues("logaddexp", a, b);
  EXPECT_NEAR(out[0], std::log(2.0), 1e-7);
  EXPECT_NEAR(out[1], 1000 + std::log(2.0), 1e-4);
  EXPECT_EQ(out[2], -kInf);
  EXPECT_EQ(out[3], kInf);
  EXPECT_TRUE(std::isnan(out[4]));
  // float16 computes in float: log(e^0 + e^0) = 0.693..., rounded to 0.6933594.
  EXPECT_THAT(BinaryValues("logaddexp", MakeHost(DType::kFloat16, {1}, {0}),
                           MakeHost(DType::kFloat16, {1}, {0})),
              ElementsAre(0.693359375));
}

TEST(BinaryPartA, FloorDivideAndRemainderFollowNumPySigns) {
  // np.floor_divide / np.remainder of [7, -7, 7, -7] by [2, 2, -2, -2].
  const core::HostTensor a = MakeHost(DType::kInt32, {4}, {7, -7, 7, -7});
  const core::HostTensor b = MakeHost(DType::kInt32, {4}, {2, 2, -2, -2});
  EXPECT_THAT(BinaryValues("floor_divide", a, b), ElementsAre(3, -4, -4, 3));
  EXPECT_THAT(BinaryValues("remainder", a, b), ElementsAre(1, 1, -1, -1));
  const core::HostTensor af = MakeHost(DType::kFloat32, {4}, {7.5, -7.5, 7.5, -7.5});
  const core::HostTensor bf = MakeHost(DType::kFloat32, {4}, {2, 2, -2, -2});
  EXPECT_THAT(BinaryValues("floor_divide", af, bf), ElementsAre(3, -4, -4, 3));
  EXPECT_THAT(BinaryValues("remainder", af, bf), ElementsAre(1.5, 0.5, -0.5, -1.5));
  // Integer division by zero gives 0 (NumPy warns and gives 0); the most negative value
  // divided by -1 wraps instead of trapping.
  const double min32 = std::numeric_limits<int32_t>::min();
  const core::HostTensor edge_a = MakeHost(DType::kInt32, {3}, {5, min32, min32});
  const core::HostTensor edge_b = MakeHost(DType::kInt32, {3}, {0, -1, 3});
  EXPECT_THAT(BinaryValues("floor_divide", edge_a, edge_b), ElementsAre(0, min32, -715827883));
  EXPECT_THAT(BinaryValues("remainder", edge_a, edge_b), ElementsAre(0, 0, 1));
  // Floating division by zero: inf and NaN as IEEE says.
  const std::vector<double> fz = BinaryValues("floor_divide", MakeHost(DType::kFloat32, {1}, {1}),
                                              MakeHost(DType::kFloat32, {1}, {0}));
  EXPECT_EQ(fz[0], kInf);
  EXPECT_TRUE(std::isnan(BinaryValues("remainder", MakeHost(DType::kFloat32, {1}, {1}),
                                      MakeHost(DType::kFloat32, {1}, {0}))[0]));
  // Unsigned: plain.
  EXPECT_THAT(BinaryValues("remainder", MakeHost(DType::kUInt8, {2}, {200, 7}),
                           MakeHost(DType::kUInt8, {1}, {6})),
              ElementsAre(2, 1));
}

TEST(BinaryPartA, BitwiseOps) {
  const core::HostTensor a = MakeHost(DType::kInt32, {3}, {12, -1, 0});
  const core::HostTensor b = MakeHost(DType::kInt32, {3}, {10, 5, 7});
  EXPECT_THAT(BinaryValues("bitwise_and", a, b), ElementsAre(8, 5, 0));
  EXPECT_THAT(BinaryValues("bitwise_or", a, b), ElementsAre(14, -1, 7));
  EXPECT_THAT(BinaryValues("bitwise_xor", a, b), ElementsAre(6, -6, 7));
  const core::HostTensor bools = Binary("bitwise_xor", MakeHost(DType::kBool, {2}, {1, 1}),
                                        MakeHost(DType::kBool, {2}, {0, 1}));
  EXPECT_EQ(bools.type.dtype, DType::kBool);
  EXPECT_THAT(Values(bools), ElementsAre(1, 0));
  // uint8 with int32 promotes to int32.
  const core::HostTensor mixed =
      Binary("bitwise_or", MakeHost(DType::kUInt8, {1}, {240}), MakeHost(DType::kInt32, {1}, {15}));
  EXPECT_EQ(mixed.type.dtype, DType::kInt32);
  EXPECT_THAT(Values(mixed), ElementsAre(255));
}

TEST(BinaryPartA, ShiftsOutOfRangeShiftEverythingOut) {
  const core::HostTensor a = MakeHost(DType::kInt32, {5}, {1, -8, -8, 1, 3});
  const core::HostTensor n = MakeHost(DType::kInt32, {5}, {31, 1, 40, -1, 0});
  EXPECT_THAT(BinaryValues("left_shift", a, n),
              ElementsAre(std::numeric_limits<int32_t>::min(), -16, 0, 0, 3));
  EXPECT_THAT(BinaryValues("right_shift", a, n), ElementsAre(0, -4, -1, 0, 3));
  EXPECT_THAT(BinaryValues("left_shift", MakeHost(DType::kUInt8, {2}, {255, 1}),
                           MakeHost(DType::kUInt8, {1}, {4})),
              ElementsAre(240, 16));
  EXPECT_THAT(BinaryValues("right_shift", MakeHost(DType::kUInt32, {1}, {4294967295.0}),
                           MakeHost(DType::kUInt32, {1}, {28})),
              ElementsAre(15));
}

TEST(BinaryPartA, RefusesWrongDTypes) {
  const core::HostTensor f = MakeHost(DType::kFloat32, {1}, {1});
  const core::HostTensor i = MakeHost(DType::kInt32, {1}, {1});
  const core::HostTensor t = MakeHost(DType::kBool, {1}, {1});
  auto message = [](const std::string& op, const core::HostTensor& a, const core::HostTensor& b) {
    absl::StatusOr<core::HostTensor> out = RunOp(op, {a, b});
    return out.ok() ? std::string("ok") : std::string(out.status().message());
  };
  EXPECT_EQ(message("bitwise_and", f, i),
            "[bitwise_and] needs integer or bool inputs, got float32 and int32");
  EXPECT_EQ(message("left_shift", t, t), "[left_shift] needs integer inputs, got bool and bool");
  EXPECT_EQ(message("remainder", t, t),
            "[remainder] needs numeric (not bool) inputs, got bool and bool");
  EXPECT_EQ(message("floor_divide", i, MakeHost(DType::kInt32, {2}, {1, 2})), "ok");
  EXPECT_EQ(message("not_equal", MakeHost(DType::kInt32, {2}, {1, 2}),
                    MakeHost(DType::kInt32, {3}, {1, 2, 3})),
            "[not_equal] shapes (2,) and (3,) cannot be broadcast together");
}

}  // namespace
}  // namespace ferry::kernels::cpu
