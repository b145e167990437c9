#include <cmath>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using testing::Elements;
using ::testing::ElementsAre;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

core::HostTensor Astype(const core::HostTensor& x, DType dtype) {
  absl::StatusOr<core::HostTensor> out = RunOp("astype", {x}, {{"dtype", dtype}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

TEST(Astype, FloatToIntTruncatesTowardZero) {
  const core::HostTensor out =
      Astype(MakeHost(DType::kFloat32, {2, 3}, {1.9, -1.9, 0.5, -0.5, 7, -7}), DType::kInt32);
  EXPECT_EQ(out.type, (core::TensorType{DType::kInt32, {2, 3}}));
  EXPECT_THAT(Elements<int32_t>(out), ElementsAre(1, -1, 0, 0, 7, -7));
}

TEST(Astype, FloatToIntSaturatesAndMapsNaNToZero) {
  const core::HostTensor x = MakeHost(DType::kFloat64, {5}, {1e20, -1e20, kInf, kNaN, 300});
  EXPECT_THAT(Elements<int32_t>(Astype(x, DType::kInt32)),
              ElementsAre(2147483647, -2147483647 - 1, 2147483647, 0, 300));
  EXPECT_THAT(Elements<uint8_t>(Astype(x, DType::kUInt8)), ElementsAre(255, 0, 255, 0, 255));
  EXPECT_THAT(Elements<int64_t>(Astype(x, DType::kInt64)),
              ElementsAre(std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max(), 0, 300));
}

TEST(Astype, FloatToFloat16RoundsToNearestEven) {
  // float16 has 10 fraction bits: 1 + 2^-11 is a tie (to even: 1), 1 + 3 * 2^-11 rounds up.
  const core::HostTensor out = Astype(
      MakeHost(DType::kFloat32, {5},
               {1.0 + std::ldexp(1.0, -11), 1.0 + 3 * std::ldexp(1.0, -11), 0.1, 65504, 1e6}),
      DType::kFloat16);
  EXPECT_THAT(Elements<uint16_t>(out), ElementsAre(0x3c00, 0x3c02, 0x2e66, 0x7bff, 0x7c00));
  EXPECT_THAT(Values(out), ElementsAre(1, 1.001953125, 0.0999755859375, 65504, kInf));
}

TEST(Astype, FloatToBFloat16KeepsTheTopBitsRounded) {
  const core::HostTensor out =
      Astype(MakeHost(DType::kFloat32, {3}, {1.0, 3.14159265, -2.5}), DType::kBFloat16);
  EXPECT_THAT(Elements<uint16_t>(out), ElementsAre(0x3f80, 0x4049, 0xc020));
}

TEST(Astype, ToAndFromBool) {
  EXPECT_THAT(
      Elements<uint8_t>(Astype(MakeHost(DType::kFloat32, {4}, {0, -0.0, 0.1, kNaN}), DType::kBool)),
      ElementsAre(0, 0, 1, 1));
  EXPECT_THAT(Values(Astype(MakeHost(DType::kBool, {2}, {1, 0}), DType::kFloat64)),
              ElementsAre(1, 0));
}

TEST(Astype, IntegersWrap) {
  EXPECT_THAT(
      Elements<uint8_t>(Astype(MakeHost(DType::kInt32, {3}, {256, -1, 300}), DType::kUInt8)),
      ElementsAre(0, 255, 44));
  EXPECT_THAT(
      Elements<int32_t>(Astype(MakeHost(DType::kUInt32, {1}, {4294967295.0}), DType::kInt32)),
      ElementsAre(-1));
}

TEST(Astype, SameDTypeCopiesAndEmptyWorks) {
  EXPECT_THAT(Values(Astype(MakeHost(DType::kInt64, {2}, {5, -6}), DType::kInt64)),
              ElementsAre(5, -6));
  EXPECT_EQ(Astype(MakeHost(DType::kFloat32, {0}, {}), DType::kFloat16).type,
            (core::TensorType{DType::kFloat16, {0}}));
  EXPECT_THAT(Values(Astype(MakeHost(DType::kFloat16, {}, {2.5}), DType::kInt32)), ElementsAre(2));
}

}  // namespace
}  // namespace ferry::kernels::cpu
