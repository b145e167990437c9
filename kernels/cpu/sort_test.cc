#include <cmath>

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

TEST(Sort, AlongTheLastAndFirstAxis) {
  const core::HostTensor x = MakeHost(DType::kInt32, {2, 3}, {3, -1, 2, 0, 5, -7});
  absl::StatusOr<core::HostTensor> last = RunOp("sort", {x}, {{"axis", int64_t{1}}});
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_THAT(Values(*last), ElementsAre(-1, 2, 3, -7, 0, 5));
  absl::StatusOr<core::HostTensor> first = RunOp("sort", {x}, {{"axis", int64_t{0}}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(Values(*first), ElementsAre(0, -1, -7, 3, 5, 2));
}

TEST(Argsort, StableWithNaNLast) {
  const core::HostTensor x = MakeHost(DType::kFloat16, {6}, {2, std::nan(""), 1, 2, -INFINITY, 1});
  absl::StatusOr<core::HostTensor> idx = RunOp("argsort", {x}, {{"axis", int64_t{0}}});
  ASSERT_TRUE(idx.ok()) << idx.status();
  EXPECT_EQ(idx->type, (core::TensorType{DType::kUInt32, {6}}));
  EXPECT_THAT(Values(*idx), ElementsAre(4, 2, 5, 0, 3, 1));
  absl::StatusOr<core::HostTensor> sorted = RunOp("sort", {x}, {{"axis", int64_t{0}}});
  ASSERT_TRUE(sorted.ok()) << sorted.status();
  std::vector<double> v = Values(*sorted);
  EXPECT_THAT(std::vector<double>(v.begin(), v.end() - 1), ElementsAre(-INFINITY, 1, 1, 2, 2));
  EXPECT_TRUE(std::isnan(v.back()));
}

TEST(Argpartition, KthElementIsInPlace) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {5}, {4, 0, 3, 1, 2});
  absl::StatusOr<core::HostTensor> idx =
      RunOp("argpartition", {x}, {{"axis", int64_t{0}}, {"kth", int64_t{2}}});
  ASSERT_TRUE(idx.ok()) << idx.status();
  std::vector<double> order = Values(*idx);
  EXPECT_EQ(order[2], 4);  // x[4] == 2 is the median
  for (int i = 0; i < 2; ++i) EXPECT_TRUE(order[i] == 1 || order[i] == 3) << order[i];
  absl::StatusOr<core::HostTensor> part =
      RunOp("partition", {x}, {{"axis", int64_t{0}}, {"kth", int64_t{2}}});
  ASSERT_TRUE(part.ok()) << part.status();
  std::vector<double> v = Values(*part);
  EXPECT_EQ(v[2], 2);
  EXPECT_LT(std::max(v[0], v[1]), 2);
  EXPECT_GT(std::min(v[3], v[4]), 2);
}

TEST(Sort, EmptyAndSingleElementRows) {
  absl::StatusOr<core::HostTensor> empty =
      RunOp("sort", {MakeHost(DType::kFloat32, {0, 3}, {})}, {{"axis", int64_t{1}}});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->type.shape, (core::Shape{0, 3}));
  absl::StatusOr<core::HostTensor> one =
      RunOp("argsort", {MakeHost(DType::kUInt8, {3, 1}, {9, 8, 7})}, {{"axis", int64_t{1}}});
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT(Values(*one), ElementsAre(0, 0, 0));
}

TEST(Sort, InferenceRefusesScalarsAndBadKth) {
  EXPECT_THAT(
      core::InferOp("sort", {{DType::kFloat32, {}}}, {{"axis", int64_t{0}}}).status().message(),
      HasSubstr("[sort] cannot sort a scalar"));
  EXPECT_THAT(core::InferOp("argpartition", {{DType::kFloat32, {3}}},
                            {{"axis", int64_t{0}}, {"kth", int64_t{3}}})
                  .status()
                  .message(),
              HasSubstr("[argpartition] kth 3 is out of range for axis 0 of length 3"));
}

}  // namespace
}  // namespace ferry::kernels::cpu
