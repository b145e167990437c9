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

using Ints = std::vector<int64_t>;

core::HostTensor Apply(const std::string& op, const std::vector<core::HostTensor>& inputs,
                       const core::Attrs& attrs) {
  absl::StatusOr<core::HostTensor> out = RunOp(op, inputs, attrs);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

// 0, 1, ..., n - 1 as `dtype` in `shape`.
core::HostTensor Iota(DType dtype, core::Shape shape) {
  std::vector<double> values(core::NumElements(shape));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i);
  return MakeHost(dtype, std::move(shape), values);
}

TEST(Reshape, KeepsElementOrder) {
  const core::HostTensor out =
      Apply("reshape", {Iota(DType::kInt32, {2, 3})}, {{"shape", Ints{3, 1, 2}}});
  EXPECT_EQ(out.type, (core::TensorType{DType::kInt32, {3, 1, 2}}));
  EXPECT_THAT(Values(out), ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(Apply("reshape", {Iota(DType::kFloat32, {1})}, {{"shape", Ints{}}}).type.shape,
            core::Shape{});
}

TEST(Transpose, PermutesAxes) {
  const core::HostTensor out =
      Apply("transpose", {Iota(DType::kFloat32, {2, 3})}, {{"perm", Ints{1, 0}}});
  EXPECT_EQ(out.type.shape, (core::Shape{3, 2}));
  EXPECT_THAT(Values(out), ElementsAre(0, 3, 1, 4, 2, 5));
  // (2, 3, 4) with perm (2, 0, 1): out[k, i, j] = x[i, j, k] = 12 i + 4 j + k.
  const core::HostTensor cube =
      Apply("transpose", {Iota(DType::kInt64, {2, 3, 4})}, {{"perm", Ints{2, 0, 1}}});
  EXPECT_EQ(cube.type.shape, (core::Shape{4, 2, 3}));
  const std::vector<double> got = Values(cube);
  for (int k = 0; k < 4; ++k) {
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 3; ++j) EXPECT_EQ(got[(k * 2 + i) * 3 + j], 12 * i + 4 * j + k);
    }
  }
}

TEST(Transpose, MovesHalfAndBoolElementsBitForBit) {
  const core::HostTensor half = MakeHost(DType::kFloat16, {2, 2}, {0.1, 0.2, 0.3, 0.4});
  const core::HostTensor out = Apply("transpose", {half}, {{"perm", Ints{1, 0}}});
  const std::vector<uint16_t> in = Elements<uint16_t>(half);
  EXPECT_THAT(Elements<uint16_t>(out), ElementsAre(in[0], in[2], in[1], in[3]));
  EXPECT_THAT(Elements<uint8_t>(Apply("transpose", {MakeHost(DType::kBool, {1, 3}, {1, 0, 1})},
                                      {{"perm", Ints{1, 0}}})),
              ElementsAre(1, 0, 1));
}

TEST(BroadcastTo, RepeatsAlongNewAndUnitAxes) {
  const core::HostTensor out =
      Apply("broadcast_to", {MakeHost(DType::kInt32, {2, 1}, {7, 8})}, {{"shape", Ints{2, 2, 3}}});
  EXPECT_EQ(out.type.shape, (core::Shape{2, 2, 3}));
  EXPECT_THAT(Values(out), ElementsAre(7, 7, 7, 8, 8, 8, 7, 7, 7, 8, 8, 8));
  EXPECT_THAT(
      Values(Apply("broadcast_to", {MakeHost(DType::kFloat64, {}, {1.5})}, {{"shape", Ints{3}}})),
      ElementsAre(1.5, 1.5, 1.5));
}

core::Attrs SliceAttrs(Ints start, Ints stop, Ints strides) {
  return {{"start", std::move(start)}, {"stop", std::move(stop)}, {"strides", std::move(strides)}};
}

TEST(Slice, StartsStopsAndSteps) {
  // x[1:, ::2] of [[0 1 2 3] [4 5 6 7] [8 9 10 11]]
  const core::HostTensor out =
      Apply("slice", {Iota(DType::kFloat32, {3, 4})}, SliceAttrs({1, 0}, {3, 4}, {1, 2}));
  EXPECT_EQ(out.type.shape, (core::Shape{2, 2}));
  EXPECT_THAT(Values(out), ElementsAre(4, 6, 8, 10));
}

TEST(Slice, NegativeStridesWalkBackwards) {
  // x[::-1, 3:0:-2]: rows reversed, columns 3 and 1.
  const core::HostTensor out =
      Apply("slice", {Iota(DType::kInt32, {3, 4})}, SliceAttrs({2, 3}, {-1, 0}, {-1, -2}));
  EXPECT_EQ(out.type.shape, (core::Shape{3, 2}));
  EXPECT_THAT(Values(out), ElementsAre(11, 9, 7, 5, 3, 1));
  // x[::-1] of a vector.
  EXPECT_THAT(Values(Apply("slice", {Iota(DType::kUInt8, {5})}, SliceAttrs({4}, {-1}, {-1}))),
              ElementsAre(4, 3, 2, 1, 0));
}

TEST(Slice, EmptyResults) {
  const core::HostTensor out =
      Apply("slice", {Iota(DType::kFloat32, {3, 4})}, SliceAttrs({2, 0}, {2, 4}, {1, 1}));
  EXPECT_EQ(out.type.shape, (core::Shape{0, 4}));
  EXPECT_TRUE(out.data.empty());
}

TEST(Concatenate, AlongTheLastAxis) {
  const core::HostTensor out = Apply(
      "concatenate",
      {MakeHost(DType::kFloat32, {2, 2}, {1, 2, 3, 4}), MakeHost(DType::kFloat32, {2, 1}, {5, 6})},
      {{"axis", int64_t{1}}});
  EXPECT_EQ(out.type.shape, (core::Shape{2, 3}));
  EXPECT_THAT(Values(out), ElementsAre(1, 2, 5, 3, 4, 6));
}

TEST(Concatenate, AlongTheFirstAxisWithPromotionAndEmptyParts) {
  const core::HostTensor out =
      Apply("concatenate",
            {MakeHost(DType::kInt32, {1, 2}, {1, 2}), MakeHost(DType::kFloat32, {0, 2}, {}),
             MakeHost(DType::kFloat32, {2, 2}, {0.5, 1.5, 2.5, 3.5})},
            {{"axis", int64_t{0}}});
  EXPECT_EQ(out.type, (core::TensorType{DType::kFloat32, {3, 2}}));
  EXPECT_THAT(Values(out), ElementsAre(1, 2, 0.5, 1.5, 2.5, 3.5));
}

TEST(Concatenate, MiddleAxisOfRank3) {
  const core::HostTensor out =
      Apply("concatenate",
            {Iota(DType::kInt64, {2, 1, 2}),
             MakeHost(DType::kInt64, {2, 2, 2}, {10, 11, 12, 13, 14, 15, 16, 17})},
            {{"axis", int64_t{1}}});
  EXPECT_EQ(out.type.shape, (core::Shape{2, 3, 2}));
  EXPECT_THAT(Values(out), ElementsAre(0, 1, 10, 11, 12, 13, 2, 3, 14, 15, 16, 17));
}

}  // namespace
}  // namespace ferry::kernels::cpu
