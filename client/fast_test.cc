// fast::layer_norm, rms_norm, rope and scaled_dot_product_attention on the local device:
// identities and hand-checked values (NumPy comparisons are in opsb_fixtures_test.cc).

#include <cmath>
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

void ExpectAllNear(Array a, Array b, float tolerance = 1e-6f) {
  ASSERT_EQ(a.shape(), b.shape());
  std::vector<float> x = astype(a, float32).to_vector<float>();
  std::vector<float> y = astype(b, float32).to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(x[i], y[i], tolerance) << i;
}

TEST(LayerNormTest, NormalizesTheLastAxis) {
  Array x = from_host(std::vector<float>{1, 3, 10, 14}, {2, 2});
  // Row 0: mean 2, var 1; row 1: mean 12, var 4. Both become (-1, 1).
  EXPECT_THAT(fast::layer_norm(x, std::nullopt, std::nullopt, 0.0f).to_vector<float>(),
              ElementsAre(-1, 1, -1, 1));
  Array w = from_host(std::vector<float>{2, 3}, {2});
  Array b = from_host(std::vector<float>{0.5, -0.5}, {2});
  EXPECT_THAT(fast::layer_norm(x, w, b, 0.0f).to_vector<float>(),
              ElementsAre(-1.5, 2.5, -1.5, 2.5));
}

TEST(RmsNormTest, DividesByTheRootMeanSquare) {
  Array x = from_host(std::vector<float>{3, 4}, {1, 2});  // rms = sqrt(12.5)
  const float r = std::sqrt(12.5f);
  EXPECT_THAT(fast::rms_norm(x, std::nullopt, 0.0f).to_vector<float>(),
              ElementsAre(FloatNear(3 / r, 1e-6), FloatNear(4 / r, 1e-6)));
  Array half = fast::rms_norm(astype(x, float16), from_host(std::vector<float>{1, 2}, {2}));
  EXPECT_EQ(half.dtype(), float16);
}

TEST(NormTest, BadArgumentsThrowAtTheCall) {
  EXPECT_THAT(BuildError([] { fast::layer_norm(zeros({2}, int32), std::nullopt, std::nullopt); }),
              HasSubstr("[layer_norm] x must be floating, got int32"));
  EXPECT_THAT(BuildError([] {
                fast::rms_norm(zeros({2, 3}), zeros({2}));
              }),
              HasSubstr("[rms_norm] weight must have shape (3,), got (2,)"));
}

TEST(RopeTest, PositionZeroIsTheIdentityAndFreqsMatchBase) {
  Array x = random::normal({1, 3, 8}, float32, 0, 1, random::key(3));
  Array first = slice(fast::rope(x, 8, false, 10000.0f, 1.0f, 0), {0, 0, 0}, {1, 1, 8});
  ExpectAllNear(first, slice(x, {0, 0, 0}, {1, 1, 8}));
  // freqs are the reciprocals of base's inverse frequencies.
  Array freqs = power(10000.0f, arange(0, 8, 2) / 8.0f);
  ExpectAllNear(fast::rope(x, 8, true, std::nullopt, 2.0f, 5, freqs),
                fast::rope(x, 8, true, 10000.0f, 2.0f, 5), 1e-4f);
}

// A decoder's position held in an array gives the rotation of the same number given as int.
TEST(RopeTest, AnOffsetArrayRotatesAsTheSameInt) {
  Array x = random::normal({2, 3, 8}, float32, 0, 1, random::key(4));
  for (bool traditional : {false, true}) {
    for (int offset : {0, 7, 1000}) {
      Array at = from_host(std::vector<int32_t>{offset}, {});
      EXPECT_EQ(fast::rope(x, 6, traditional, 10000.0f, 0.5f, at).to_vector<float>(),
                fast::rope(x, 6, traditional, 10000.0f, 0.5f, offset).to_vector<float>())
          << offset;
    }
  }
  EXPECT_THAT(BuildError([&] { fast::rope(x, 8, false, 10000.0f, 1.0f, zeros({3}, int32)); }),
              HasSubstr("[rope] offset must be one number or one per batch row (2), got int32 "
                        "of shape (3,)"));
}

// Offsets (B,): each batch row rotated from its own position, as that row alone would be.
TEST(RopeTest, AnOffsetPerBatchRowRotatesEachRowFromItsOwn) {
  Array x = random::normal({3, 2, 4, 8}, float32, 0, 1, random::key(5));
  const std::vector<int32_t> offsets = {0, 5, 300};
  for (bool traditional : {false, true}) {
    Array rows = fast::rope(x, 6, traditional, 10000.0f, 0.5f, from_host(offsets, {3}));
    for (int64_t b = 0; b < 3; ++b) {
      Array row = slice(x, {b, 0, 0, 0}, {b + 1, 2, 4, 8});
      EXPECT_EQ(slice(rows, {b, 0, 0, 0}, {b + 1, 2, 4, 8}).to_vector<float>(),
                fast::rope(row, 6, traditional, 10000.0f, 0.5f, offsets[b]).to_vector<float>())
          << b << " " << traditional;
    }
  }
}

TEST(RopeTest, RotatesOnePairByHand) {
  // One position (offset 1, scale 1), dims 2, base irrelevant for the first pair:
  // theta = 1 rad.
  Array x = from_host(std::vector<float>{1, 0, 7}, {1, 3});
  std::vector<float> y = fast::rope(x, 2, false, 10000.0f, 1.0f, 1).to_vector<float>();
  EXPECT_NEAR(y[0], std::cos(1.0f), 1e-6);
  EXPECT_NEAR(y[1], std::sin(1.0f), 1e-6);
  EXPECT_EQ(y[2], 7);  // past dims: untouched
  EXPECT_THAT(BuildError([&] { fast::rope(x, 3, false, 10000.0f, 1.0f, 0); }),
              HasSubstr("[rope] dims 3 must be even"));
  EXPECT_THAT(BuildError([&] { fast::rope(x, 2, false, std::nullopt, 1.0f, 0); }),
              HasSubstr("[rope] give exactly one of base and freqs"));
}

TEST(AttentionTest, ZeroQueriesAverageTheValues) {
  Array q = zeros({1, 1, 2, 4});
  Array k = random::normal({1, 1, 3, 4}, float32, 0, 1, random::key(1));
  Array v = from_host(std::vector<float>{1, 2, 3, 4, 5, 6}, {1, 1, 3, 2});
  EXPECT_THAT(fast::scaled_dot_product_attention(q, k, v, 0.5f).to_vector<float>(),
              ElementsAre(3, 4, 3, 4));
  // Causal with L = 2, S = 3: query 0 sees keys 0..1, query 1 sees all three.
  EXPECT_THAT(fast::scaled_dot_product_attention(q, k, v, 0.5f, "causal").to_vector<float>(),
              ElementsAre(2, 3, 3, 4));
}

// MLX 0.32.4 gives these numbers: with zero queries each of the 3 keys has weight
// 1 / (3 + e^sink).
TEST(AttentionTest, SinksJoinEachRowsSoftmaxAsAKeyWithoutValue) {
  Array q = zeros({1, 2, 2, 4});
  Array k = random::normal({1, 1, 3, 4}, float32, 0, 1, random::key(1));
  Array v = from_host(std::vector<float>{1, 2, 3, 4, 5, 6}, {1, 1, 3, 2});
  Array sinks = from_host(std::vector<float>{0, 1}, {2});
  EXPECT_THAT(
      fast::scaled_dot_product_attention(q, k, v, 0.5f, "", std::nullopt, sinks).to_vector<float>(),
      Pointwise(FloatNear(1e-5),
                std::vector<float>{2.25f, 3, 2.25f, 3, 1.57390f, 2.09853f, 1.57390f, 2.09853f}));
  // A sink of -inf takes nothing; with causal masking and grouped heads alike.
  Array qr = random::normal({2, 4, 3, 8}, float32, 0, 1, random::key(2));
  Array kr = random::normal({2, 2, 5, 8}, float32, 0, 1, random::key(3));
  Array vr = random::normal({2, 2, 5, 3}, float32, 0, 1, random::key(4));
  ExpectAllNear(fast::scaled_dot_product_attention(qr, kr, vr, 0.3f, "causal", std::nullopt,
                                                   full({4}, -INFINITY)),
                fast::scaled_dot_product_attention(qr, kr, vr, 0.3f, "causal"));
  EXPECT_THAT(BuildError([&] {
                fast::scaled_dot_product_attention(qr, kr, vr, 0.3f, "", std::nullopt, zeros({2}));
              }),
              HasSubstr("sinks must have shape (4,), one per query head, got (2,)"));
}

TEST(AttentionTest, BoolMaskEqualsAnAdditiveMaskAndGroupsShareHeads) {
  Array q = random::normal({2, 4, 3, 8}, float32, 0, 1, random::key(11));
  Array k = random::normal({2, 2, 5, 8}, float32, 0, 1, random::key(12));
  Array v = random::normal({2, 2, 5, 3}, float32, 0, 1, random::key(13));
  Array keep = random::bernoulli(0.7, {3, 5}, random::key(14)) ||
               from_host(std::vector<bool>{true, false, false, false, false}, {5});
  Array additive = where(keep, 0.0f, -INFINITY);
  ExpectAllNear(fast::scaled_dot_product_attention(q, k, v, 0.3f, "", keep),
                fast::scaled_dot_product_attention(q, k, v, 0.3f, "", additive));
  // Query heads 2 and 3 use kv head 1: the same as attention with that head alone.
  Array q23 = slice(q, {0, 2, 0, 0}, {2, 4, 3, 8});
  Array k1 = slice(k, {0, 1, 0, 0}, {2, 2, 5, 8});
  Array v1 = slice(v, {0, 1, 0, 0}, {2, 2, 5, 3});
  ExpectAllNear(
      slice(fast::scaled_dot_product_attention(q, k, v, 0.3f), {0, 2, 0, 0}, {2, 4, 3, 3}),
      fast::scaled_dot_product_attention(q23, k1, v1, 0.3f));
}

TEST(AttentionTest, BadArgumentsThrowAtTheCall) {
  Array q = zeros({1, 3, 2, 4}), k = zeros({1, 2, 5, 4}), v = zeros({1, 2, 5, 4});
  EXPECT_THAT(BuildError([&] { fast::scaled_dot_product_attention(q, k, v, 1.0f); }),
              HasSubstr("with Hq a multiple of Hkv"));
  EXPECT_THAT(BuildError([&] { fast::scaled_dot_product_attention(k, k, v, 1.0f, "sliding"); }),
              HasSubstr("mask_mode 'sliding' is neither '' nor 'causal'"));
  EXPECT_THAT(
      BuildError([&] { fast::scaled_dot_product_attention(k, k, v, 1.0f, "", zeros({3})); }),
      HasSubstr("mask of shape (3,) does not broadcast"));
  EXPECT_THAT(
      BuildError([&] {
        fast::scaled_dot_product_attention(zeros({2, 4}), k, v, 1.0f);
      }),
      HasSubstr("[scaled_dot_product_attention] queries, keys and values must have rank 4"));
}

}  // namespace
}  // namespace ferry
