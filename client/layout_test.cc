// reshape, transpose, broadcast_to, slice and concatenate on the local device.

#include <cstdint>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

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
  EXPECT_EQ(slice(x, {5}, {2}).size(), 0);     // empty, not an error
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

}  // namespace
}  // namespace ferry
