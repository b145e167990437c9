#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

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

core::HostTensor Reduce(const std::string& op, const core::HostTensor& x, std::vector<int64_t> axes,
                        bool keepdims = false) {
  absl::StatusOr<core::HostTensor> out =
      RunOp(op, {x}, {{"axes", std::move(axes)}, {"keepdims", int64_t{keepdims}}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

core::HostTensor Arg(const std::string& op, const core::HostTensor& x, int64_t axis,
                     bool keepdims = false) {
  absl::StatusOr<core::HostTensor> out =
      RunOp(op, {x}, {{"axis", axis}, {"keepdims", int64_t{keepdims}}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

// [[1, 2, 3], [4, 5, 6]]
core::HostTensor Matrix(DType dtype = DType::kFloat32) {
  return MakeHost(dtype, {2, 3}, {1, 2, 3, 4, 5, 6});
}

TEST(Reduce, SumOverEachAxisAndBoth) {
  const core::HostTensor rows = Reduce("sum", Matrix(), {0});
  EXPECT_EQ(rows.type, (core::TensorType{DType::kFloat32, {3}}));
  EXPECT_THAT(Values(rows), ElementsAre(5, 7, 9));
  const core::HostTensor cols = Reduce("sum", Matrix(), {1}, /*keepdims=*/true);
  EXPECT_EQ(cols.type.shape, (core::Shape{2, 1}));
  EXPECT_THAT(Values(cols), ElementsAre(6, 15));
  const core::HostTensor all = Reduce("sum", Matrix(), {0, 1});
  EXPECT_EQ(all.type.shape, core::Shape{});
  EXPECT_THAT(Values(all), ElementsAre(21));
  EXPECT_EQ(Reduce("sum", Matrix(), {0, 1}, true).type.shape, (core::Shape{1, 1}));
}

// Rows reduced over the last axis fold 8 at a time, and columns a row at a time into a row
// of outputs; each output still folds its elements in order, so both give the bits of the
// same values stored the other way round.
TEST(Reduce, RowsAndColumnsFoldInOrder) {
  std::mt19937 rng(3);
  // Magnitudes far apart, so that sums round and their order shows (in float64: a float32
  // result rounds the double sum again and hides it).
  std::uniform_real_distribution<double> value(-1, 1);
  std::uniform_int_distribution<int> exponent(-12, 12);
  for (int64_t n : {1, 5, 64, 301}) {
    for (int64_t rows : {1, 8, 13}) {
      std::vector<double> values(static_cast<size_t>(rows * n));
      for (double& v : values) v = value(rng) * std::pow(10.0, exponent(rng));
      std::vector<double> columns(values.size());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < n; ++i) columns[i * rows + r] = values[r * n + i];
      }
      for (DType dtype : {DType::kFloat32, DType::kFloat64}) {
        for (const char* op : {"sum", "mean", "prod", "max"}) {
          const std::vector<double> by_rows =
              Values(Reduce(op, MakeHost(dtype, {rows, n}, values), {1}));
          const std::vector<double> by_columns =
              Values(Reduce(op, MakeHost(dtype, {n, rows}, columns), {0}));
          ASSERT_EQ(by_rows.size(), static_cast<size_t>(rows));
          for (int64_t r = 0; r < rows; ++r) {
            EXPECT_EQ(by_rows[r], by_columns[r]) << op << " of " << rows << " rows of " << n
                                                 << ", row " << r << ", dtype " << int(dtype);
          }
        }
      }
    }
  }
}

TEST(Reduce, NoAxesReducesNothing) {
  EXPECT_THAT(Values(Reduce("sum", Matrix(), {})), ElementsAre(1, 2, 3, 4, 5, 6));
}

TEST(Reduce, ProdMeanMaxMin) {
  EXPECT_THAT(Values(Reduce("prod", Matrix(), {1})), ElementsAre(6, 120));
  EXPECT_THAT(Values(Reduce("mean", Matrix(), {0})), ElementsAre(2.5, 3.5, 4.5));
  EXPECT_THAT(Values(Reduce("max", Matrix(), {1})), ElementsAre(3, 6));
  EXPECT_THAT(Values(Reduce("min", Matrix(), {0})), ElementsAre(1, 2, 3));
}

TEST(Reduce, MiddleAxisOfARank3Array) {
  // (2, 3, 2): x[i, j, k] = 6 i + 2 j + k; summing j gives 18 i + 6 + 3 k.
  std::vector<double> x(12);
  for (int i = 0; i < 12; ++i) x[i] = i;
  EXPECT_THAT(Values(Reduce("sum", MakeHost(DType::kInt32, {2, 3, 2}, x), {1})),
              ElementsAre(6, 9, 24, 27));
  EXPECT_THAT(Values(Reduce("max", MakeHost(DType::kInt32, {2, 3, 2}, x), {0, 2})),
              ElementsAre(7, 9, 11));
}

TEST(Reduce, ResultDTypes) {
  const core::HostTensor count = Reduce("sum", MakeHost(DType::kBool, {4}, {1, 0, 1, 1}), {0});
  EXPECT_EQ(count.type.dtype, DType::kInt32);
  EXPECT_THAT(Values(count), ElementsAre(3));
  const core::HostTensor mean = Reduce("mean", Matrix(DType::kInt32), {1});
  EXPECT_EQ(mean.type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(mean), ElementsAre(2, 5));
  EXPECT_EQ(Reduce("max", Matrix(DType::kUInt8), {1}).type.dtype, DType::kUInt8);
}

TEST(Reduce, IntegerSumsWrap) {
  EXPECT_THAT(Values(Reduce("sum", MakeHost(DType::kInt32, {2}, {2147483647, 1}), {0})),
              ElementsAre(-2147483648.0));
  EXPECT_THAT(Values(Reduce("prod", MakeHost(DType::kInt32, {3}, {-65536, 65536, 3}), {0})),
              ElementsAre(0));
}

TEST(Reduce, FloatSumsAccumulateAccurately) {
  // A million copies of 0.1f: a float accumulator drifts by about 1%, double does not.
  const core::HostTensor x =
      MakeHost(DType::kFloat32, {1000000}, std::vector<double>(1000000, 0.1));
  EXPECT_THAT(Values(Reduce("sum", x, {0})), Pointwise(DoubleNear(1e-2), {100000.0}));
  EXPECT_THAT(Values(Reduce("mean", x, {0})), Pointwise(DoubleNear(1e-7), {0.1}));
}

TEST(Reduce, HalfPrecisionAccumulatesWide) {
  // 4096 ones in float16: each partial sum past 2048 is not representable, the total is.
  const core::HostTensor x = MakeHost(DType::kFloat16, {4096}, std::vector<double>(4096, 1));
  EXPECT_THAT(Values(Reduce("sum", x, {0})), ElementsAre(4096));
  EXPECT_THAT(Values(Reduce("max", MakeHost(DType::kBFloat16, {3}, {1, -2, 0.5}), {0})),
              ElementsAre(1));
}

TEST(Reduce, MaxAndMinPropagateNaN) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {2, 3}, {1, kNaN, 3, 4, 5, 6});
  const std::vector<double> hi = Values(Reduce("max", x, {1}));
  EXPECT_TRUE(std::isnan(hi[0]));
  EXPECT_EQ(hi[1], 6);
  const std::vector<double> lo = Values(Reduce("min", x, {0}));
  EXPECT_EQ(lo[0], 1);
  EXPECT_TRUE(std::isnan(lo[1]));
  EXPECT_EQ(lo[2], 3);
  EXPECT_TRUE(std::isnan(Values(Reduce("sum", x, {0, 1}))[0]));
}

TEST(Reduce, EmptyAxesGiveIdentities) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {2, 0}, {});
  EXPECT_THAT(Values(Reduce("sum", x, {1})), ElementsAre(0, 0));
  EXPECT_THAT(Values(Reduce("prod", x, {1})), ElementsAre(1, 1));
  const std::vector<double> mean = Values(Reduce("mean", x, {1}));
  ASSERT_EQ(mean.size(), 2u);
  EXPECT_TRUE(std::isnan(mean[0]));
  EXPECT_EQ(Reduce("sum", x, {0}).type.shape, core::Shape{0});
  EXPECT_FALSE(
      RunOp("max", {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}).ok());
}

TEST(Reduce, ScalarInput) {
  EXPECT_THAT(Values(Reduce("sum", MakeHost(DType::kFloat64, {}, {2.5}), {})), ElementsAre(2.5));
}

TEST(ArgReduce, FirstOccurrenceWinsTies) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {2, 4}, {1, 3, 3, 0, 2, 2, 1, 2});
  const core::HostTensor am = Arg("argmax", x, 1);
  EXPECT_EQ(am.type, (core::TensorType{DType::kUInt32, {2}}));
  EXPECT_THAT(testing::Elements<uint32_t>(am), ElementsAre(1, 0));
  EXPECT_THAT(testing::Elements<uint32_t>(Arg("argmin", x, 1)), ElementsAre(3, 2));
  const core::HostTensor cols = Arg("argmax", x, 0, /*keepdims=*/true);
  EXPECT_EQ(cols.type.shape, (core::Shape{1, 4}));
  EXPECT_THAT(testing::Elements<uint32_t>(cols), ElementsAre(1, 0, 0, 1));
}

TEST(ArgReduce, NaNWinsAtItsFirstPosition) {
  const core::HostTensor x = MakeHost(DType::kFloat64, {5}, {1, kNaN, 9, kNaN, -9});
  EXPECT_THAT(testing::Elements<uint32_t>(Arg("argmax", x, 0)), ElementsAre(1));
  EXPECT_THAT(testing::Elements<uint32_t>(Arg("argmin", x, 0)), ElementsAre(1));
}

TEST(ArgReduce, MiddleAxisAndIntegers) {
  // (2, 3, 2) int32: along axis 1.
  const core::HostTensor x =
      MakeHost(DType::kInt32, {2, 3, 2}, {0, 5, 7, 5, 7, 1, -1, -2, -3, -2, -1, -9});
  EXPECT_THAT(testing::Elements<uint32_t>(Arg("argmax", x, 1)), ElementsAre(1, 0, 0, 0));
  EXPECT_THAT(testing::Elements<uint32_t>(Arg("argmin", x, 1)), ElementsAre(0, 2, 1, 2));
}

// ---- part A -------------------------------------------------------------------------

TEST(ReducePartA, AllAndAnyAlongAxes) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {2, 3}, {1, 0, 2, 3, 4, kNaN});
  const core::HostTensor all_rows = Reduce("all", x, {1});
  EXPECT_EQ(all_rows.type, (core::TensorType{DType::kBool, {2}}));
  EXPECT_THAT(Values(all_rows), ElementsAre(0, 1));  // NaN is nonzero, so true
  EXPECT_THAT(Values(Reduce("any", x, {0}, true)), ElementsAre(1, 1, 1));
  EXPECT_THAT(Values(Reduce("all", x, {0, 1})), ElementsAre(0));
  const core::HostTensor zeros = MakeHost(DType::kInt32, {2, 2}, {0, 0, 0, 5});
  EXPECT_THAT(Values(Reduce("any", zeros, {1})), ElementsAre(0, 1));
  EXPECT_THAT(Values(Reduce("all", MakeHost(DType::kBool, {3}, {1, 1, 1}), {0})), ElementsAre(1));
  EXPECT_THAT(Values(Reduce("any", MakeHost(DType::kFloat16, {2}, {0, 0.5}), {0})), ElementsAre(1));
}

TEST(ReducePartA, EmptyAxesGiveTheIdentity) {
  const core::HostTensor empty = MakeHost(DType::kFloat32, {2, 0}, {});
  EXPECT_THAT(Values(Reduce("all", empty, {1})), ElementsAre(1, 1));
  EXPECT_THAT(Values(Reduce("any", empty, {1})), ElementsAre(0, 0));
  // No axes: elementwise "not zero".
  EXPECT_THAT(Values(Reduce("any", MakeHost(DType::kInt32, {2}, {0, 3}), {})), ElementsAre(0, 1));
}

}  // namespace
}  // namespace ferry::kernels::cpu
