// The server's batch and prompt caches for a model with sliding-window layers (Gemma 3): a
// request decoded beside another keeps rings of the window on those layers, and the cache
// it leaves in the prompt pool stays that size while its next turn continues it and gets
// what a fresh cache gives.

#include "client/lm/server/batch_scheduler.h"

#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/server/token_sources.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm::server {
namespace {

using ::ferry::lm::testing::Alone;
using ::ferry::lm::testing::RandomTokens;

using ::ferry::testing::Runfile;

// The source's tokens to its last.
std::vector<int32_t> All(TokenSource& source) {
  std::vector<int32_t> tokens;
  while (std::optional<BatchGeneration> generation = source.Next()) {
    tokens.push_back(generation->token);
    if (!generation->finish_reason.empty()) break;
  }
  EXPECT_EQ(source.error(), "");
  return tokens;
}

TEST(BatchSchedulerTest, AGemma3RequestsCacheIsBoundedByTheWindowTurnAfterTurn) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/gemma3_text"));
  const int vocab = static_cast<int>(model->args().vocab_size);
  const int max_tokens = 12;
  BatchScheduler scheduler(*model, BatchGeneratorOptions{});
  PromptPool pool(*model, 4, std::numeric_limits<int64_t>::max());
  BatchSequence sequence, longer;
  sequence.max_tokens = max_tokens;
  longer.max_tokens = 80;
  // The first turn (20 tokens, past the window of 8) beside a neighbour that runs through
  // every turn.
  std::vector<int32_t> prompt = RandomTokens(20, vocab, 1);
  const std::vector<int32_t> other_prompt = RandomTokens(33, vocab, 2);
  std::unique_ptr<TokenSource> current = BatchTokens(scheduler, sequence, prompt, &pool);
  std::unique_ptr<TokenSource> other = BatchTokens(scheduler, longer, other_prompt, nullptr);
  for (int turn = 0; turn < 3; ++turn) {
    const std::vector<int32_t> tokens = All(*current);
    EXPECT_EQ(tokens, Alone(*model, prompt, max_tokens)) << "turn " << turn;
    // The prompt and the reply but its last token: what the pool keeps.
    std::vector<int32_t> held = prompt;
    held.insert(held.end(), tokens.begin(), tokens.end() - 1);
    current->Keep(held);
    std::vector<int32_t> next = held;
    next.push_back(tokens.back());
    {
      std::lock_guard<std::mutex> lock(pool.mu);
      auto [layers, kept] = pool.cache.Take(next);
      EXPECT_EQ(kept, static_cast<int64_t>(held.size())) << "turn " << turn;
      ASSERT_EQ(static_cast<int>(layers.size()), model->args().num_hidden_layers);
      for (size_t i = 0; i < layers.size(); ++i) {
        const std::optional<int64_t> window = model->sliding_window(static_cast<int>(i));
        EXPECT_EQ(layers[i].max_size(), window) << "turn " << turn << ", layer " << i;
        EXPECT_EQ(layers[i].offset(), static_cast<int64_t>(held.size()));
        if (window) {
          EXPECT_LE(layers[i].capacity(), *window) << "turn " << turn << ", layer " << i;
        }
      }
      pool.cache.Put(held, std::move(layers));
    }
    // The next turn continues the kept cache.
    prompt = next;
    for (int32_t t : RandomTokens(4, vocab, 10 + turn)) prompt.push_back(t);
    current = BatchTokens(scheduler, sequence, prompt, &pool);
    EXPECT_EQ(current->cached(), static_cast<int64_t>(held.size())) << "turn " << turn;
  }
  EXPECT_EQ(All(*current), Alone(*model, prompt, max_tokens)) << "the last turn";
  EXPECT_EQ(All(*other), Alone(*model, other_prompt, 80)) << "the neighbour";
}

// A prompt sharing only a beginning with a kept cache gets a copy of that beginning while
// the rings hold it (they have not wrapped), and a fresh cache once they no longer do.
TEST(BatchSchedulerTest, APromptCacheCopiesARingsBeginningUntilItWraps) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/gemma3_text"));
  const int vocab = static_cast<int>(model->args().vocab_size);
  PromptCache pool(*model, 4);
  for (int length : {6, 20}) {  // the window is 8
    const std::vector<int32_t> tokens = RandomTokens(length, vocab, 30 + length);
    std::vector<KVCache> cache = make_prompt_cache(*model);
    GenerateOptions options;
    options.max_tokens = 1;  // the cache then holds the prompt
    options.prompt_cache = &cache;
    TokenGenerator generator(*model, tokens, options);
    while (generator.next()) {
    }
    ASSERT_EQ(cache.front().offset(), length);
    pool.Put(tokens, std::move(cache));
    std::vector<int32_t> other(tokens.begin(), tokens.begin() + 4);
    other.push_back(vocab - 1 - tokens[4]);  // parts from the kept cache's tokens there
    auto [layers, kept] = pool.Take(other);
    EXPECT_EQ(kept, length < 8 ? 4 : 0) << length;
    if (kept > 0) {
      for (size_t i = 0; i < layers.size(); ++i) {
        EXPECT_EQ(layers[i].offset(), 4);
        EXPECT_EQ(layers[i].max_size(), model->sliding_window(static_cast<int>(i)));
      }
    }
    EXPECT_EQ(pool.size(), 1 + (length > 8 ? 1 : 0));  // the originals stay
  }
}

}  // namespace
}  // namespace ferry::lm::server
