// The models whose layers keep arrays caches (Qwen3-Next's and Qwen3.5's gated delta nets,
// LFM2's short convolutions, Mamba-2's, Granite 4.0's, Falcon-H1's and Nemotron-H's
// state-space scans, Kimi Linear's delta attention, OLMo hybrid's gated delta nets, PLaMo 2's
// Mamba mixers; lm_families_9_mlx.py writes theirs)
// against mlx-lm 0.32.2 on MLX 0.32.4 (testdata/lm_qwen3_next_mlx.py, lm_lfm2_mlx.py,
// lm_mamba2_mlx.py, lm_falcon_h1_mlx.py, lm_kimi_linear_mlx.py and lm_nemotron_h_mlx.py write
// the checkpoints and what mlx-lm computed):
// the logits of a prompt, of the same prompt through the caches in pieces, greedy
// generation with its log-probabilities, a conversation carried in a prompt cache, and
// stream_generate's and batch_generate's tokens.

#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>

#include "client/io.h"
#include "client/lm/batch_generate.h"
#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/tokenizer.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::ExpectCachedLogitsAsMlxLm;
using ::ferry::lm::testing::TestData;

using ::ferry::testing::ExpectAllClose;

constexpr double kTolerance = 2e-4;

// A model of testdata/ and the fixture that recorded it.
struct Case {
  std::string fixture, model;
};

class ArraysModelsMlxTest : public ::testing::TestWithParam<Case> {
 protected:
  // The fixture's array "<model>.<what>".
  static Array At(const std::string& what) {
    static auto* fixtures = new std::map<std::string, std::unordered_map<std::string, Array>>();
    const Case& c = GetParam();
    auto it = fixtures->find(c.fixture);
    if (it == fixtures->end()) {
      it =
          fixtures->emplace(c.fixture, load_safetensors(TestData(c.fixture + ".safetensors")).first)
              .first;
    }
    return it->second.at(c.model + "." + what);
  }
  static std::unique_ptr<Model> Load() { return load_model(TestData(GetParam().model)); }
};

TEST_P(ArraysModelsMlxTest, LogitsOfAWholePromptAreMlxLms) {
  const std::string name = GetParam().model;
  const Array logits = (*Load())(expand_dims(At("prompt"), 0));
  ExpectAllClose(logits, At("logits"), kTolerance, kTolerance, name);
  std::printf("%s: logits at most %.2e from mlx-lm's\n", name.c_str(),
              max(abs(logits - At("logits"))).item<float>());
}

// A prefill of 7 tokens, one of 5, then a token at a time (the scripts' CHUNKS): the arrays
// state and the attention's keys carried between them, as mlx-lm's.
TEST_P(ArraysModelsMlxTest, LogitsThroughTheCacheInPiecesAreMlxLms) {
  const std::string name = GetParam().model;
  std::unique_ptr<Model> model = Load();
  const Array prompt = expand_dims(At("prompt"), 0);
  std::vector<KVCache> cache = model->make_cache();
  const float worst =
      ExpectCachedLogitsAsMlxLm(*model, cache, prompt, At("cached_logits"), kTolerance, name);
  std::printf("%s: cached logits at most %.2e from mlx-lm's\n", name.c_str(), worst);
  for (const KVCache& layer : cache) EXPECT_EQ(layer.offset(), prompt.shape(1)) << name;
}

TEST_P(ArraysModelsMlxTest, GreedyGenerationIsMlxLms) {
  const std::string name = GetParam().model;
  std::unique_ptr<Model> model = Load();
  const std::vector<int32_t> want = At("greedy").to_vector<int32_t>();
  const Array want_logprobs = At("logprobs");
  GenerateOptions options;
  options.max_tokens = static_cast<int>(want.size());
  TokenGenerator generator(*model, At("prompt").to_vector<int32_t>(), options);
  std::vector<int32_t> got;
  while (std::optional<GenerationStep> step = generator.next()) {
    const int64_t i = static_cast<int64_t>(got.size());
    ExpectAllClose(step->logprobs,
                   reshape(slice(want_logprobs, {i, 0}, {i + 1, want_logprobs.shape(1)}), {-1}),
                   kTolerance, kTolerance, name + " step " + std::to_string(i));
    got.push_back(step->token);
  }
  EXPECT_EQ(got, want);
}

// A conversation's second turn, continuing the cache the first left (the first prompt and
// the reply but its last token, as a fresh prefill of them leaves it), gets the tokens of the
// whole conversation generated afresh.
TEST_P(ArraysModelsMlxTest, APromptCacheCarriesAConversation) {
  const std::string name = GetParam().model;
  std::unique_ptr<Model> model = Load();
  std::vector<KVCache> cache = make_prompt_cache(*model);
  GenerateOptions options;
  options.max_tokens = 6;
  options.prompt_cache = &cache;
  std::vector<int32_t> conversation = {5, 17, 2, 40, 9, 33, 8};
  const std::vector<int32_t> reply = testing::Alone(*model, conversation, options);
  conversation.insert(conversation.end(), reply.begin(), reply.end());
  conversation.insert(conversation.end(), {61, 3, 12});
  const int64_t held = cache[0].offset();
  EXPECT_EQ(held, 7 + 6 - 1) << name;
  for (const KVCache& layer : cache) EXPECT_EQ(layer.offset(), held) << name;
  const std::vector<int32_t> next(conversation.begin() + held, conversation.end());
  EXPECT_EQ(testing::Alone(*model, next, options), testing::Alone(*model, conversation, 6)) << name;
}

INSTANTIATE_TEST_SUITE_P(
    Models, ArraysModelsMlxTest,
    ::testing::Values(
        Case{"lm_qwen3_next_mlx", "qwen3_next"}, Case{"lm_qwen3_next_mlx", "qwen3_5"},
        Case{"lm_qwen3_next_mlx", "qwen3_5_moe"}, Case{"lm_qwen3_next_mlx", "qwen3_next_4bit"},
        Case{"lm_lfm2_mlx", "lfm2"}, Case{"lm_lfm2_mlx", "lfm2_idxs"},
        Case{"lm_lfm2_mlx", "lfm2_moe"}, Case{"lm_lfm2_mlx", "lfm2_4bit"},
        Case{"lm_lfm2_mlx", "lfm2_moe_4bit"}, Case{"lm_mamba2_mlx", "mamba2"},
        Case{"lm_mamba2_mlx", "mamba2_long"}, Case{"lm_mamba2_mlx", "mamba2_4bit"},
        Case{"lm_mamba2_mlx", "granitemoehybrid"}, Case{"lm_mamba2_mlx", "granitemoehybrid_dense"},
        Case{"lm_mamba2_mlx", "granitemoehybrid_4bit"}, Case{"lm_falcon_h1_mlx", "falcon_h1"},
        Case{"lm_falcon_h1_mlx", "falcon_h1_norm"}, Case{"lm_falcon_h1_mlx", "falcon_h1_4bit"},
        Case{"lm_kimi_linear_mlx", "kimi_linear"}, Case{"lm_kimi_linear_mlx", "kimi_linear_tied"},
        Case{"lm_kimi_linear_mlx", "kimi_linear_4bit"}, Case{"lm_nemotron_h_mlx", "nemotron_h"},
        Case{"lm_nemotron_h_mlx", "nemotron_h_moe"}, Case{"lm_nemotron_h_mlx", "nemotron_h_4bit"},
        Case{"lm_families_6_mlx", "mamba"}, Case{"lm_families_6_mlx", "falcon_mamba"},
        Case{"lm_families_6_mlx", "mamba_4bit"}, Case{"lm_families_9_mlx", "olmo_hybrid"},
        Case{"lm_families_9_mlx", "olmo_hybrid_4bit"}, Case{"lm_families_9_mlx", "plamo2"},
        Case{"lm_families_9_mlx", "plamo2_4bit"}),
    [](const auto& info) { return info.param.model; });

// The models whose fixtures record mlx-lm's BatchGenerator (lm_fixture.record_batch):
// stream_generate gives the prompt's greedy tokens, and batch_generate the batch's prompts
// (left-padded together in one prefill) their BatchGenerator tokens.
class ArraysModelsBatchMlxTest : public ArraysModelsMlxTest {};

TEST_P(ArraysModelsBatchMlxTest, StreamAndBatchGenerateGiveMlxLmsTokens) {
  const std::string name = GetParam().model;
  std::unique_ptr<Model> model = Load();
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  GenerateOptions options;
  options.max_tokens = 10;
  std::vector<int32_t> streamed;
  stream_generate(*model, tokenizer, At("prompt").to_vector<int32_t>(), options,
                  [&](const GenerationResponse& r) {
                    streamed.push_back(r.token);
                    return true;
                  },
                  {-1});
  EXPECT_EQ(streamed, At("greedy").to_vector<int32_t>()) << name;
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 5; ++i)
    prompts.push_back(At("prompt" + std::to_string(i)).to_vector<int32_t>());
  options.max_tokens = 20;
  const BatchResponse batch = batch_generate(*model, tokenizer, prompts, options, {-1});
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(batch.tokens[i], At("tokens" + std::to_string(i)).to_vector<int32_t>())
        << name << ", prompt " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ArraysModelsBatchMlxTest,
                         ::testing::Values(Case{"lm_lfm2_mlx", "lfm2_moe"},
                                           Case{"lm_mamba2_mlx", "mamba2"},
                                           Case{"lm_mamba2_mlx", "granitemoehybrid"},
                                           Case{"lm_falcon_h1_mlx", "falcon_h1"},
                                           Case{"lm_kimi_linear_mlx", "kimi_linear"},
                                           Case{"lm_nemotron_h_mlx", "nemotron_h"},
                                           Case{"lm_nemotron_h_mlx", "nemotron_h_moe"}),
                         [](const auto& info) { return info.param.model; });

}  // namespace
}  // namespace ferry::lm
