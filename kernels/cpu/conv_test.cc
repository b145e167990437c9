#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

using Ints = std::vector<int64_t>;

core::Attrs Conv1d(int64_t stride, int64_t lo, int64_t hi, int64_t dilation, int64_t groups) {
  return {{"stride", Ints{stride}},
          {"padding_lo", Ints{lo}},
          {"padding_hi", Ints{hi}},
          {"kernel_dilation", Ints{dilation}},
          {"groups", groups}};
}

TEST(Convolution, OneDimensionalStridePaddingDilation) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {1, 4, 1}, {1, 2, 3, 4});
  const core::HostTensor w = MakeHost(DType::kFloat32, {1, 2, 1}, {1, 10});
  absl::StatusOr<core::HostTensor> plain = RunOp("convolution", {x, w}, Conv1d(1, 0, 0, 1, 1));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->type.shape, (core::Shape{1, 3, 1}));
  EXPECT_THAT(Values(*plain), ElementsAre(21, 32, 43));
  absl::StatusOr<core::HostTensor> padded = RunOp("convolution", {x, w}, Conv1d(1, 1, 1, 1, 1));
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_THAT(Values(*padded), ElementsAre(10, 21, 32, 43, 4));
  absl::StatusOr<core::HostTensor> strided = RunOp("convolution", {x, w}, Conv1d(2, 1, 1, 1, 1));
  ASSERT_TRUE(strided.ok()) << strided.status();
  EXPECT_THAT(Values(*strided), ElementsAre(10, 32, 4));
  absl::StatusOr<core::HostTensor> dilated = RunOp("convolution", {x, w}, Conv1d(1, 0, 0, 2, 1));
  ASSERT_TRUE(dilated.ok()) << dilated.status();
  EXPECT_THAT(Values(*dilated), ElementsAre(31, 42));
}

TEST(Convolution, GroupsAndOutputChannels) {
  // Two groups of one channel: each output channel sees its own input channel.
  absl::StatusOr<core::HostTensor> grouped = RunOp(
      "convolution",
      {MakeHost(DType::kFloat32, {1, 1, 2}, {1, 2}), MakeHost(DType::kFloat32, {2, 1, 1}, {3, 5})},
      Conv1d(1, 0, 0, 1, 2));
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  EXPECT_THAT(Values(*grouped), ElementsAre(3, 10));
  // One group: every output channel sums over both input channels.
  absl::StatusOr<core::HostTensor> dense =
      RunOp("convolution",
            {MakeHost(DType::kFloat16, {1, 1, 2}, {1, 2}),
             MakeHost(DType::kFloat16, {3, 1, 2}, {1, 1, 1, -1, 2, 0})},
            Conv1d(1, 0, 0, 1, 1));
  ASSERT_TRUE(dense.ok()) << dense.status();
  EXPECT_EQ(dense->type, (core::TensorType{DType::kFloat16, {1, 1, 3}}));
  EXPECT_THAT(Values(*dense), ElementsAre(3, -1, 2));
}

TEST(Convolution, TwoDimensionalWithBatch) {
  // Two images of 2x2, an identity-diagonal 2x2 kernel: x[0,0] + x[1,1].
  const core::HostTensor x = MakeHost(DType::kFloat64, {2, 2, 2, 1}, {1, 2, 3, 4, 5, 6, 7, 8});
  const core::HostTensor w = MakeHost(DType::kFloat64, {1, 2, 2, 1}, {1, 0, 0, 1});
  absl::StatusOr<core::HostTensor> out = RunOp("convolution", {x, w},
                                               {{"stride", Ints{1, 1}},
                                                {"padding_lo", Ints{0, 1}},
                                                {"padding_hi", Ints{0, 0}},
                                                {"kernel_dilation", Ints{1, 1}},
                                                {"groups", int64_t{1}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.shape, (core::Shape{2, 1, 2, 1}));
  // One padded column on the left: output column 0 sees only x[1][0] on the diagonal.
  EXPECT_THAT(Values(*out), ElementsAre(3, 1 + 4, 7, 5 + 8));
}

TEST(Convolution, EmptyBatch) {
  absl::StatusOr<core::HostTensor> out = RunOp("convolution",
                                               {MakeHost(DType::kFloat32, {0, 3, 1}, {}),
                                                MakeHost(DType::kFloat32, {2, 2, 1}, {1, 2, 3, 4})},
                                               Conv1d(1, 0, 0, 1, 1));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.shape, (core::Shape{0, 2, 2}));
}

TEST(Convolution, InferenceRefusesBadArguments) {
  auto fails = [](std::vector<core::TensorType> in, const core::Attrs& attrs) {
    return std::string(core::InferOp("convolution", in, attrs).status().message());
  };
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 4, 3}}, {DType::kFloat32, {2, 2, 3}}}, Conv1d(1, 0, 0, 1, 2)),
      HasSubstr("groups 2 must divide the 3 input channels"));
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 4, 2}}, {DType::kFloat32, {2, 2, 2}}}, Conv1d(1, 0, 0, 1, 2)),
      HasSubstr("weight has 2 input channels, expected 1"));
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 2, 1}}, {DType::kFloat32, {1, 3, 1}}}, Conv1d(1, 0, 0, 1, 1)),
      HasSubstr("smaller than the dilated kernel"));
  EXPECT_THAT(
      fails({{DType::kInt32, {1, 2, 1}}, {DType::kInt32, {1, 1, 1}}}, Conv1d(1, 0, 0, 1, 1)),
      HasSubstr("same floating dtype"));
  EXPECT_THAT(fails({{DType::kFloat32, {2, 1}}, {DType::kFloat32, {1, 1}}}, Conv1d(1, 0, 0, 1, 1)),
              HasSubstr("1 to 3 spatial dims"));
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 4, 1}}, {DType::kFloat32, {1, 2, 1}}}, Conv1d(0, 0, 0, 1, 1)),
      HasSubstr("'stride' [0] has an invalid value 0"));
}

}  // namespace
}  // namespace ferry::kernels::cpu
