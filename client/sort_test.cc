// sort, argsort, partition, argpartition and topk on the local device.

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

Array Square() { return from_host(std::vector<float>{3, 1, 2, 0}, {2, 2}); }

TEST(SortTest, FlattensWithoutAnAxis) {
  Array s = sort(Square());
  EXPECT_EQ(s.shape(), (Shape{4}));
  EXPECT_THAT(s.to_vector<float>(), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(argsort(Square()).to_vector<uint32_t>(), ElementsAre(3, 1, 2, 0));
  EXPECT_THAT(sort(full({}, 2.0)).to_vector<float>(), ElementsAre(2));  // a scalar: (1,)
}

TEST(SortTest, AlongAxesOfATransposedArray) {
  Array t = transpose(Square());  // [[3, 2], [1, 0]]
  EXPECT_THAT(sort(t, -1).to_vector<float>(), ElementsAre(2, 3, 0, 1));
  EXPECT_THAT(argsort(t, 0).to_vector<uint32_t>(), ElementsAre(1, 1, 0, 0));
}

TEST(SortTest, KeepsHalfPrecisionDtypes) {
  Array h = astype(from_host(std::vector<float>{0.5, -1, 2}, {3}), bfloat16);
  Array s = sort(h);
  EXPECT_EQ(s.dtype(), bfloat16);
  EXPECT_THAT(astype(s, float32).to_vector<float>(), ElementsAre(-1, 0.5, 2));
}

TEST(PartitionTest, KthInPlaceAndNegativeKth) {
  Array a = from_host(std::vector<int32_t>{5, 1, 4, 2, 3}, {5});
  std::vector<int32_t> p = partition(a, 2).to_vector<int32_t>();
  EXPECT_EQ(p[2], 3);
  EXPECT_LT(std::max(p[0], p[1]), 3);
  EXPECT_GT(std::min(p[3], p[4]), 3);
  EXPECT_EQ(argpartition(a, -1, 0).to_vector<uint32_t>()[4], 0u);  // the largest is a[0]
  EXPECT_THAT(BuildError([&] { argpartition(a, 5); }),
              HasSubstr("[argpartition] kth 5 is out of range for axis 0 of length 5"));
  EXPECT_THAT(BuildError([] { sort(full({}, 1.0), 0); }), HasSubstr("[sort] cannot sort a scalar"));
}

TEST(TopkTest, LargestAlongAnAxis) {
  Array a = from_host(std::vector<int32_t>{5, 1, 4, 2, 3}, {5});
  EXPECT_THAT(topk(a, 2).to_vector<int32_t>(), ElementsAre(4, 5));
  Array m = from_host(std::vector<float>{1, 6, 5, 2, 3, 4}, {3, 2});
  Array top = topk(m, 1, 0);
  EXPECT_EQ(top.shape(), (Shape{1, 2}));
  EXPECT_THAT(top.to_vector<float>(), ElementsAre(5, 6));
  EXPECT_EQ(topk(a, 0).shape(), (Shape{0}));
  EXPECT_THAT(BuildError([&] { topk(a, 6); }),
              HasSubstr("[topk] k 6 is out of range for axis 0 of length 5"));
}

}  // namespace
}  // namespace ferry
