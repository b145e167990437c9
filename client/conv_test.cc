// conv1d, conv2d, conv_general and the transposed convolutions on the local device (NumPy
// comparisons are in opsb_fixtures_test.cc).

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
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

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

TEST(ConvTransposeTest, ScattersEachInputThroughTheKernel) {
  // Input i adds w[k] x[i] at i * 2 + k - 1: [1, 2, 3 + 10, 20, 30] at positions -1..3,
  // of which the padding leaves 0..2, and an output_padding of 1 keeps position 3.
  Array x = from_host(std::vector<float>{1, 10}, {1, 2, 1});
  Array w = from_host(std::vector<float>{1, 2, 3}, {1, 3, 1});
  EXPECT_THAT(conv_transpose1d(x, w, 2, 1).to_vector<float>(), ElementsAre(2, 13, 20));
  EXPECT_THAT(conv_transpose1d(x, w, 2, 1, 1, 1).to_vector<float>(), ElementsAre(2, 13, 20, 30));
  EXPECT_THAT(conv_transpose1d(x, w, 2).to_vector<float>(), ElementsAre(1, 2, 13, 20, 30));
}

// With the channel axes of conv's weight swapped, conv_transpose is conv's adjoint:
// <conv(x, w), y> = <x, conv_transpose(y, w^T)>, and autodiff through it gives conv back.
TEST(ConvTransposeTest, IsTheAdjointOfConvolution) {
  Array x = random::uniform({2, 9, 3}, float32, -1, 1, random::key(1));
  Array w = random::uniform({4, 3, 3}, float32, -1, 1, random::key(2));
  Array y = random::uniform({2, 5, 4}, float32, -1, 1, random::key(3));
  Array wt = swapaxes(w, 0, -1);  // (3, 3, 4)
  const float forward = sum(conv1d(x, w, 2, 1) * y).item<float>();
  const float adjoint = sum(x * conv_transpose1d(y, wt, 2, 1)).item<float>();
  EXPECT_NEAR(forward, adjoint, 1e-4);
  auto inner_with_x = [&](const Array& v) { return sum(conv_transpose1d(v, wt, 2, 1) * x); };
  EXPECT_THAT(grad(inner_with_x)(y).to_vector<float>(),
              Pointwise(FloatNear(1e-5), conv1d(x, w, 2, 1).to_vector<float>()));
}

TEST(ConvTest, ThreeDimensionalFormsAreTheGeneralOnes) {
  Array x = random::uniform({1, 4, 5, 3, 2}, float32, -1, 1, random::key(4));
  Array w = random::uniform({3, 2, 3, 2, 2}, float32, -1, 1, random::key(5));
  EXPECT_THAT(
      conv3d(x, w, {2, 1, 1}, {1, 0, 1}, {1, 1, 2}).to_vector<float>(),
      Pointwise(FloatNear(1e-6),
                conv_general(x, w, {2, 1, 1}, {1, 0, 1}, {1, 0, 1}, {1, 1, 2}).to_vector<float>()));
  Array y = random::uniform({1, 2, 3, 2, 2}, float32, -1, 1, random::key(6));
  EXPECT_THAT(
      conv_transpose3d(y, w, {2, 1, 2}, {0, 1, 0}, {1, 1, 1}, {1, 0, 0}).to_vector<float>(),
      Pointwise(
          FloatNear(1e-6),
          conv_transpose_general(y, w, {2, 1, 2}, {0, 1, 0}, {1}, {1, 0, 0}).to_vector<float>()));
  EXPECT_THAT(BuildError([&] {
                conv3d(zeros({1, 4, 3}), w);
              }),
              HasSubstr("[conv3d] input and weight must have rank 5"));
}

TEST(ConvTransposeTest, BadArgumentsThrowAtTheCall) {
  Array x = zeros({1, 4, 3});
  EXPECT_THAT(BuildError([&] {
                conv_transpose1d(x, zeros({2, 2, 3}), 2, 0, 1, 2);
              }),
              HasSubstr("[conv_transpose] output_padding 2 must be smaller than the stride 2."));
  EXPECT_THAT(BuildError([&] {
                conv_transpose1d(x, zeros({2, 2, 3}), 0);
              }),
              HasSubstr("[conv_transpose] stride must be at least 1, got 0."));
  EXPECT_THAT(BuildError([&] {
                conv_transpose1d(x, zeros({2, 2, 3}), 1, 3);
              }),
              HasSubstr("would give an output of length -1"));
  EXPECT_THAT(BuildError([&] {
                conv_transpose2d(x, zeros({2, 2, 3}));
              }),
              HasSubstr("[conv_transpose2d] input and weight must have rank 4"));
}

}  // namespace
}  // namespace ferry
