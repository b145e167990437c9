// Several prompts generated together: each row of the batch gets the tokens it gets alone,
// whatever its length (left padding hidden by the cache), for dense, grouped-query,
// q/k-normalized and mixture-of-experts models; rows stop at their own end token; logits
// processors see each row's own tokens.

#include "client/lm/batch_generate.h"

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using testing::Alone;
using testing::RandomTokens;

using ::ferry::testing::BuildError;

using ::ferry::testing::Runfile;

const Tokenizer& TinyTokenizer() {
  static const Tokenizer tokenizer = load_tokenizer(Runfile("examples/models/ferry-tiny-llama"));
  return tokenizer;
}

void ExpectRowsAsAlone(Model& model, int vocab, const std::string& name) {
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {5, 17, 1, 9}) prompts.push_back(RandomTokens(n, vocab, 100 + n));
  for (int steps_in_flight : {1, 3}) {
    GenerateOptions options;
    options.max_tokens = 10;
    options.prefill_step_size = 4;  // the padded prompt in chunks
    options.steps_in_flight = steps_in_flight;
    const BatchResponse response = batch_generate(model, TinyTokenizer(), prompts, options, {-1});
    ASSERT_EQ(response.tokens.size(), prompts.size());
    EXPECT_EQ(response.prompt_tokens, 5 + 17 + 1 + 9);
    EXPECT_EQ(response.generation_tokens, 40);
    for (size_t b = 0; b < prompts.size(); ++b) {
      EXPECT_EQ(response.tokens[b], Alone(model, prompts[b], 10))
          << name << ", prompt " << b << " of " << prompts[b].size() << " tokens";
      EXPECT_EQ(response.finish_reasons[b], "length");
    }
  }
}

TEST(BatchGenerateTest, EachRowGetsTheTokensItGetsAlone) {
  std::unique_ptr<Model> llama = testing::TinyLlama();
  ExpectRowsAsAlone(*llama, 60, "llama");
  std::unique_ptr<Model> qwen3 = make_model(ModelArgs::from_json(R"({
    "model_type": "qwen3", "hidden_size": 32, "num_hidden_layers": 2, "head_dim": 16,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 1,
    "rms_norm_eps": 1e-6, "vocab_size": 60, "tie_word_embeddings": false})"));
  ExpectRowsAsAlone(*qwen3, 60, "qwen3");
  std::unique_ptr<Model> mixtral = load_model(Runfile("client/lm/testdata/mixtral"));
  ExpectRowsAsAlone(*mixtral, static_cast<int>(mixtral->args().vocab_size), "mixtral");
}

TEST(BatchGenerateTest, RowsStopAtTheirOwnEndToken) {
  auto [model, tokenizer] = load(Runfile("examples/models/ferry-tiny-llama"));
  const std::vector<std::string> texts = {"many daemons can also form groups whose",
                                          "ferry lets a C++ program", "The client records"};
  std::vector<std::vector<int32_t>> prompts;
  for (const std::string& text : texts) prompts.push_back(tokenizer.encode(text));
  GenerateOptions options;
  options.max_tokens = 40;
  const BatchResponse response = batch_generate(*model, tokenizer, prompts, options);
  // The first reaches the paragraph's end (an end token); the others run to max_tokens.
  EXPECT_EQ(response.finish_reasons, (std::vector<std::string>{"stop", "length", "length"}));
  EXPECT_EQ(response.texts[0], " graphs run collectives (see \"Many daemons\").");
  EXPECT_EQ(response.tokens[0].back(), tokenizer.eos_token_ids()[0]);
  for (size_t b = 0; b < texts.size(); ++b) {
    EXPECT_EQ(response.texts[b], generate(*model, tokenizer, texts[b], options)) << texts[b];
  }
  EXPECT_EQ(response.generation_tokens, static_cast<int64_t>(response.tokens[0].size()) + 40 + 40);
}

// Logits processors see each row's own tokens: every row as it is alone with them.
TEST(BatchGenerateTest, LogitsProcessorsSeeEachRowsOwnTokens) {
  std::unique_ptr<Model> llama = testing::TinyLlama();
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {6, 2, 11}) prompts.push_back(RandomTokens(n, 60, 200 + n));
  GenerateOptions options;
  options.max_tokens = 12;
  options.logits_processors = make_logits_processors({{7, 3.0f}}, 1.5f, 5);
  const BatchResponse response = batch_generate(*llama, TinyTokenizer(), prompts, options, {-1});
  for (size_t b = 0; b < prompts.size(); ++b) {
    TokenGenerator generator(*llama, prompts[b], options);
    std::vector<int32_t> alone;
    while (std::optional<GenerationStep> step = generator.next()) alone.push_back(step->token);
    EXPECT_EQ(response.tokens[b], alone) << "prompt " << b;
  }
}

// max_kv_size bounds every layer's cache to a ring of that many positions (none of them first
// ones, as mlx-lm's batch): each row as it is alone through such rings.
TEST(BatchGenerateTest, MaxKvSizeGivesEveryLayerARing) {
  std::unique_ptr<Model> llama = testing::TinyLlama();
  std::vector<std::vector<int32_t>> prompts;
  for (int n : {13, 3}) prompts.push_back(RandomTokens(n, 60, 300 + n));
  GenerateOptions options;
  options.max_tokens = 16;
  options.max_kv_size = 8;
  const BatchResponse response = batch_generate(*llama, TinyTokenizer(), prompts, options, {-1});
  for (size_t b = 0; b < prompts.size(); ++b) {
    std::vector<KVCache> rings(2, KVCache::rotating(8));
    GenerateOptions alone;
    alone.max_tokens = 16;
    alone.prompt_cache = &rings;
    TokenGenerator generator(*llama, prompts[b], alone);
    std::vector<int32_t> tokens;
    while (std::optional<GenerationStep> step = generator.next()) tokens.push_back(step->token);
    EXPECT_EQ(response.tokens[b], tokens) << "prompt " << b;
  }
}

TEST(BatchGenerateTest, BadArgumentsAreNamed) {
  const auto loaded = load(Runfile("examples/models/ferry-tiny-llama"));
  Model* model = loaded.first.get();
  const Tokenizer& tokenizer = loaded.second;
  EXPECT_NE(BuildError([&] { batch_generate(*model, tokenizer, {}); }).find("no prompts"),
            std::string::npos);
  EXPECT_NE(BuildError([&] {
              batch_generate(*model, tokenizer, {{1, 2}, {}});
            }).find("prompt 1 is empty"),
            std::string::npos);
  GenerateOptions options;
  std::vector<KVCache> cache = model->make_cache();
  options.prompt_cache = &cache;  // one sequence's
  try {
    batch_generate(*model, tokenizer, {{1, 2}}, options);
    ADD_FAILURE() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kUnimplemented);
  }
}

}  // namespace
}  // namespace ferry::lm
