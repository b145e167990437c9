// reshape, transpose, broadcast_to, slice and concatenate on the local device.

#include <cstdint>
#include <string>
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

TEST(LayoutTest, Reshape) {
  Array x = arange(6, int32);
  EXPECT_EQ(reshape(x, {2, 3}).shape(), (Shape{2, 3}));
  EXPECT_THAT(reshape(x, {3, 2}).to_vector<int32_t>(), ElementsAre(0, 1, 2, 3, 4, 5));
  EXPECT_EQ(reshape(x, {-1, 2}).shape(), (Shape{3, 2}));
  EXPECT_EQ(reshape(x, {1, -1, 1}).shape(), (Shape{1, 6, 1}));
  EXPECT_EQ(reshape(reshape(x, {6, 1}), {-1}).shape(), (Shape{6}));
  EXPECT_EQ(reshape(from_host(std::vector<int32_t>{5}, {1}), {}).shape(), Shape{});
  EXPECT_THROW(reshape(x, {-1, -1}), Error);
  EXPECT_THROW(reshape(x, {4, -1}), Error);
  try {
    reshape(x, {4});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[reshape]"));
  }
}

TEST(LayoutTest, Transpose) {
  Array x = reshape(arange(6, int32), {2, 3});
  EXPECT_EQ(transpose(x).shape(), (Shape{3, 2}));
  EXPECT_THAT(transpose(x).to_vector<int32_t>(), ElementsAre(0, 3, 1, 4, 2, 5));
  Array y = reshape(arange(24, int32), {2, 3, 4});
  EXPECT_EQ(transpose(y).shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(transpose(y, {1, -1, 0}).shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(transpose(y, {1, 2, 0}).to_vector<int32_t>()[1], 12);  // out(0, 0, 1) = y(1, 0, 0)
  EXPECT_THROW(transpose(y, {0, 1}), Error);
  EXPECT_THROW(transpose(y, {0, 0, 1}), Error);
}

TEST(LayoutTest, BroadcastTo) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  Array b = broadcast_to(x, {3, 2});
  EXPECT_EQ(b.shape(), (Shape{3, 2}));
  EXPECT_THAT(b.to_vector<float>(), ElementsAre(1, 2, 1, 2, 1, 2));
  EXPECT_THROW(broadcast_to(x, {3}), Error);
}

TEST(LayoutTest, Slice) {
  Array x = arange(10, int32);
  EXPECT_THAT(slice(x, {2}, {5}).to_vector<int32_t>(), ElementsAre(2, 3, 4));
  EXPECT_THAT(slice(x, {-3}, {100}).to_vector<int32_t>(), ElementsAre(7, 8, 9));
  EXPECT_THAT(slice(x, {1}, {8}, {3}).to_vector<int32_t>(), ElementsAre(1, 4, 7));
  // x[::-1] and x[8:2:-2], as Python spells them.
  EXPECT_THAT(slice(x, {-1}, {-11}, {-1}).to_vector<int32_t>(),
              ElementsAre(9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  EXPECT_THAT(slice(x, {8}, {2}, {-2}).to_vector<int32_t>(), ElementsAre(8, 6, 4));
  EXPECT_EQ(slice(x, {5}, {2}).size(), 0);  // empty, not an error
  EXPECT_EQ(slice(x, {-100}, {-50}).size(), 0);
  Array m = reshape(arange(12, int32), {3, 4});
  Array s = slice(m, {1, 0}, {3, 4}, {1, 2});
  EXPECT_EQ(s.shape(), (Shape{2, 2}));
  EXPECT_THAT(s.to_vector<int32_t>(), ElementsAre(4, 6, 8, 10));
  EXPECT_THROW(slice(x, {0}, {1}, {0}), Error);
  EXPECT_THROW(slice(m, {0}, {1}), Error);  // one entry per axis
}

TEST(LayoutTest, Concatenate) {
  Array a = from_host(std::vector<int32_t>{1, 2}, {1, 2});
  Array b = from_host(std::vector<int32_t>{3, 4, 5, 6}, {2, 2});
  EXPECT_THAT(concatenate({a, b}).to_vector<int32_t>(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(concatenate({a, b}, -2).shape(), (Shape{3, 2}));
  Array c = from_host(std::vector<int32_t>{7, 8}, {2, 1});
  EXPECT_THAT(concatenate({b, c}, 1).to_vector<int32_t>(), ElementsAre(3, 4, 7, 5, 6, 8));
  EXPECT_THROW(concatenate({a, b}, 1), Error);
  EXPECT_THROW(concatenate({}), Error);
}

// ---- part A -------------------------------------------------------------------------

std::vector<int32_t> Ints(Array a) { return a.to_vector<int32_t>(); }

TEST(LayoutPartATest, SqueezeExpandDimsFlatten) {
  Array x = reshape(arange(6, int32), {1, 2, 1, 3});
  EXPECT_EQ(squeeze(x).shape(), (Shape{2, 3}));
  EXPECT_EQ(squeeze(x, -2).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(squeeze(x, {0, 2}).shape(), (Shape{2, 3}));
  EXPECT_EQ(BuildError([&] { squeeze(x, 1); }),
            "[squeeze] cannot squeeze axis 1 of size 2; it must have size 1.");
  EXPECT_EQ(BuildError([&] { squeeze(x, 4); }),
            "[squeeze] axis 4 is out of range for an array of rank 4.");
  Array y = arange(6, int32);
  EXPECT_EQ(expand_dims(y, 0).shape(), (Shape{1, 6}));
  EXPECT_EQ(expand_dims(y, -1).shape(), (Shape{6, 1}));
  EXPECT_EQ(expand_dims(y, {0, 2}).shape(), (Shape{1, 6, 1}));
  EXPECT_EQ(expand_dims(full({}, 1.0), 0).shape(), (Shape{1}));
  EXPECT_EQ(BuildError([&] {
              expand_dims(y, {0, 0});
            }),
            "[expand_dims] axis 0 appears more than once.");
  EXPECT_EQ(flatten(x).shape(), (Shape{6}));
  EXPECT_EQ(flatten(x, 1, 2).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(flatten(x, -2).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(flatten(full({}, 1.0)).shape(), (Shape{1}));
  EXPECT_EQ(BuildError([&] { flatten(x, 2, 1); }),
            "[flatten] start_axis 2 comes after end_axis 1.");
}

TEST(LayoutPartATest, SwapaxesMoveaxis) {
  Array x = reshape(arange(24, int32), {2, 3, 4});
  EXPECT_EQ(swapaxes(x, 0, -1).shape(), (Shape{4, 3, 2}));
  EXPECT_THAT(Ints(swapaxes(reshape(arange(6, int32), {2, 3}), 0, 1)),
              ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_EQ(moveaxis(x, 0, -1).shape(), (Shape{3, 4, 2}));
  EXPECT_EQ(moveaxis(x, -1, 0).shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(moveaxis(x, 0, 1).shape(), (Shape{3, 2, 4}));
  EXPECT_EQ(BuildError([&] { moveaxis(x, 3, 0); }),
            "[moveaxis] axis 3 is out of range for an array of rank 3.");
}

TEST(LayoutPartATest, Stack) {
  Array a = arange(3, int32);
  Array b = arange(3, 6, int32);
  EXPECT_EQ(stack({a, b}).shape(), (Shape{2, 3}));
  EXPECT_THAT(Ints(stack({a, b}, -1)), ElementsAre(0, 3, 1, 4, 2, 5));
  EXPECT_EQ(stack({full({}, 1.0), full({}, 2.0)}).shape(), (Shape{2}));
  EXPECT_EQ(BuildError([&] {
              stack({a, arange(4, int32)});
            }),
            "[stack] arrays must have one shape; got (3,) and (4,).");
  EXPECT_EQ(BuildError([&] {
              stack({a, b}, 2);
            }),
            "[stack] axis 2 is out of range for an array of rank 2.");
}

TEST(LayoutPartATest, Split) {
  Array x = reshape(arange(12, int32), {2, 6});
  std::vector<Array> thirds = split(x, 3, 1);
  ASSERT_EQ(thirds.size(), 3u);
  EXPECT_THAT(Ints(thirds[1]), ElementsAre(2, 3, 8, 9));
  std::vector<Array> parts = split(arange(6, int32), Shape{1, 4});
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_THAT(Ints(parts[0]), ElementsAre(0));
  EXPECT_THAT(Ints(parts[1]), ElementsAre(1, 2, 3));
  EXPECT_THAT(Ints(parts[2]), ElementsAre(4, 5));
  // Python slice rules: -2 counts from the end; past the end gives empty parts.
  std::vector<Array> tail = split(arange(6, int32), Shape{-2, 9});
  EXPECT_THAT(Ints(tail[0]), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(Ints(tail[1]), ElementsAre(4, 5));
  EXPECT_EQ(tail[2].shape(), (Shape{0}));
  EXPECT_EQ(BuildError([&] { split(x, 4, 1); }),
            "[split] cannot split axis 1 of size 6 into 4 equal parts.");
}

TEST(LayoutPartATest, Pad) {
  Array x = reshape(arange(1, 5, int32), {2, 2});
  Array p = pad(x, {{1, 0}, {0, 2}}, 9);
  EXPECT_EQ(p.shape(), (Shape{3, 4}));
  EXPECT_EQ(p.dtype(), int32);
  EXPECT_THAT(Ints(p), ElementsAre(9, 9, 9, 9, 1, 2, 9, 9, 3, 4, 9, 9));
  EXPECT_THAT(Ints(pad(arange(2, int32), 1)), ElementsAre(0, 0, 1, 0));
  EXPECT_EQ(pad(zeros({0, 2}), {{0, 0}, {1, 1}}).shape(), (Shape{0, 4}));
  EXPECT_EQ(BuildError([&] {
              pad(x, {{1, 1}, {1, 1}, {1, 1}});
            }),
            "[pad] needs one (before, after) pair per axis (2) or one for all; got 3.");
  EXPECT_EQ(BuildError([&] { pad(x, -1); }),
            "[pad] pad widths must be non-negative; got (-1, -1) for axis 0.");
}

TEST(LayoutPartATest, TileRepeatRoll) {
  Array x = reshape(arange(1, 5, int32), {2, 2});
  EXPECT_THAT(Ints(tile(arange(3, int32), {2})), ElementsAre(0, 1, 2, 0, 1, 2));
  Array t = tile(x, {2, 1});
  EXPECT_EQ(t.shape(), (Shape{4, 2}));
  EXPECT_THAT(Ints(t), ElementsAre(1, 2, 3, 4, 1, 2, 3, 4));
  EXPECT_EQ(tile(arange(3, int32), {2, 2}).shape(), (Shape{2, 6}));
  EXPECT_EQ(tile(x, {3}).shape(), (Shape{2, 6}));
  EXPECT_EQ(tile(x, {0, 1}).shape(), (Shape{0, 2}));
  EXPECT_THAT(Ints(repeat(x, 2, 1)), ElementsAre(1, 1, 2, 2, 3, 3, 4, 4));
  EXPECT_THAT(Ints(repeat(x, 2, -2)), ElementsAre(1, 2, 1, 2, 3, 4, 3, 4));
  EXPECT_THAT(Ints(repeat(x, 2)), ElementsAre(1, 1, 2, 2, 3, 3, 4, 4));
  EXPECT_EQ(repeat(x, 0, 0).shape(), (Shape{0, 2}));
  EXPECT_THAT(Ints(roll(arange(5, int32), 2)), ElementsAre(3, 4, 0, 1, 2));
  EXPECT_THAT(Ints(roll(arange(5, int32), -1)), ElementsAre(1, 2, 3, 4, 0));
  EXPECT_THAT(Ints(roll(x, 1)), ElementsAre(4, 1, 2, 3));
  EXPECT_THAT(Ints(roll(x, 1, 1)), ElementsAre(2, 1, 4, 3));
  EXPECT_THAT(Ints(roll(x, {1, 1}, {0, 1})), ElementsAre(4, 3, 2, 1));
  EXPECT_THAT(Ints(roll(transpose(x), 7, 0)), ElementsAre(2, 4, 1, 3));
  EXPECT_EQ(BuildError([&] { tile(x, {-1}); }), "[tile] reps must be non-negative; got -1.");
  EXPECT_EQ(BuildError([&] { repeat(x, -2, 0); }),
            "[repeat] repeats must be non-negative; got -2.");
  EXPECT_EQ(BuildError([&] {
              roll(x, {1}, {0, 1});
            }),
            "[roll] needs one shift per axis; got 1 shifts and 2 axes.");
}

}  // namespace
}  // namespace ferry
