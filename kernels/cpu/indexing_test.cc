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

TEST(Gather, RowsOfAMatrix) {
  // a (3, 2), rows [2, -3, 1] -> (3, 1, 2): negative indices count from the end.
  absl::StatusOr<core::HostTensor> out =
      RunOp("gather",
            {MakeHost(DType::kFloat32, {3, 2}, {1, 2, 3, 4, 5, 6}),
             MakeHost(DType::kInt32, {3}, {2, -3, 1})},
            {{"axes", Ints{0}}, {"slice_sizes", Ints{1, 2}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type, (core::TensorType{DType::kFloat32, {3, 1, 2}}));
  EXPECT_THAT(Values(*out), ElementsAre(5, 6, 1, 2, 3, 4));
}

TEST(Gather, TwoBroadcastIndexArraysPickElements) {
  // a (2, 3); rows (2, 1) with cols (3,) broadcast to (2, 3): a transposed-free copy.
  absl::StatusOr<core::HostTensor> out =
      RunOp("gather",
            {MakeHost(DType::kInt64, {2, 3}, {0, 1, 2, 10, 11, 12}),
             MakeHost(DType::kUInt32, {2, 1}, {1, 0}), MakeHost(DType::kInt64, {3}, {2, 0, 1})},
            {{"axes", Ints{0, 1}}, {"slice_sizes", Ints{1, 1}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.shape, (core::Shape{2, 3, 1, 1}));
  EXPECT_THAT(Values(*out), ElementsAre(12, 10, 11, 2, 0, 1));
}

TEST(Gather, SlicesWiderThanOne) {
  // Windows of length 2 along axis 0 of (4,), starting at 0 and 2.
  absl::StatusOr<core::HostTensor> out =
      RunOp("gather",
            {MakeHost(DType::kBFloat16, {4}, {1, 2, 3, 4}), MakeHost(DType::kInt32, {2}, {0, 2})},
            {{"axes", Ints{0}}, {"slice_sizes", Ints{2}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type, (core::TensorType{DType::kBFloat16, {2, 2}}));
  EXPECT_THAT(Values(*out), ElementsAre(1, 2, 3, 4));
}

// Slices copied as runs of contiguous elements (trailing axes spanned whole, and the axis
// before them in part), against the element-by-element definition.
TEST(Gather, PartlySpannedAxesAgreeWithTheDefinition) {
  std::vector<double> a(3 * 4 * 5);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<double>(i);
  for (const Ints& sizes : {Ints{1, 4, 5}, Ints{1, 2, 5}, Ints{2, 4, 3}, Ints{1, 3, 2}}) {
    SCOPED_TRACE(::testing::Message() << sizes[0] << "x" << sizes[1] << "x" << sizes[2]);
    // Starts along axis 1 at 0 and at the last position the slice fits.
    const int64_t last = 4 - sizes[1];
    absl::StatusOr<core::HostTensor> out =
        RunOp("gather",
              {MakeHost(DType::kFloat32, {3, 4, 5}, a),
               MakeHost(DType::kInt32, {2}, {0, static_cast<double>(last)})},
              {{"axes", Ints{1}}, {"slice_sizes", sizes}});
    ASSERT_TRUE(out.ok()) << out.status();
    std::vector<double> want;
    for (int64_t start : {int64_t{0}, last}) {
      for (int64_t i = 0; i < sizes[0]; ++i) {
        for (int64_t j = 0; j < sizes[1]; ++j) {
          for (int64_t k = 0; k < sizes[2]; ++k) want.push_back(a[(i * 4 + start + j) * 5 + k]);
        }
      }
    }
    EXPECT_EQ(Values(*out), want);
  }
}

TEST(Gather, ScalarAndEmptyIndices) {
  absl::StatusOr<core::HostTensor> scalar =
      RunOp("gather", {MakeHost(DType::kBool, {3}, {0, 1, 0}), MakeHost(DType::kInt32, {}, {1})},
            {{"axes", Ints{0}}, {"slice_sizes", Ints{1}}});
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->type.shape, core::Shape{1});
  EXPECT_THAT(Values(*scalar), ElementsAre(1));
  absl::StatusOr<core::HostTensor> empty =
      RunOp("gather", {MakeHost(DType::kFloat32, {3}, {1, 2, 3}), MakeHost(DType::kInt32, {0}, {})},
            {{"axes", Ints{0}}, {"slice_sizes", Ints{1}}});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->type.shape, (core::Shape{0, 1}));
}

TEST(Gather, OutOfRangeIndexFailsTheKernel) {
  absl::StatusOr<core::HostTensor> out = RunOp(
      "gather", {MakeHost(DType::kFloat32, {3}, {1, 2, 3}), MakeHost(DType::kInt32, {2}, {0, 3})},
      {{"axes", Ints{0}}, {"slice_sizes", Ints{1}}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(),
              HasSubstr("[gather] index 3 is out of range for axis 0 of length 3"));
  out = RunOp("gather",
              {MakeHost(DType::kFloat32, {3}, {1, 2, 3}), MakeHost(DType::kInt32, {1}, {-4})},
              {{"axes", Ints{0}}, {"slice_sizes", Ints{1}}});
  ASSERT_FALSE(out.ok());
}

TEST(Gather, InferenceRefusesBadArguments) {
  const std::vector<core::TensorType> a_idx = {{DType::kFloat32, {3, 2}}, {DType::kInt32, {2}}};
  EXPECT_THAT(core::InferOp("gather", a_idx, {{"axes", Ints{2}}, {"slice_sizes", Ints{1, 2}}})
                  .status()
                  .message(),
              HasSubstr("[gather] axes [2] must be distinct axes"));
  EXPECT_THAT(core::InferOp("gather", a_idx, {{"axes", Ints{0}}, {"slice_sizes", Ints{1, 3}}})
                  .status()
                  .message(),
              HasSubstr("do not fit an array of shape (3, 2)"));
  EXPECT_THAT(core::InferOp("gather", {{DType::kFloat32, {3}}, {DType::kFloat32, {2}}},
                            {{"axes", Ints{0}}, {"slice_sizes", Ints{1}}})
                  .status()
                  .message(),
              HasSubstr("indices must be integers"));
}

TEST(Scatter, LaterWritesWinAndAddAccumulates) {
  const core::HostTensor a = MakeHost(DType::kFloat32, {4}, {1, 1, 1, 1});
  const core::HostTensor idx = MakeHost(DType::kInt32, {3}, {1, -1, 1});
  const core::HostTensor upd = MakeHost(DType::kFloat32, {3, 1}, {5, 6, 7});
  absl::StatusOr<core::HostTensor> set = RunOp("scatter", {a, idx, upd}, {{"axes", Ints{0}}});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_THAT(Values(*set), ElementsAre(1, 7, 1, 6));
  absl::StatusOr<core::HostTensor> add = RunOp("scatter_add", {a, idx, upd}, {{"axes", Ints{0}}});
  ASSERT_TRUE(add.ok()) << add.status();
  EXPECT_THAT(Values(*add), ElementsAre(1, 13, 1, 7));
  absl::StatusOr<core::HostTensor> prod = RunOp("scatter_prod", {a, idx, upd}, {{"axes", Ints{0}}});
  ASSERT_TRUE(prod.ok()) << prod.status();
  EXPECT_THAT(Values(*prod), ElementsAre(1, 35, 1, 6));
  absl::StatusOr<core::HostTensor> mx = RunOp("scatter_max", {a, idx, upd}, {{"axes", Ints{0}}});
  ASSERT_TRUE(mx.ok()) << mx.status();
  EXPECT_THAT(Values(*mx), ElementsAre(1, 7, 1, 6));
  absl::StatusOr<core::HostTensor> mn = RunOp("scatter_min", {a, idx, upd}, {{"axes", Ints{0}}});
  ASSERT_TRUE(mn.ok()) << mn.status();
  EXPECT_THAT(Values(*mn), ElementsAre(1, 1, 1, 1));
}

TEST(Scatter, RowsOfAMatrixInInt32) {
  // Add rows of (2, 1, 3) updates into rows 2 and 0 of a (3, 3) int32 array.
  absl::StatusOr<core::HostTensor> out =
      RunOp("scatter_add",
            {MakeHost(DType::kInt32, {3, 3}, {0, 0, 0, 0, 0, 0, 0, 0, 0}),
             MakeHost(DType::kInt64, {2}, {2, 0}),
             MakeHost(DType::kInt32, {2, 1, 3}, {1, 2, 3, 4, 5, 6})},
            {{"axes", Ints{0}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values(*out), ElementsAre(4, 5, 6, 0, 0, 0, 1, 2, 3));
}

TEST(Scatter, InferenceRefusesMismatchedUpdates) {
  EXPECT_THAT(
      core::InferOp("scatter",
                    {{DType::kFloat32, {4}}, {DType::kInt32, {3}}, {DType::kFloat32, {2, 1}}},
                    {{"axes", Ints{0}}})
          .status()
          .message(),
      HasSubstr("[scatter] updates of shape (2, 1) do not match indices of shape (3,)"));
  EXPECT_THAT(core::InferOp("scatter_add",
                            {{DType::kFloat32, {4}}, {DType::kInt32, {3}}, {DType::kInt32, {3, 1}}},
                            {{"axes", Ints{0}}})
                  .status()
                  .message(),
              HasSubstr("[scatter_add] updates are int32 but the array is float32"));
}

TEST(Scatter, OutOfRangeIndexFailsTheKernel) {
  absl::StatusOr<core::HostTensor> out =
      RunOp("scatter",
            {MakeHost(DType::kFloat32, {2}, {0, 0}), MakeHost(DType::kInt32, {1}, {2}),
             MakeHost(DType::kFloat32, {1, 1}, {1})},
            {{"axes", Ints{0}}});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("[scatter] index 2 is out of range"));
}

TEST(SliceUpdate, WritesAStridedWindow) {
  // x (2, 4); x[0:2, 3:0:-2] = [[7, 8], [9, 10]] writes columns 3 and 1.
  absl::StatusOr<core::HostTensor> out =
      RunOp("slice_update",
            {MakeHost(DType::kFloat16, {2, 4}, {0, 0, 0, 0, 0, 0, 0, 0}),
             MakeHost(DType::kFloat16, {2, 2}, {7, 8, 9, 10})},
            {{"start", Ints{0, 3}}, {"stop", Ints{2, 0}}, {"strides", Ints{1, -2}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type, (core::TensorType{DType::kFloat16, {2, 4}}));
  EXPECT_THAT(Values(*out), ElementsAre(0, 8, 0, 7, 0, 10, 0, 9));
}

TEST(SliceUpdate, EmptyWindowAndBadShapes) {
  absl::StatusOr<core::HostTensor> out = RunOp(
      "slice_update", {MakeHost(DType::kInt32, {3}, {1, 2, 3}), MakeHost(DType::kInt32, {0}, {})},
      {{"start", Ints{2}}, {"stop", Ints{2}}, {"strides", Ints{1}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(Values(*out), ElementsAre(1, 2, 3));
  EXPECT_THAT(
      core::InferOp("slice_update", {{DType::kInt32, {3}}, {DType::kInt32, {2}}},
                    {{"start", Ints{0}}, {"stop", Ints{3}}, {"strides", Ints{1}}})
          .status()
          .message(),
      HasSubstr("[slice_update] update of shape (2,) does not match the slice's shape (3,)"));
  EXPECT_THAT(core::InferOp("slice_update", {{DType::kInt32, {3}}, {DType::kInt32, {3}}},
                            {{"start", Ints{0}}, {"stop", Ints{4}}, {"strides", Ints{1}}})
                  .status()
                  .message(),
              HasSubstr("[slice_update] axis 0 of length 3"));
}

}  // namespace
}  // namespace ferry::kernels::cpu
