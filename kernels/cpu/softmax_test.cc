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

using Ints = std::vector<int64_t>;
constexpr double kInf = std::numeric_limits<double>::infinity();

core::HostTensor Softmax(const core::HostTensor& x, Ints axes) {
  absl::StatusOr<core::HostTensor> out = RunOp("softmax", {x}, {{"axes", std::move(axes)}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

core::HostTensor LogSumExp(const core::HostTensor& x, Ints axes, bool keepdims = false) {
  absl::StatusOr<core::HostTensor> out =
      RunOp("logsumexp", {x}, {{"axes", std::move(axes)}, {"keepdims", int64_t{keepdims}}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

TEST(Softmax, RowsSumToOneWithKnownValues) {
  // softmax([0, ln 2, ln 5]) = [1, 2, 5] / 8; a constant row is uniform.
  const core::HostTensor out =
      Softmax(MakeHost(DType::kFloat64, {2, 3}, {0, std::log(2.0), std::log(5.0), 7, 7, 7}), {1});
  EXPECT_EQ(out.type, (core::TensorType{DType::kFloat64, {2, 3}}));
  EXPECT_THAT(Values(out),
              Pointwise(DoubleNear(1e-15), {0.125, 0.25, 0.625, 1.0 / 3, 1.0 / 3, 1.0 / 3}));
}

TEST(Softmax, OverTheFirstAxisAndOverBoth) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {2, 2}, {0, 1, 0, 1});
  EXPECT_THAT(Values(Softmax(x, {0})), Pointwise(DoubleNear(1e-7), {0.5, 0.5, 0.5, 0.5}));
  const double e = std::exp(1.0);
  const double z = 2 + 2 * e;
  EXPECT_THAT(Values(Softmax(x, {0, 1})),
              Pointwise(DoubleNear(1e-7), {1 / z, e / z, 1 / z, e / z}));
}

TEST(Softmax, HugeLogitsDoNotOverflow) {
  const std::vector<double> out =
      Values(Softmax(MakeHost(DType::kFloat32, {3}, {1000, 1000, -kInf}), {0}));
  EXPECT_THAT(out, ElementsAre(0.5, 0.5, 0));
}

TEST(Softmax, IntegersAndHalfPrecision) {
  const core::HostTensor ints = Softmax(MakeHost(DType::kInt32, {2}, {3, 3}), {0});
  EXPECT_EQ(ints.type.dtype, DType::kFloat32);
  EXPECT_THAT(Values(ints), ElementsAre(0.5, 0.5));
  const core::HostTensor half = Softmax(MakeHost(DType::kFloat16, {4}, {0, 0, 0, 0}), {0});
  EXPECT_EQ(half.type.dtype, DType::kFloat16);
  EXPECT_THAT(Values(half), ElementsAre(0.25, 0.25, 0.25, 0.25));
}

TEST(Softmax, EmptyAxesMakeEveryElementItsOwnGroup) {
  EXPECT_THAT(Values(Softmax(MakeHost(DType::kFloat32, {3}, {-5, 0, 5}), {})),
              ElementsAre(1, 1, 1));
}

TEST(LogSumExp, LargeValuesWithoutOverflow) {
  // log(e^1000 + e^1000) = 1000 + ln 2.
  const core::HostTensor out =
      LogSumExp(MakeHost(DType::kFloat32, {2, 2}, {1000, 1000, -1000, 0}), {1});
  EXPECT_EQ(out.type, (core::TensorType{DType::kFloat32, {2}}));
  EXPECT_THAT(Values(out), Pointwise(DoubleNear(1e-4), {1000 + std::log(2.0), 0.0}));
}

TEST(LogSumExp, KeepdimsAndInfinities) {
  const core::HostTensor out =
      LogSumExp(MakeHost(DType::kFloat64, {3, 2}, {-kInf, -kInf, kInf, 1, 0, 0}), {1}, true);
  EXPECT_EQ(out.type.shape, (core::Shape{3, 1}));
  EXPECT_THAT(Values(out), Pointwise(DoubleNear(1e-15), {-kInf, kInf, std::log(2.0)}));
  EXPECT_TRUE(
      std::isnan(Values(LogSumExp(MakeHost(DType::kFloat32, {2}, {1, std::nan("")}), {0}))[0]));
}

TEST(LogSumExp, AllAxesOfAnEmptyArrayIsMinusInfinity) {
  EXPECT_THAT(Values(LogSumExp(MakeHost(DType::kFloat32, {0, 2}, {}), {0, 1})), ElementsAre(-kInf));
}

}  // namespace
}  // namespace ferry::kernels::cpu
