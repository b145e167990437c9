#include <cmath>
#include <limits>
#include <random>
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

// float32 rows reduced over the last axis take a path of their own (8 rows at a time,
// vectorized); its results are the general path's bit for bit, which the same rows stored as
// columns (reduced over the first axis) take.
TEST(Softmax, LastAxisOfFloat32RowsGivesTheGeneralPathsBits) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> logit(-30, 30);
  const double specials[] = {std::nan(""), kInf, -kInf, 0.0, -0.0};
  for (int64_t n : {1, 7, 23, 64, 257}) {
    for (int64_t rows : {1, 9, 17}) {
      std::vector<double> values(static_cast<size_t>(rows * n));
      for (double& v : values) v = logit(rng);
      if (rows > 1) values[static_cast<size_t>(n) / 2] = specials[n % 5];  // row 0
      if (rows > 2) {
        for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(2 * n + i)] = -kInf;  // row 2
      }
      std::vector<double> columns(values.size());
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < n; ++i) columns[i * rows + r] = values[r * n + i];
      }
      const core::HostTensor x = MakeHost(DType::kFloat32, {rows, n}, values);
      const core::HostTensor xt = MakeHost(DType::kFloat32, {n, rows}, columns);
      const std::vector<double> fast = Values(Softmax(x, {1}));
      const std::vector<double> general = Values(Softmax(xt, {0}));
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < n; ++i) {
          const double a = fast[r * n + i], b = general[i * rows + r];
          EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b)))
              << "softmax of " << rows << " rows of " << n << ", row " << r << " element " << i
              << ": " << a << " vs " << b;
        }
      }
      const std::vector<double> fast_lse = Values(LogSumExp(x, {1}));
      const std::vector<double> general_lse = Values(LogSumExp(xt, {0}));
      for (int64_t r = 0; r < rows; ++r) {
        EXPECT_TRUE(fast_lse[r] == general_lse[r] ||
                    (std::isnan(fast_lse[r]) && std::isnan(general_lse[r])))
            << "logsumexp of " << rows << " rows of " << n << ", row " << r;
      }
    }
  }
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
