#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using ::testing::ElementsAre;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

TEST(Where, PicksByCondition) {
  absl::StatusOr<core::HostTensor> out =
      RunOp("where", {MakeHost(DType::kBool, {4}, {1, 0, 0, 1}),
                      MakeHost(DType::kFloat32, {4}, {1, 2, 3, 4}),
                      MakeHost(DType::kFloat32, {4}, {-1, -2, -3, -4})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type, (core::TensorType{DType::kFloat32, {4}}));
  EXPECT_THAT(Values(*out), ElementsAre(1, -2, -3, 4));
}

TEST(Where, BroadcastsAllThree) {
  // cond (2, 1), x (3,), y scalar -> (2, 3).
  absl::StatusOr<core::HostTensor> out =
      RunOp("where", {MakeHost(DType::kBool, {2, 1}, {1, 0}),
                      MakeHost(DType::kInt32, {3}, {1, 2, 3}), MakeHost(DType::kInt32, {}, {0})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type, (core::TensorType{DType::kInt32, {2, 3}}));
  EXPECT_THAT(Values(*out), ElementsAre(1, 2, 3, 0, 0, 0));
}

TEST(Where, AnyConditionDTypeAndPromotedValues) {
  // A float condition is true where nonzero (NaN included); int32 with float16 gives float16.
  absl::StatusOr<core::HostTensor> out =
      RunOp("where", {MakeHost(DType::kFloat32, {3}, {0.0, -2.0, std::nan("")}),
                      MakeHost(DType::kInt32, {3}, {1, 2, 3}),
                      MakeHost(DType::kFloat16, {3}, {0.5, 0.5, 0.5})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.dtype, DType::kFloat16);
  EXPECT_THAT(Values(*out), ElementsAre(0.5, 2, 3));
}

TEST(Where, EmptyResult) {
  absl::StatusOr<core::HostTensor> out =
      RunOp("where", {MakeHost(DType::kBool, {0}, {}), MakeHost(DType::kFloat32, {}, {1}),
                      MakeHost(DType::kFloat32, {}, {2})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.shape, core::Shape{0});
}

}  // namespace
}  // namespace ferry::kernels::cpu
