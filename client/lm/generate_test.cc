// Token generation on the local device: a cached decode (prefilled in chunks, growing past
// 256 positions) predicts what the model computes over the whole sequence at once; the
// cache, options and bad arguments behave as documented.

#include "client/lm/generate.h"

#include <string>

#include "client/lm/load.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::BuildError;
using ::ferry::testing::ExpectAllClose;

ModelArgs SmallLlama() {
  return ModelArgs::from_json(R"({
    "model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5, "vocab_size": 50, "tie_word_embeddings": true})");
}

std::vector<int32_t> RandomTokens(int n, int vocab) {
  return astype(random::randint(0, vocab, {n}, int32, random::key(n)), int32).to_vector<int32_t>();
}

TEST(GenerateTest, ACachedDecodeIsTheWholeSequencesPrediction) {
  random::seed(3);
  std::unique_ptr<Model> model = make_model(SmallLlama());
  // 250 prompt tokens in chunks of 100, then 12 steps: the cache grows from 256 to 512.
  const std::vector<int32_t> prompt = RandomTokens(250, 50);
  GenerateOptions options;
  options.max_tokens = 12;
  options.prefill_step_size = 100;
  std::vector<KVCache> cache = model->make_cache();
  options.prompt_cache = &cache;
  TokenGenerator generator(*model, prompt, options);
  std::vector<int32_t> generated;
  std::vector<Array> logprobs;
  while (std::optional<GenerationStep> step = generator.next()) {
    generated.push_back(step->token);
    logprobs.push_back(step->logprobs);
  }
  ASSERT_EQ(generated.size(), 12u);
  EXPECT_EQ(generator.generated(), 12);
  EXPECT_EQ(cache.front().capacity(), 512);
  EXPECT_EQ(cache.front().offset(), 250 + 11);

  std::vector<int32_t> sequence = prompt;
  sequence.insert(sequence.end(), generated.begin(), generated.end() - 1);
  const int64_t n = static_cast<int64_t>(sequence.size());
  const Array logits = (*model)(from_host(sequence, {1, n}));
  for (int64_t i = 0; i < 12; ++i) {
    const Array row = reshape(slice(logits, {0, 249 + i, 0}, {1, 250 + i, 50}), {50});
    ExpectAllClose(logprobs[static_cast<size_t>(i)], row - logsumexp(row), 1e-4, 1e-5,
                   "step " + std::to_string(i));
    EXPECT_EQ(generated[static_cast<size_t>(i)], argmax(row).item<uint32_t>()) << "step " << i;
  }
}

TEST(GenerateTest, ASeededSamplerRepeatsItsTokens) {
  std::unique_ptr<Model> model = make_model(SmallLlama());
  GenerateOptions options;
  options.max_tokens = 8;
  options.sampler = make_sampler(0.8f, 0.9f);
  options.logits_processors = make_logits_processors({}, 1.2f);
  auto run = [&] {
    random::seed(11);
    TokenGenerator generator(*model, {1, 2, 3}, options);
    std::vector<int32_t> tokens;
    while (std::optional<GenerationStep> step = generator.next()) tokens.push_back(step->token);
    return tokens;
  };
  const std::vector<int32_t> first = run();
  EXPECT_EQ(first.size(), 8u);
  EXPECT_EQ(run(), first);
}

TEST(GenerateTest, AConversationContinuesFromTheCache) {
  random::seed(9);
  std::unique_ptr<Model> model = make_model(SmallLlama());
  std::vector<KVCache> cache = model->make_cache();
  GenerateOptions options;
  options.max_tokens = 50;
  options.steps_in_flight = 4;
  options.prompt_cache = &cache;
  const std::vector<int32_t> first_turn = {3, 1, 4, 1, 5};
  std::vector<int32_t> reply;
  {
    TokenGenerator generator(*model, first_turn, options);
    for (int i = 0; i < 6; ++i) reply.push_back(generator.next()->token);
  }  // stopped after 6 tokens with 4 steps in flight: the cache forgets those 4 steps
  EXPECT_EQ(cache.front().offset(), 5 + 6 - 1);
  // The next turn starts with the reply's last token; its first token is what the whole
  // conversation, run afresh, predicts.
  std::vector<int32_t> second_turn = {reply.back(), 9, 2, 6};
  options.max_tokens = 1;
  TokenGenerator continued(*model, second_turn, options);
  const int32_t next = continued.next()->token;
  std::vector<int32_t> whole = first_turn;
  whole.insert(whole.end(), reply.begin(), reply.end());
  whole.insert(whole.end(), second_turn.begin() + 1, second_turn.end());
  options.prompt_cache = nullptr;
  TokenGenerator afresh(*model, whole, options);
  EXPECT_EQ(afresh.next()->token, next);
}

TEST(GenerateTest, StepsInFlightChangeNothingButTiming) {
  std::unique_ptr<Model> model = make_model(SmallLlama());
  auto run = [&](int in_flight) {
    GenerateOptions options;
    options.max_tokens = 10;
    options.steps_in_flight = in_flight;
    options.sampler = make_sampler(1.0f);
    random::seed(4);
    TokenGenerator generator(*model, {7, 7, 7}, options);
    std::vector<int32_t> tokens;
    while (std::optional<GenerationStep> step = generator.next()) tokens.push_back(step->token);
    return tokens;
  };
  const std::vector<int32_t> one = run(1);
  EXPECT_EQ(one.size(), 10u);
  EXPECT_EQ(run(3), one);
  EXPECT_EQ(run(16), one);
}

TEST(GenerateTest, TrimmingTheCacheForgetsTheLastPositions) {
  random::seed(5);
  std::unique_ptr<Model> model = make_model(SmallLlama());
  std::vector<KVCache> cache = model->make_cache();
  const Array first = (*model)(from_host(std::vector<int32_t>{4, 8, 15}, {1, 3}), &cache);
  (*model)(from_host(std::vector<int32_t>{16, 23}, {1, 2}), &cache);
  for (KVCache& c : cache) EXPECT_EQ(c.trim(2), 2);
  EXPECT_EQ(cache.front().offset(), 3);
  // With the last two forgotten, 16 follows 4 8 15 as if never seen before.
  const Array again = (*model)(from_host(std::vector<int32_t>{16}, {1, 1}), &cache);
  std::vector<KVCache> fresh = model->make_cache();
  (*model)(from_host(std::vector<int32_t>{4, 8, 15}, {1, 3}), &fresh);
  ExpectAllClose(again, (*model)(from_host(std::vector<int32_t>{16}, {1, 1}), &fresh), 1e-5, 1e-6,
                 "after trim");
  EXPECT_EQ(cache.front().trim(10), 4);  // 4 8 15 16: no more to forget
}

TEST(GenerateTest, BadArgumentsAreNamed) {
  std::unique_ptr<Model> model = make_model(SmallLlama());
  EXPECT_EQ(BuildError([&] { TokenGenerator(*model, {}); }),
            "[generate] the prompt holds no tokens.");
  EXPECT_EQ(BuildError([&] { (*model)(zeros({3}, int32)); }),
            "[Llama] tokens must be (batch, length), got shape (3,).");
  std::vector<KVCache> short_cache(1);
  EXPECT_EQ(BuildError([&] {
              (*model)(zeros({1, 3}, int32), &short_cache);
            }),
            "[Llama] the cache holds 1 layers, the model 2.");
}

}  // namespace
}  // namespace ferry::lm
