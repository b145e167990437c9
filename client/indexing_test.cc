// take, take_along_axis, put_along_axis, gather, the scatters, slice_update and where on
// the local device: hand-checked values, edge shapes and build-time errors.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Array Ints(const std::vector<int32_t>& values, const Shape& shape) {
  return from_host(values, shape);
}

Array Matrix() { return Ints({0, 1, 2, 3, 4, 5}, {2, 3}); }

TEST(TakeTest, NegativeIndicesCountFromTheEnd) {
  Array a = Ints({10, 20, 30, 40}, {4});
  EXPECT_THAT(take(a, Ints({3, -1, 0}, {3}), 0).to_vector<int32_t>(), ElementsAre(40, 40, 10));
}

TEST(TakeTest, IndicesShapeReplacesTheAxis) {
  Array out = take(Matrix(), Ints({2, 0, 1, 1}, {2, 2}), 1);
  EXPECT_EQ(out.shape(), (Shape{2, 2, 2}));
  EXPECT_THAT(out.to_vector<int32_t>(), ElementsAre(2, 0, 1, 1, 5, 3, 4, 4));
  Array rows = take(Matrix(), Ints({1}, {1}), -2);
  EXPECT_EQ(rows.shape(), (Shape{1, 3}));
  EXPECT_THAT(rows.to_vector<int32_t>(), ElementsAre(3, 4, 5));
}

TEST(TakeTest, FlattenedScalarEmptyAndTransposed) {
  EXPECT_THAT(take(Matrix(), Ints({5, -6}, {2})).to_vector<int32_t>(), ElementsAre(5, 0));
  Array row = take(Matrix(), 1, 0);
  EXPECT_EQ(row.shape(), (Shape{3}));
  EXPECT_THAT(row.to_vector<int32_t>(), ElementsAre(3, 4, 5));
  EXPECT_EQ(take(Matrix(), from_host(std::vector<int64_t>{}, {0}), 1).shape(), (Shape{2, 0}));
  // A non-contiguous input: rows of the (3, 2) transpose.
  EXPECT_THAT(take(transpose(Matrix()), Ints({2, 0}, {2}), 0).to_vector<int32_t>(),
              ElementsAre(2, 5, 0, 3));
}

TEST(TakeTest, BadArgumentsThrowAtTheCall) {
  EXPECT_THAT(BuildError([] { take(Matrix(), from_host(std::vector<float>{0}, {1}), 0); }),
              HasSubstr("[take] indices must be integers, got float32"));
  EXPECT_THAT(BuildError([] { take(Matrix(), Ints({0}, {1}), 2); }),
              HasSubstr("[take] axis 2 is out of range for an array of rank 2"));
  EXPECT_THAT(BuildError([] {
                take(zeros({0, 2}), Ints({0}, {1}), 0);
              }),
              HasSubstr("[take] cannot take from axis 0 of length 0"));
}

TEST(TakeTest, OutOfRangeIndexFailsTheEval) {
  Array out = take(Matrix(), Ints({3}, {1}), 1);
  try {
    out.eval();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("index 3 is out of range for axis 1 of length 3"));
  }
}

TEST(TakeAlongAxisTest, PicksPerRowAndBroadcasts) {
  Array picked = take_along_axis(Matrix(), Ints({2, 0}, {2, 1}), 1);
  EXPECT_EQ(picked.shape(), (Shape{2, 1}));
  EXPECT_THAT(picked.to_vector<int32_t>(), ElementsAre(2, 3));
  // (1, 1) indices broadcast over the rows.
  EXPECT_THAT(take_along_axis(Matrix(), Ints({-2}, {1, 1}), -1).to_vector<int32_t>(),
              ElementsAre(1, 4));
  EXPECT_THAT(take_along_axis(Matrix(), Ints({5, 0}, {2})).to_vector<int32_t>(), ElementsAre(5, 0));
  EXPECT_THAT(BuildError([] { take_along_axis(Matrix(), Ints({0}, {1}), 0); }),
              HasSubstr("[take_along_axis] indices of rank 1 do not match an array of rank 2"));
  EXPECT_THAT(BuildError([] {
                take_along_axis(Matrix(), Ints({0, 0, 0}, {3, 1}), 1);
              }),
              HasSubstr("[take_along_axis] shapes"));
}

TEST(PutAlongAxisTest, WritesANumberOrBroadcastValues) {
  Array a = zeros({2, 3}, int32);
  EXPECT_THAT(put_along_axis(a, Ints({1, 2}, {2, 1}), 7, 1).to_vector<int32_t>(),
              ElementsAre(0, 7, 0, 0, 0, 7));
  // Along axis 0, (1, 3) indices pick one row per column.
  Array b = put_along_axis(zeros({2, 3}), Ints({1, 0, 1}, {1, 3}),
                           from_host(std::vector<float>{1, 2, 3}, {3}), 0);
  EXPECT_THAT(b.to_vector<float>(), ElementsAre(0, 2, 0, 1, 0, 3));
  EXPECT_THAT(BuildError([] {
                put_along_axis(zeros({2, 3}), Ints({0, 0}, {1, 2}), 1, 0);
              }),
              HasSubstr("[put_along_axis] indices of shape (1, 2) do not broadcast"));
}

TEST(GatherTest, ElementsAndWindows) {
  Array g = gather(Matrix(), {Ints({1, 0}, {2}), Ints({2, -1}, {2})}, {0, -1}, {1, 1});
  EXPECT_EQ(g.shape(), (Shape{2, 1, 1}));
  EXPECT_THAT(g.to_vector<int32_t>(), ElementsAre(5, 2));
  Array windows = gather(Matrix(), {Ints({0, 1}, {2})}, {1}, {2, 2});
  EXPECT_EQ(windows.shape(), (Shape{2, 2, 2}));
  EXPECT_THAT(windows.to_vector<int32_t>(), ElementsAre(0, 1, 3, 4, 1, 2, 4, 5));
  EXPECT_THAT(BuildError([] {
                gather(Matrix(), {Ints({0}, {1})}, {0, 1}, {1, 1});
              }),
              HasSubstr("[gather] needs one axis per index array"));
}

TEST(AsStridedTest, SlidingWindowsTransposesAndBroadcasts) {
  Array a = arange(10, int32);
  // Overlapping windows of 4, one element apart, starting at 1.
  EXPECT_THAT(as_strided(a, {3, 4}, {1, 1}, 1).to_vector<int32_t>(),
              ElementsAre(1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6));
  Array m = reshape(arange(6, float32), {2, 3});
  EXPECT_THAT(as_strided(m, {3, 2}, {1, 3}).to_vector<float>(), ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_THAT(as_strided(m, {2, 2}, {0, -1}, 5).to_vector<float>(), ElementsAre(5, 4, 5, 4));
  EXPECT_EQ(as_strided(m, {0, 7}, {100, 100}).shape(), (Shape{0, 7}));  // reads nothing
  EXPECT_EQ(as_strided(m, {}, {}, 4).item<float>(), 4);
  // Gradients add up where windows overlap.
  auto [outputs, grads] = vjp(
      [](const std::vector<Array>& x) {
        return std::vector<Array>{as_strided(x[0], {3, 2}, {1, 1})};
      },
      {arange(4, float32)}, {ones({3, 2})});
  EXPECT_THAT(grads[0].to_vector<float>(), ElementsAre(1, 2, 2, 1));
}

TEST(AsStridedTest, PositionsOutsideTheArrayThrow) {
  Array a = arange(10, int32);
  EXPECT_THAT(BuildError([&] {
                as_strided(a, {3, 4}, {2, 1}, 4);
              }),
              HasSubstr("[as_strided] shape (3, 4) with strides (2, 1) from offset 4 reads "
                        "outside the 10 elements of the array."));
  EXPECT_THAT(BuildError([&] { as_strided(a, {2}, {-1}); }), HasSubstr("reads outside"));
  EXPECT_THAT(BuildError([&] { as_strided(a, {2}, {int64_t{1} << 62}); }),
              HasSubstr("reads outside"));
  EXPECT_THAT(BuildError([&] { as_strided(a, {2, 2}, {1}); }), HasSubstr("differ in length"));
}

TEST(ScatterTest, AddAccumulatesDuplicatesAndScatterKeepsTheLast) {
  Array idx = Ints({0, 0, 2}, {3});
  Array upd = from_host(std::vector<float>{1, 2, 3}, {3, 1});
  EXPECT_THAT(scatter_add(zeros({3}), {idx}, upd, {0}).to_vector<float>(), ElementsAre(3, 0, 3));
  EXPECT_THAT(scatter(zeros({3}), {idx}, upd, {0}).to_vector<float>(), ElementsAre(2, 0, 3));
  EXPECT_THAT(scatter_max(full({3}, 1.5), {idx}, upd, {0}).to_vector<float>(),
              ElementsAre(2, 1.5, 3));
  EXPECT_THAT(scatter_min(full({3}, 1.5), {idx}, upd, {0}).to_vector<float>(),
              ElementsAre(1, 1.5, 1.5));
  EXPECT_THAT(scatter_prod(full({3}, 2), {idx}, upd, {0}).to_vector<float>(), ElementsAre(4, 2, 6));
  // Updates broadcast over the index dims and take the array's dtype.
  EXPECT_THAT(scatter_add(zeros({3}, int32), {idx}, full({1, 1}, 2.0), {0}).to_vector<int32_t>(),
              ElementsAre(4, 0, 2));
  EXPECT_THAT(BuildError([] { scatter(zeros({3}), {Ints({0}, {1})}, zeros({1}), {0}); }),
              HasSubstr("[scatter] updates of rank 1 must have the indices' rank (1)"));
}

TEST(SliceUpdateTest, StridedWindowWithBroadcastValues) {
  Array a = zeros({3, 4}, int32);
  EXPECT_THAT(slice_update(a, 5, {1, 1}, {3, 4}, {1, 2}).to_vector<int32_t>(),
              ElementsAre(0, 0, 0, 0, 0, 5, 0, 5, 0, 5, 0, 5));
  Array row = Ints({7, 8, 9, 6}, {4});
  EXPECT_THAT(slice_update(a, row, {-1, 0}, {3, 4}).to_vector<int32_t>(),
              ElementsAre(0, 0, 0, 0, 0, 0, 0, 0, 7, 8, 9, 6));
  EXPECT_THAT(BuildError([] { slice_update(zeros({3}), zeros({2}), {0}, {3}); }),
              HasSubstr("[slice_update] update of shape (2,) does not broadcast to the slice's "
                        "shape (3,)"));
  EXPECT_THAT(BuildError([] { slice_update(zeros({3}), 1, {0}, {3}, {0}); }),
              HasSubstr("[slice_update] stride of axis 0 is 0"));
}

// Dynamic slice and slice_update: the same blocks as the static forms, wherever the start.
TEST(DynamicSliceTest, ReadsTheBlockAtStartsHeldInAnArray) {
  Array a = arange(0, 120, 1, int32);
  a = reshape(a, {4, 5, 6});
  for (const auto& [i, k] : {std::pair<int32_t, int32_t>{0, 0}, {1, 2}, {2, 3}, {-2, -3}}) {
    Array start = Ints({i, k}, {2});
    Array block = slice(a, start, {0, 2}, {2, 5, 3});
    EXPECT_EQ(block.shape(), (Shape{2, 5, 3}));
    const int64_t i0 = i < 0 ? i + 4 : i, k0 = k < 0 ? k + 6 : k;
    EXPECT_EQ(block.to_vector<int32_t>(),
              slice(a, {i0, 0, k0}, {i0 + 2, 5, k0 + 3}).to_vector<int32_t>())
        << i << ", " << k;
  }
  Array past = slice(a, Ints({3, 0}, {2}), {0, 2}, {2, 5, 3});  // rows 3 and 4 of 4
  try {
    past.eval();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("index 3 with a slice of 2 is out of range for axis 0"));
  }
  EXPECT_THAT(BuildError([&] {
                slice(a, Ints({1}, {1}), {0, 2}, {2, 5, 3});
              }),
              HasSubstr("[slice] start must have one element per axis (2), got shape (1,)"));
  EXPECT_THAT(BuildError([&] {
                slice(a, Ints({1, 1}, {2}), {0, 2}, {2, 6, 3});
              }),
              HasSubstr("[slice] slice_size (2, 6, 3) does not fit in shape (4, 5, 6)"));
  EXPECT_THAT(BuildError([&] {
                slice(a, zeros({2}), {0, 2}, {2, 5, 3});
              }),
              HasSubstr("[slice] indices must be integers, got float32"));
}

TEST(DynamicSliceTest, SliceUpdateWritesTheBlockAndPassesGradients) {
  Array cache = zeros({2, 8, 3});
  Array row = reshape(arange(1, 7, 1), {2, 1, 3});
  for (int32_t position : {0, 5, 7}) {
    Array written = slice_update(cache, row, Ints({position}, {1}), {1});
    EXPECT_EQ(written.to_vector<float>(),
              slice_update(cache, row, {0, position, 0}, {2, position + 1, 3}).to_vector<float>());
  }
  EXPECT_THAT(BuildError([&] {
                slice_update(cache, zeros({2, 9, 3}), Ints({0}, {1}), {1});
              }),
              HasSubstr("[slice_update] update of shape (2, 9, 3) does not fit in shape "
                        "(2, 8, 3)"));
  // d/dsrc is 1 outside the block, d/dupdate the block's weights.
  Array weights = reshape(arange(0, 48, 1), {2, 8, 3});
  auto loss = [&](const std::vector<Array>& p) {
    return std::vector<Array>{sum(slice_update(p[0], p[1], Ints({2}, {1}), {1}) * weights)};
  };
  auto [value, grads] = value_and_grad(loss, {0, 1})({cache, row});
  EXPECT_EQ(grads[0].to_vector<float>(),
            slice_update(weights, zeros({2, 1, 3}), {0, 2, 0}, {2, 3, 3}).to_vector<float>());
  EXPECT_EQ(grads[1].to_vector<float>(), slice(weights, {0, 2, 0}, {2, 3, 3}).to_vector<float>());
}

TEST(WhereTest, BroadcastsConditionValuesAndNumbers) {
  Array cond = from_host(std::vector<bool>{true, false}, {2, 1});
  Array out = where(cond, from_host(std::vector<float>{1, 2, 3}, {3}), 0.5f);
  EXPECT_EQ(out.shape(), (Shape{2, 3}));
  EXPECT_THAT(out.to_vector<float>(), ElementsAre(1, 2, 3, 0.5, 0.5, 0.5));
  EXPECT_THAT(BuildError([&] { where(cond, zeros({3}), zeros({4})); }),
              HasSubstr("[where] shapes"));
}

}  // namespace
}  // namespace ferry
