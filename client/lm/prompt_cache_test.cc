// PromptCache: the kept cache sharing the longest beginning is taken out for a prompt
// continuing it and copied for one sharing part of it; the least recently used are
// forgotten past the capacity and past the bytes allowed; a Qwen3-Next conversation stopped
// with steps in flight is kept for its next turn.

#include "client/lm/prompt_cache.h"

#include <memory>
#include <vector>

#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

// `tokens` run through the model into a fresh cache.
std::vector<KVCache> Filled(Model& model, const std::vector<int32_t>& tokens) {
  std::vector<KVCache> cache = model.make_cache();
  model(from_host(tokens, {1, static_cast<int64_t>(tokens.size())}), &cache);
  eval(CacheState(cache));
  return cache;
}

TEST(PromptCacheTest, AContinuationTakesTheCacheAndASharedBeginningCopiesIt) {
  std::unique_ptr<Model> model = testing::TinyLlama(64);
  PromptCache cache(*model, 4);
  const std::vector<int32_t> first = {1, 2, 3, 4, 5, 6};
  cache.Put(first, Filled(*model, first));
  cache.Put({9, 8, 7}, Filled(*model, {9, 8, 7}));
  EXPECT_EQ(cache.size(), 2);
  // Shares 1 2 3 with the first: a copy of that much, the first kept whole.
  auto [copy, shared] = cache.Take({1, 2, 3, 40, 41});
  EXPECT_EQ(shared, 3);
  EXPECT_EQ(copy.front().offset(), 3);
  EXPECT_EQ(cache.size(), 2);
  // Continues the first: taken out.
  auto [taken, kept] = cache.Take({1, 2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(kept, 6);
  EXPECT_EQ(taken.front().offset(), 6);
  EXPECT_EQ(cache.size(), 1);
  // Shares nothing: a fresh cache.
  auto [fresh, none] = cache.Take({30, 31});
  EXPECT_EQ(none, 0);
  EXPECT_TRUE(fresh.front().empty());
}

// Qwen3-Next's linear layers keep a state no cut brings back to a shorter beginning: a
// prompt sharing more with such a cache than it continues another is given the other.
TEST(PromptCacheTest, ABeginningThatCannotBeCutGivesWayToAContinuation) {
  std::unique_ptr<Model> llama = testing::TinyLlama(64);
  std::unique_ptr<Model> hybrid =
      load_model(::ferry::testing::Runfile("client/lm/testdata/qwen3_next"));
  const std::vector<int32_t> longer = {1, 2, 3, 4, 5, 6, 8, 8}, shorter = {1, 2, 3, 4};
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7};
  for (Model* model : {llama.get(), hybrid.get()}) {
    PromptCache cache(*model, 4);
    cache.Put(longer, Filled(*model, longer));
    cache.Put(shorter, Filled(*model, shorter));
    const int64_t kept = cache.Take(prompt).second;
    EXPECT_EQ(kept, model == llama.get() ? 6 : 4) << model->args().model_type;
  }
}

// One conversation (mlx_lm.chat's flow) of a Qwen3-Next model generated with steps in
// flight: a turn stopped before them keeps its cache (the linear layers back at the state of
// the last token read but one), and the next turn prefills only what follows it.
TEST(PromptCacheTest, AnArraysModelsTurnStoppedWithStepsInFlightIsKept) {
  std::unique_ptr<Model> model =
      load_model(::ferry::testing::Runfile("client/lm/testdata/qwen3_next"));
  PromptCache cache(*model);
  GenerateOptions options;
  options.max_tokens = 20;
  options.steps_in_flight = 4;
  options.prompt_cache = cache.layers();
  std::vector<int32_t> conversation = {3, 1, 4, 1, 5, 9};
  std::vector<int32_t> given;
  {
    TokenGenerator generator(*model, cache.Prepare(conversation), options);
    for (int i = 0; i < 3; ++i) given.push_back(generator.next()->token);
  }
  cache.Finish(given);
  EXPECT_EQ(cache.size(), 1);
  conversation.insert(conversation.end(), given.begin(), given.end());
  conversation.insert(conversation.end(), {2, 6});
  options.max_tokens = 5;
  const std::vector<int32_t> rest = cache.Prepare(conversation);
  EXPECT_EQ(cache.reused(), 6 + 3 - 1);
  EXPECT_EQ(testing::Alone(*model, rest, options), testing::Alone(*model, conversation, 5));
}

TEST(PromptCacheTest, TheLeastRecentlyUsedGoPastTheCapacityOrTheBytes) {
  std::unique_ptr<Model> model = testing::TinyLlama(64);
  const int64_t one = [&] {
    int64_t bytes = 0;
    for (const KVCache& layer : Filled(*model, {1, 2, 3})) bytes += layer.nbytes();
    return bytes;
  }();
  ASSERT_GT(one, 0);
  for (const auto& [capacity, max_bytes] :
       std::vector<std::pair<int, int64_t>>{{2, 100 * one}, {10, 2 * one + one / 2}}) {
    PromptCache cache(*model, capacity, max_bytes);
    for (int32_t first : {10, 20, 30}) {
      cache.Put({first, 1, 2}, Filled(*model, {first, 1, 2}));
    }
    EXPECT_EQ(cache.size(), 2);
    EXPECT_EQ(cache.nbytes(), 2 * one);
    EXPECT_EQ(cache.Take({10, 1, 2, 5}).second, 0);  // the oldest went
    EXPECT_EQ(cache.Take({30, 1, 2, 5}).second, 3);  // taken out: its bytes with it
    EXPECT_EQ(cache.nbytes(), one);
  }
  // A cache larger than the bytes allowed is not kept.
  PromptCache small(*model, 10, one - 1);
  small.Put({1, 2, 3}, Filled(*model, {1, 2, 3}));
  EXPECT_EQ(small.size(), 0);
  EXPECT_EQ(small.nbytes(), 0);
}

}  // namespace
}  // namespace ferry::lm
