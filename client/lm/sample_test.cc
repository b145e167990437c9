// Samplers and logits processors: mlx-lm's sample_utils on the same inputs
// (testdata/lm_mlx.py), and draws that follow the distribution they were filtered to.

#include "client/lm/sample.h"

#include <cmath>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "client/io.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::BuildError;
using ::ferry::testing::ExpectAllClose;

class SampleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string path = ::ferry::testing::Runfile("client/lm/testdata/lm_mlx.safetensors");
    arrays_ = new std::unordered_map<std::string, Array>(load_safetensors(path).first);
  }
  static void TearDownTestSuite() { delete arrays_; }
  static Array At(const std::string& name) { return arrays_->at(name); }

  static std::unordered_map<std::string, Array>* arrays_;
};
std::unordered_map<std::string, Array>* SampleTest::arrays_ = nullptr;

TEST_F(SampleTest, FiltersKeepWhatMlxLmKeeps) {
  const Array logprobs = At("sampler.logprobs");
  ExpectAllClose(apply_top_p(logprobs, 0.9f), At("sampler.top_p_0.9"), 0, 0, "top_p 0.9");
  ExpectAllClose(apply_top_p(logprobs, 0.3f), At("sampler.top_p_0.3"), 0, 0, "top_p 0.3");
  ExpectAllClose(apply_min_p(logprobs, 0.1f), At("sampler.min_p_0.1"), 0, 0, "min_p 0.1");
  ExpectAllClose(apply_min_p(logprobs, 0.9f, 3), At("sampler.min_p_0.9_keep_3"), 0, 0,
                 "min_p 0.9, 3 kept");
  ExpectAllClose(apply_top_k(logprobs, 5), At("sampler.top_k_5"), 0, 0, "top_k 5");
}

TEST_F(SampleTest, ProcessorsChangeLogitsAsMlxLmDoes) {
  const Array history = At("processor.history"), logits = At("processor.logits");
  ExpectAllClose(make_repetition_penalty(1.3f, 5)(history, logits), At("processor.repetition_1.3"),
                 1e-6, 1e-6, "repetition");
  ExpectAllClose(make_presence_penalty(0.5f, 20)(history, logits), At("processor.presence_0.5"),
                 1e-6, 1e-6, "presence");
  // Token 7 appears three times: penalized three times.
  ExpectAllClose(make_frequency_penalty(0.5f, 20)(history, logits), At("processor.frequency_0.5"),
                 1e-6, 1e-6, "frequency");
  ExpectAllClose(make_logit_bias({{4, 3.0f}, {9, -2.5f}})(history, logits),
                 At("processor.logit_bias"), 1e-6, 1e-6, "logit bias");
  EXPECT_EQ(make_logits_processors({{4, 1.0f}}, 1.1f, 20, std::nullopt, 20, 0.0f).size(), 2u);
}

TEST_F(SampleTest, GreedyTakesTheArgmaxAndTemperatureZeroIsGreedy) {
  const Array logprobs = At("sampler.logprobs");
  const std::vector<int32_t> want = astype(argmax(logprobs, -1), int32).to_vector<int32_t>();
  EXPECT_EQ(greedy_sampler(logprobs).to_vector<int32_t>(), want);
  EXPECT_EQ(make_sampler(0.0f, 0.5f, 0.1f, 1, 3)(logprobs).to_vector<int32_t>(), want);
}

TEST_F(SampleTest, DrawsFollowTheFilteredDistribution) {
  random::seed(7);
  // Four tokens with probabilities 0.5, 0.25, 0.15, 0.1; top_k 2 leaves 2/3 and 1/3.
  const Array logprobs =
      log(Array(from_host(std::vector<float>{0.5f, 0.25f, 0.15f, 0.1f}, {1, 4})));
  const Sampler sampler = make_sampler(1.0f, 0.0f, 0.0f, 1, 2);
  const int draws = 600;
  std::vector<int> counts(4, 0);
  std::vector<Array> tokens;
  for (int i = 0; i < draws; ++i) tokens.push_back(sampler(logprobs));
  for (Array& t : tokens) ++counts[static_cast<size_t>(t.item<int32_t>())];
  EXPECT_EQ(counts[2] + counts[3], 0);
  // 400 expected, a standard deviation of 11.5: 4.3 of them either way.
  EXPECT_NEAR(counts[0], 400, 50);
  // A high temperature flattens: each of the four comes up.
  const Sampler hot = make_sampler(5.0f);
  std::vector<int> seen(4, 0);
  for (int i = 0; i < 200; ++i) ++seen[static_cast<size_t>(hot(logprobs).item<int32_t>())];
  for (int k = 0; k < 4; ++k) EXPECT_GT(seen[static_cast<size_t>(k)], 20) << "token " << k;
}

TEST_F(SampleTest, BadArgumentsAreNamed) {
  const Array logprobs = At("sampler.logprobs");
  EXPECT_EQ(BuildError([&] { apply_top_k(logprobs, 40); }),
            "[apply_top_k] top_k must lie in (0, 40), got 40.");
  EXPECT_EQ(BuildError([&] { apply_min_p(logprobs, 1.5f); }),
            "[apply_min_p] min_p must lie in [0, 1] and min_tokens_to_keep be positive, got 1.5 "
            "and 1.");
  EXPECT_EQ(BuildError([&] { apply_top_p(reshape(logprobs, {-1}), 0.5f); }),
            "[apply_top_p] expects (batch, vocab) logits, got rank 1.");
  EXPECT_EQ(BuildError([&] { make_repetition_penalty(-1.0f); }),
            "[make_repetition_penalty] penalty must be non-negative, got -1.");
}

}  // namespace
}  // namespace ferry::lm
