// max and average pooling: hand-worked windows, a reference loop on random inputs, the
// identity avg_pool = depthwise convolution with a flat kernel, dtypes, gradients, errors.

#include <algorithm>
#include <limits>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

TEST(PoolingTest, WindowsByHand) {
  // One 4x4 image, one channel: 2x2 windows side by side.
  Array x = reshape(astype(arange(16, int32), float32), {1, 4, 4, 1});
  EXPECT_THAT(max_pool2d(x, {2, 2}).to_vector<float>(), ElementsAre(5, 7, 13, 15));
  EXPECT_THAT(avg_pool2d(x, {2, 2}).to_vector<float>(), ElementsAre(2.5, 4.5, 10.5, 12.5));
  // Padding counts in the mean as zeros, and never wins a max.
  Array v = from_host(std::vector<float>{-1, -2, -3, -4}, {1, 4, 1});
  EXPECT_THAT(avg_pool1d(v, 3, 1, 1).to_vector<float>(),
              Pointwise(FloatNear(1e-6), std::vector<float>{-1, -2, -3, -7.0f / 3}));
  EXPECT_THAT(max_pool1d(v, 3, 1, 1).to_vector<float>(), ElementsAre(-1, -1, -2, -3));
  EXPECT_THAT(max_pool1d(v, 2, 1).to_vector<float>(), ElementsAre(-1, -2, -3));
}

TEST(PoolingTest, MatchesAReferenceLoop) {
  const int64_t n = 2, h = 7, w = 6, c = 3, kh = 3, kw = 2, sh = 2, sw = 1, ph = 1, pw = 1;
  Array x = random::uniform({n, h, w, c}, float32, -1, 1, random::key(7));
  const std::vector<float> xs = x.to_vector<float>();
  const int64_t oh = (h + 2 * ph - kh) / sh + 1, ow = (w + 2 * pw - kw) / sw + 1;
  std::vector<float> want_max, want_avg;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t i = 0; i < oh; ++i) {
      for (int64_t j = 0; j < ow; ++j) {
        for (int64_t ch = 0; ch < c; ++ch) {
          float best = -std::numeric_limits<float>::infinity(), total = 0;
          for (int64_t a = 0; a < kh; ++a) {
            for (int64_t e = 0; e < kw; ++e) {
              const int64_t y = i * sh - ph + a, z = j * sw - pw + e;
              if (y < 0 || y >= h || z < 0 || z >= w) continue;
              const float value = xs[((b * h + y) * w + z) * c + ch];
              best = std::max(best, value);
              total += value;
            }
          }
          want_max.push_back(best);
          want_avg.push_back(total / (kh * kw));
        }
      }
    }
  }
  Array got_max = max_pool2d(x, {kh, kw}, std::make_pair(sh, sw), {ph, pw});
  EXPECT_EQ(got_max.shape(), (Shape{n, oh, ow, c}));
  EXPECT_THAT(got_max.to_vector<float>(), ElementsAreArray(want_max));
  EXPECT_THAT(avg_pool2d(x, {kh, kw}, std::make_pair(sh, sw), {ph, pw}).to_vector<float>(),
              Pointwise(FloatNear(1e-6), want_avg));
}

TEST(PoolingTest, AveragingIsADepthwiseConvolutionWithAFlatKernel) {
  Array x = random::uniform({1, 5, 5, 4}, float32, -1, 1, random::key(8));
  Array flat = full({4, 3, 3, 1}, 1.0 / 9);
  EXPECT_THAT(
      avg_pool2d(x, {3, 3}, std::make_pair(1, 1), {1, 1}).to_vector<float>(),
      Pointwise(FloatNear(1e-6), conv2d(x, flat, {1, 1}, {1, 1}, {1, 1}, 4).to_vector<float>()));
}

TEST(PoolingTest, Dtypes) {
  Array ints = reshape(arange(-8, 8, int32), {1, 8, 2});
  EXPECT_EQ(max_pool1d(ints, 2).dtype(), int32);
  EXPECT_THAT(max_pool1d(ints, 4, 4, 2).to_vector<int32_t>(), ElementsAre(-6, -5, 2, 3, 6, 7));
  EXPECT_EQ(avg_pool1d(ints, 2).dtype(), float32);
  EXPECT_EQ(avg_pool1d(astype(ints, float16), 2).dtype(), float16);
  EXPECT_EQ(max_pool1d(astype(ints, bfloat16), 2).dtype(), bfloat16);
}

TEST(PoolingTest, GradientsReachTheWinnersAndSpreadTheMeans) {
  Array x = from_host(std::vector<float>{1, 5, 2, 0, 3, 4}, {1, 6, 1});
  auto max_sum = [](const Array& v) { return sum(max_pool1d(v, 2)); };
  EXPECT_THAT(grad(max_sum)(x).to_vector<float>(), ElementsAre(0, 1, 1, 0, 0, 1));
  auto avg_sum = [](const Array& v) { return sum(avg_pool1d(v, 3, 1)); };
  // Position i is in min(i + 1, 3, 6 - i) windows, each weighing 1/3.
  EXPECT_THAT(
      grad(avg_sum)(x).to_vector<float>(),
      Pointwise(FloatNear(1e-6), std::vector<float>{1.f / 3, 2.f / 3, 1, 1, 2.f / 3, 1.f / 3}));
}

TEST(PoolingTest, BadArgumentsThrowAtTheCall) {
  Array x = zeros({1, 4, 3});
  EXPECT_THAT(BuildError([&] { max_pool1d(x, 0); }),
              HasSubstr("[max_pool1d] kernel must be at least 1, got 0."));
  EXPECT_THAT(BuildError([&] { max_pool1d(x, 2, 1, 2); }),
              HasSubstr("[max_pool1d] padding 2 is more than half the kernel 2."));
  EXPECT_THAT(BuildError([&] { avg_pool1d(x, 5); }),
              HasSubstr("[avg_pool1d] spatial axis 0 of length 4 (padded 4) is shorter than the "
                        "kernel 5."));
  EXPECT_THAT(BuildError([&] {
                max_pool2d(x, {2, 2});
              }),
              HasSubstr("[max_pool2d] x must have rank 4, got 3."));
  EXPECT_THAT(BuildError([&] {
                max_pool_general(x, {2, 2}, {}, {0});
              }),
              HasSubstr("[max_pool] kernel needs one value per spatial dim (1) or one for all"));
}

}  // namespace
}  // namespace ferry
