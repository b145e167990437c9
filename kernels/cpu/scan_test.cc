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
using testing::RunOp;
using testing::Values;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

core::Attrs ScanAttrs(int64_t axis, bool reverse = false, bool inclusive = true) {
  return {{"axis", axis}, {"reverse", int64_t{reverse}}, {"inclusive", int64_t{inclusive}}};
}

core::HostTensor Scan(const std::string& op, const core::HostTensor& x, const core::Attrs& attrs) {
  absl::StatusOr<core::HostTensor> out = RunOp(op, {x}, attrs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

TEST(Scan, CumsumAlongEachAxis) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THAT(Values(Scan("cumsum", x, ScanAttrs(1))), ElementsAre(1, 3, 6, 4, 9, 15));
  EXPECT_THAT(Values(Scan("cumsum", x, ScanAttrs(0))), ElementsAre(1, 2, 3, 5, 7, 9));
}

TEST(Scan, ReverseAndExclusiveAsMLX) {
  // mx.cumsum([1, 2, 3, 4], reverse=..., inclusive=...).
  const core::HostTensor x = MakeHost(DType::kInt32, {4}, {1, 2, 3, 4});
  EXPECT_THAT(Values(Scan("cumsum", x, ScanAttrs(0, false, false))), ElementsAre(0, 1, 3, 6));
  EXPECT_THAT(Values(Scan("cumsum", x, ScanAttrs(0, true, true))), ElementsAre(10, 9, 7, 4));
  EXPECT_THAT(Values(Scan("cumsum", x, ScanAttrs(0, true, false))), ElementsAre(9, 7, 4, 0));
  EXPECT_THAT(Values(Scan("cumprod", x, ScanAttrs(0))), ElementsAre(1, 2, 6, 24));
  EXPECT_THAT(Values(Scan("cumprod", x, ScanAttrs(0, false, false))), ElementsAre(1, 1, 2, 6));
  EXPECT_THAT(Values(Scan("cumprod", x, ScanAttrs(0, true))), ElementsAre(24, 24, 12, 4));
}

TEST(Scan, CummaxCumminAndTheirIdentities) {
  const core::HostTensor x = MakeHost(DType::kInt32, {5}, {3, 1, 4, 1, 5});
  EXPECT_THAT(Values(Scan("cummax", x, ScanAttrs(0))), ElementsAre(3, 3, 4, 4, 5));
  EXPECT_THAT(Values(Scan("cummin", x, ScanAttrs(0))), ElementsAre(3, 1, 1, 1, 1));
  EXPECT_THAT(Values(Scan("cummin", x, ScanAttrs(0, true))), ElementsAre(1, 1, 1, 1, 5));
  const std::vector<double> excl = Values(Scan("cummax", x, ScanAttrs(0, false, false)));
  EXPECT_EQ(excl[0], std::numeric_limits<int32_t>::min());
  EXPECT_THAT(std::vector<double>(excl.begin() + 1, excl.end()), ElementsAre(3, 3, 4, 4));
  const core::HostTensor f = MakeHost(DType::kFloat32, {2}, {1, 2});
  EXPECT_THAT(Values(Scan("cummin", f, ScanAttrs(0, false, false))), ElementsAre(kInf, 1));
}

TEST(Scan, NaNPropagatesThroughMaxAndSum) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {4}, {1, kNaN, 5, 0});
  const std::vector<double> mx = Values(Scan("cummax", x, ScanAttrs(0)));
  EXPECT_EQ(mx[0], 1);
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(std::isnan(mx[i])) << i;
  const std::vector<double> sum = Values(Scan("cumsum", x, ScanAttrs(0)));
  EXPECT_EQ(sum[0], 1);
  EXPECT_TRUE(std::isnan(sum[3]));
}

TEST(Scan, DtypesBoolIntegersAndHalfPrecision) {
  const core::HostTensor flags = MakeHost(DType::kBool, {4}, {1, 0, 1, 1});
  const core::HostTensor count = Scan("cumsum", flags, ScanAttrs(0));
  EXPECT_EQ(count.type.dtype, DType::kInt32);
  EXPECT_THAT(Values(count), ElementsAre(1, 1, 2, 3));
  const core::HostTensor seen =
      Scan("cummax", MakeHost(DType::kBool, {3}, {0, 1, 0}), ScanAttrs(0));
  EXPECT_EQ(seen.type.dtype, DType::kBool);
  EXPECT_THAT(Values(seen), ElementsAre(0, 1, 1));
  // uint8 wraps: 200 + 100 = 44.
  EXPECT_THAT(Values(Scan("cumsum", MakeHost(DType::kUInt8, {2}, {200, 100}), ScanAttrs(0))),
              ElementsAre(200, 44));
  // float16 rounds each running value: 2048 + 1 is 2048 in float16, then 2048 + 1 + 1 = 2050.
  EXPECT_THAT(Values(Scan("cumsum", MakeHost(DType::kFloat16, {3}, {2048, 1, 1}), ScanAttrs(0))),
              ElementsAre(2048, 2048, 2050));
  const core::HostTensor bf =
      Scan("cumprod", MakeHost(DType::kBFloat16, {3}, {2, 0.5, -3}), ScanAttrs(0));
  EXPECT_EQ(bf.type.dtype, DType::kBFloat16);
  EXPECT_THAT(Values(bf), ElementsAre(2, 1, -3));
}

TEST(Scan, LogcumsumexpAsMLX) {
  // mx.logcumsumexp([1., 2., 3.], reverse=..., inclusive=...).
  const core::HostTensor x = MakeHost(DType::kFloat32, {3}, {1, 2, 3});
  EXPECT_THAT(Values(Scan("logcumsumexp", x, ScanAttrs(0))),
              ElementsAre(1, DoubleNear(2.31326, 1e-5), DoubleNear(3.40761, 1e-5)));
  EXPECT_THAT(Values(Scan("logcumsumexp", x, ScanAttrs(0, false, false))),
              ElementsAre(-kInf, 1, DoubleNear(2.31326, 1e-5)));
  EXPECT_THAT(Values(Scan("logcumsumexp", x, ScanAttrs(0, true))),
              ElementsAre(DoubleNear(3.40761, 1e-5), DoubleNear(3.31326, 1e-5), 3));
  // No overflow where exp would, -inf adds nothing, NaN propagates.
  EXPECT_THAT(
      Values(Scan("logcumsumexp", MakeHost(DType::kFloat32, {2}, {1000, 1000}), ScanAttrs(0))),
      ElementsAre(1000, DoubleNear(1000 + std::log(2.0), 1e-3)));
  const std::vector<double> special = Values(
      Scan("logcumsumexp", MakeHost(DType::kFloat32, {4}, {-kInf, 2, kNaN, 3}), ScanAttrs(0)));
  EXPECT_EQ(special[0], -kInf);
  EXPECT_EQ(special[1], 2);
  EXPECT_TRUE(std::isnan(special[2]) && std::isnan(special[3]));
  // Integers give float32; float16 rounds each running value once.
  const core::HostTensor ints =
      Scan("logcumsumexp", MakeHost(DType::kInt32, {2}, {0, 0}), ScanAttrs(0));
  EXPECT_EQ(ints.type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(ints), ElementsAre(0, DoubleNear(std::log(2.0), 1e-7)));
  const core::HostTensor half =
      Scan("logcumsumexp", MakeHost(DType::kFloat16, {2}, {0, 0}), ScanAttrs(0));
  EXPECT_EQ(half.type.dtype, DType::kFloat16);
  EXPECT_THAT(Values(half), ElementsAre(0, 0.693359375));  // log 2 in float16
}

TEST(Scan, EmptyAndMiddleAxes) {
  const core::HostTensor empty =
      Scan("cumsum", MakeHost(DType::kFloat32, {0, 3}, {}), ScanAttrs(1));
  EXPECT_EQ(empty.type, (core::TensorType{DType::kFloat32, {0, 3}}));
  // (2, 2, 2) along the middle axis.
  const core::HostTensor x = MakeHost(DType::kInt64, {2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_THAT(Values(Scan("cumsum", x, ScanAttrs(1))), ElementsAre(1, 2, 4, 6, 5, 6, 12, 14));
  EXPECT_THAT(Values(Scan("cumsum", x, ScanAttrs(1, true))), ElementsAre(4, 6, 3, 4, 12, 14, 7, 8));
}

TEST(Scan, RefusesScalarsAndBadAxes) {
  absl::StatusOr<core::HostTensor> scalar =
      RunOp("cumsum", {MakeHost(DType::kFloat32, {}, {1})}, ScanAttrs(0));
  ASSERT_FALSE(scalar.ok());
  EXPECT_EQ(scalar.status().message(), "[cumsum] needs an array of rank 1 or more, got a scalar");
  absl::StatusOr<core::HostTensor> axis =
      RunOp("cummax", {MakeHost(DType::kFloat32, {2}, {1, 2})}, ScanAttrs(1));
  ASSERT_FALSE(axis.ok());
  EXPECT_EQ(axis.status().message(), "[cummax] axis 1 is out of range for an array of rank 1");
}

}  // namespace
}  // namespace ferry::kernels::cpu
