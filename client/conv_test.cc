// conv1d, conv2d and conv_general on the local device (NumPy comparisons are in
// opsb_fixtures_test.cc).

#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::BuildError;

TEST(ConvTest, Conv1dByHand) {
  Array x = from_host(std::vector<float>{1, 2, 3, 4}, {1, 4, 1});
  Array w = from_host(std::vector<float>{1, 10}, {1, 2, 1});
  EXPECT_THAT(conv1d(x, w).to_vector<float>(), ElementsAre(21, 32, 43));
  EXPECT_THAT(conv1d(x, w, 2, 1).to_vector<float>(), ElementsAre(10, 32, 4));
  EXPECT_THAT(conv1d(x, w, 1, 0, 2).to_vector<float>(), ElementsAre(31, 42));
}

TEST(ConvTest, Conv2dDepthwiseAndPromotion) {
  // Depthwise (groups = channels): each channel convolved with its own 1x1 kernel.
  Array x = from_host(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 2, 2});
  Array w = astype(from_host(std::vector<float>{2, -1}, {2, 1, 1, 1}), float16);
  Array y = conv2d(x, w, {1, 1}, {0, 0}, {1, 1}, 2);
  EXPECT_EQ(y.dtype(), float32);  // float32 with float16 promotes
  EXPECT_EQ(y.shape(), (Shape{1, 2, 2, 2}));
  EXPECT_THAT(y.to_vector<float>(), ElementsAre(2, -2, 6, -4, 10, -6, 14, -8));
}

TEST(ConvTest, ConvGeneralAsymmetricPadding) {
  Array x = from_host(std::vector<float>{1, 2, 3}, {1, 3, 1});
  Array w = from_host(std::vector<float>{1, 1}, {1, 2, 1});
  Array y = conv_general(x, w, {1}, {0}, {2}, {1});
  EXPECT_THAT(y.to_vector<float>(), ElementsAre(3, 5, 3, 0));
}

TEST(ConvTest, BadArgumentsThrowAtTheCall) {
  Array x = zeros({1, 4, 3});
  EXPECT_THAT(BuildError([&] {
                conv1d(x, zeros({2, 2, 2, 1}));
              }),
              HasSubstr("[conv1d] input and weight must have rank 3"));
  EXPECT_THAT(BuildError([&] {
                conv1d(astype(x, int32), zeros({2, 2, 3}));
              }),
              HasSubstr("[conv] input and weight must be floating, got int32"));
  EXPECT_THAT(BuildError([&] {
                conv1d(x, zeros({2, 2, 3}), 1, 0, 1, 2);
              }),
              HasSubstr("[convolution] groups 2 must divide the 3 input channels"));
  EXPECT_THAT(BuildError([&] {
                conv1d(x, zeros({2, 5, 3}));
              }),
              HasSubstr("smaller than the dilated kernel"));
  EXPECT_THAT(BuildError([&] {
                conv_general(x, zeros({2, 2, 3}), {1, 1}, {0}, {0}, {1});
              }),
              HasSubstr("[conv] stride needs one value per spatial dim (1) or one for all, got 2"));
}

}  // namespace
}  // namespace ferry
