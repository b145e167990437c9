// Keys and the random generators on the local device, checked against core's Philox.

// core/philox.h calls log/cos unqualified inside ferry::core, so it must be read before
// client/ops.h declares ferry::log and ferry::cos.
#include "core/philox.h"
// (The order above matters.)
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "client/ferry.h"
#include "client/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;

TEST(RandomTest, KeyHoldsTheSeedsWords) {
  Array k = random::key(0x0000000100000002ull);
  EXPECT_EQ(k.dtype(), uint32);
  EXPECT_EQ(k.shape(), (Shape{2}));
  EXPECT_THAT(k.to_vector<uint32_t>(), ElementsAre(1u, 2u));
}

TEST(RandomTest, UniformFollowsPhilox) {
  Array u = random::uniform({2, 3}, float32, -1.0, 3.0, random::key(42));
  EXPECT_EQ(u.shape(), (Shape{2, 3}));
  std::vector<float> values = u.to_vector<float>();
  const core::PhiloxKey key = core::PhiloxKeyFromWords(0, 42);
  for (uint64_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], static_cast<float>(core::PhiloxUniform(i, key, -1.0, 3.0))) << i;
    EXPECT_GE(values[i], -1.0f);
    EXPECT_LT(values[i], 3.0f);
  }
}

TEST(RandomTest, NormalFollowsPhilox) {
  Array n = random::normal({5}, float64, 2.0, 0.5, random::key(7));
  std::vector<double> values = n.to_vector<double>();
  const core::PhiloxKey key = core::PhiloxKeyFromWords(0, 7);
  for (uint64_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], core::PhiloxNormal(i, key, 2.0, 0.5)) << i;
  }
}

TEST(RandomTest, SameKeySameNumbers) {
  Array k = random::key(3);
  EXPECT_EQ(random::normal({8}, float32, 0, 1, k).to_vector<float>(),
            random::normal({8}, float32, 0, 1, k).to_vector<float>());
  EXPECT_NE(random::normal({8}, float32, 0, 1, k).to_vector<float>(),
            random::normal({8}, float32, 0, 1, random::key(4)).to_vector<float>());
}

TEST(RandomTest, WithoutAKeyEachCallDrawsAFreshKey) {
  random::seed(1);
  std::vector<float> a = random::uniform({4}).to_vector<float>();
  std::vector<float> b = random::uniform({4}).to_vector<float>();
  EXPECT_NE(a, b);
  random::seed(1);
  EXPECT_EQ(random::uniform({4}).to_vector<float>(), a);  // re-seeding replays
}

// A Generator draws what the global state draws after seed(s), and a UseGenerator routes
// keyless calls to it without moving the global state.
TEST(RandomTest, AGeneratorDrawsAsTheSeededGlobalStateWithoutMovingIt) {
  random::seed(11);
  const std::vector<float> global_first = random::uniform({4}).to_vector<float>();
  const std::vector<float> global_second = random::uniform({4}).to_vector<float>();
  random::seed(11);
  random::Generator generator(11);
  {
    random::UseGenerator use(&generator);
    EXPECT_EQ(random::uniform({4}).to_vector<float>(), global_first);
    EXPECT_EQ(random::uniform({4}).to_vector<float>(), global_second);
  }
  // The global state was not drawn from meanwhile.
  EXPECT_EQ(random::uniform({4}).to_vector<float>(), global_first);
  EXPECT_NE(random::Generator(12).next_key().to_vector<uint32_t>(),
            random::Generator(11).next_key().to_vector<uint32_t>());
}

TEST(RandomTest, Errors) {
  EXPECT_THROW(random::uniform({2}, int32), Error);  // floating only
  EXPECT_THROW(random::uniform({2}, float32, 1.0, 0.0), Error);
  EXPECT_THROW(random::normal({2}, float32, 0.0, 1.0, ones({2}, int32)), Error);
  EXPECT_THROW(random::normal({2}, float32, 0.0, 1.0, ones({3}, uint32)), Error);
}

TEST(RandomTest, DeviceOverloads) {
  EXPECT_EQ(random::normal({4, 4}, float32, local()).shape(), (Shape{4, 4}));
  EXPECT_EQ(random::uniform({3}, float16, local()).dtype(), float16);
}

// ---- Ops part B: bits, split, bernoulli, randint, categorical --------------------------------

TEST(RandomTest, BitsAndSplitFollowPhilox) {
  const core::PhiloxKey key = core::PhiloxKeyFromWords(0, 42);
  std::vector<uint32_t> words = random::bits({4}, random::key(42)).to_vector<uint32_t>();
  for (uint64_t i = 0; i < words.size(); ++i) EXPECT_EQ(words[i], core::PhiloxBlock(i, key).v[0]);
  // split's keys are those words, two per key; the pair form gives the same rows.
  Array keys = random::split(random::key(42), 2);
  EXPECT_EQ(keys.shape(), (Shape{2, 2}));
  EXPECT_EQ(keys.to_vector<uint32_t>(), words);
  auto [first, second] = random::split(random::key(42));
  EXPECT_THAT(first.to_vector<uint32_t>(), ElementsAre(words[0], words[1]));
  EXPECT_THAT(second.to_vector<uint32_t>(), ElementsAre(words[2], words[3]));
  EXPECT_NE(random::uniform({3}, float32, 0, 1, first).to_vector<float>(),
            random::uniform({3}, float32, 0, 1, second).to_vector<float>());
}

TEST(RandomTest, BernoulliRates) {
  EXPECT_EQ(random::bernoulli(0.0, {100}, random::key(1)).to_vector<bool>(),
            std::vector<bool>(100, false));
  EXPECT_EQ(random::bernoulli(1.0, {100}, random::key(1)).to_vector<bool>(),
            std::vector<bool>(100, true));
  Array b = random::bernoulli(0.25, {20000}, random::key(2));
  EXPECT_EQ(b.dtype(), bool_);
  EXPECT_NEAR(mean(astype(b, float32)).item<float>(), 0.25, 0.01);
  // An array of probabilities broadcasts to the shape.
  Array p = from_host(std::vector<float>{0, 1}, {2});
  EXPECT_EQ(random::bernoulli(p, Shape{3, 2}, random::key(3)).to_vector<bool>(),
            (std::vector<bool>{false, true, false, true, false, true}));
  EXPECT_THROW(random::bernoulli(1.5, {2}), Error);
}

TEST(RandomTest, RandintCoversTheHalfOpenRange) {
  Array r = random::randint(-3, 4, {5000}, int64, random::key(5));
  EXPECT_EQ(r.dtype(), int64);
  std::vector<int64_t> values = r.to_vector<int64_t>();
  std::vector<int> counts(7, 0);
  for (int64_t v : values) {
    ASSERT_GE(v, -3);
    ASSERT_LT(v, 4);
    ++counts[v + 3];
  }
  for (int c : counts) EXPECT_NEAR(c, 5000 / 7.0, 150);  // each about 714
  EXPECT_EQ(random::randint(0, 10, {2}, uint8, random::key(5)).dtype(), uint8);
  EXPECT_THROW(random::randint(0, 10, {2}, float32), Error);
  EXPECT_THROW(random::randint(3, 3, {2}), Error);
}

TEST(RandomTest, CategoricalFollowsTheLogits) {
  // p = (0.25, 0.75) along the last axis, 4000 draws from one row.
  Array logits = from_host(std::vector<float>{0.0f, std::log(3.0f)}, {1, 2});
  Array draws = random::categorical(logits, -1, 4000, random::key(8));
  EXPECT_EQ(draws.shape(), (Shape{1, 4000}));
  EXPECT_EQ(draws.dtype(), uint32);
  EXPECT_NEAR(mean(astype(draws, float32)).item<float>(), 0.75, 0.02);
  // A dominant logit along axis 0 wins every time.
  Array sure = from_host(std::vector<float>{0, 50, 50, 0}, {2, 2});
  EXPECT_THAT(random::categorical(sure, 0, random::key(9)).to_vector<uint32_t>(),
              ElementsAre(1, 0));
}

// Mean and variance of a sample, for the distribution checks below.
std::pair<double, double> Moments(Array a) {
  const std::vector<float> v = astype(a, float32).to_vector<float>();
  double mean = 0, square = 0;
  for (float x : v) mean += x;
  mean /= v.size();
  for (float x : v) square += (x - mean) * (x - mean);
  return {mean, square / v.size()};
}

TEST(RandomTest, GumbelAndLaplaceHaveTheirMoments) {
  // Gumbel(0, 1): mean Euler's gamma, variance pi^2 / 6. 200k samples: standard errors of
  // 0.003 and 0.01.
  const auto [g_mean, g_var] = Moments(random::gumbel({200000}, float32, random::key(5)));
  EXPECT_NEAR(g_mean, 0.5772, 0.015);
  EXPECT_NEAR(g_var, M_PI * M_PI / 6, 0.05);
  const auto [l_mean, l_var] =
      Moments(random::laplace({200000}, float32, 3.0, 0.5, random::key(6)));
  EXPECT_NEAR(l_mean, 3.0, 0.01);
  EXPECT_NEAR(l_var, 2 * 0.5 * 0.5, 0.02);
  EXPECT_EQ(random::gumbel({4}, bfloat16, random::key(1)).dtype(), bfloat16);
  const std::vector<double> extremes =
      astype(random::gumbel({100000}, float64, random::key(2)), float64).to_vector<double>();
  for (double v : extremes) ASSERT_TRUE(std::isfinite(v));
  EXPECT_THROW(random::laplace({2}, int32), Error);
}

TEST(RandomTest, PermutationsHoldEveryIndexOnce) {
  std::vector<uint32_t> p = random::permutation(1000, random::key(9)).to_vector<uint32_t>();
  EXPECT_EQ(p, random::permutation(1000, random::key(9)).to_vector<uint32_t>());
  EXPECT_NE(p, random::permutation(1000, random::key(10)).to_vector<uint32_t>());
  std::sort(p.begin(), p.end());
  for (uint32_t i = 0; i < 1000; ++i) ASSERT_EQ(p[i], i);
  // Shuffling rows keeps each row whole.
  Array rows = reshape(arange(12, int32), {4, 3});
  const std::vector<int32_t> shuffled =
      random::permutation(rows, 0, random::key(3)).to_vector<int32_t>();
  for (int r = 0; r < 4; ++r) {
    EXPECT_EQ(shuffled[r * 3] % 3, 0);
    EXPECT_EQ(shuffled[r * 3 + 1], shuffled[r * 3] + 1);
    EXPECT_EQ(shuffled[r * 3 + 2], shuffled[r * 3] + 2);
  }
}

TEST(RandomTest, TruncatedNormalStaysInItsBoundsWithTheTruncatedMean) {
  // Mean of N(0, 1) truncated to [-1, 2]: (phi(-1) - phi(2)) / (Phi(2) - Phi(-1)) = 0.22964.
  Array samples = random::truncated_normal(-1, 2, {200000}, float32, random::key(12));
  const std::vector<float> v = samples.to_vector<float>();
  EXPECT_GE(*std::min_element(v.begin(), v.end()), -1.0f);
  EXPECT_LE(*std::max_element(v.begin(), v.end()), 2.0f);
  EXPECT_NEAR(Moments(samples).first, 0.22964, 0.01);
  EXPECT_EQ(random::truncated_normal(0, 1, {3}, float16, random::key(1)).dtype(), float16);
  EXPECT_THROW(random::truncated_normal(1, 1, {3}), Error);
}

TEST(RandomTest, MultivariateNormalHasItsMeanAndCovariance) {
  // 100k samples: standard errors below 0.01 for each mean and covariance entry.
  Array mean = from_host(std::vector<float>{1, -2, 0.5}, {3});
  Array cov = from_host(std::vector<float>{2, 0.6, 0, 0.6, 1, -0.3, 0, -0.3, 0.5}, {3, 3});
  Array x = random::multivariate_normal(mean, cov, {100000}, float32, random::key(21));
  ASSERT_EQ(x.shape(), (Shape{100000, 3}));
  Array centred = x - ::ferry::mean(x, 0);
  const std::vector<float> got_mean = ::ferry::mean(x, 0).to_vector<float>();
  const std::vector<float> got_cov =
      (matmul(transpose(centred), centred) / 100000.0).to_vector<float>();
  const std::vector<float> want_mean = mean.to_vector<float>(), want_cov = cov.to_vector<float>();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(got_mean[i], want_mean[i], 0.03) << i;
  for (int i = 0; i < 9; ++i) EXPECT_NEAR(got_cov[i], want_cov[i], 0.04) << i;
}

TEST(RandomTest, MultivariateNormalBroadcastsItsBatches) {
  Array means = zeros({4, 1, 2});
  Array covs = broadcast_to(eye(2), {5, 2, 2});
  EXPECT_EQ(random::multivariate_normal(means, covs, {}, float32, random::key(1)).shape(),
            (Shape{4, 5, 2}));
  EXPECT_EQ(random::multivariate_normal(zeros({2}), eye(2), {7}, float16, random::key(1)).dtype(),
            float16);
  EXPECT_THROW(random::multivariate_normal(zeros({3}), eye(2)), Error);
  EXPECT_THROW(random::multivariate_normal(zeros({2}), eye(2), {}, int32), Error);
  EXPECT_THROW(random::multivariate_normal(zeros({3, 2}), eye(2), {4}), Error);
}

}  // namespace
}  // namespace ferry
