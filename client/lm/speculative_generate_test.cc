// Speculative decoding on the local device: greedy, the draft changes no token (plain
// generation's, for drafts that mostly agree, mostly not, and always); the tokens and the
// accepted proposals are mlx-lm's (testdata/lm_speculative_mlx.py); caches, max_tokens, end
// tokens and logits processors behave as in plain generation; bad arguments are named.

#include "client/lm/speculative_generate.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

using ::ferry::testing::BuildError;
using ::ferry::testing::ExpectAllClose;

struct Tokens {
  std::vector<int32_t> tokens;
  std::vector<int> from_draft;  // 1 where the token was the draft's
  std::vector<Array> logprobs;
};

Tokens Plain(Model& model, const std::vector<int32_t>& prompt, GenerateOptions options) {
  options.draft_model = nullptr;
  TokenGenerator generator(model, prompt, options);
  Tokens out;
  while (std::optional<GenerationStep> step = generator.next()) {
    out.tokens.push_back(step->token);
    out.from_draft.push_back(step->from_draft);
    out.logprobs.push_back(step->logprobs);
  }
  return out;
}

Tokens Speculative(Model& model, Model& draft, const std::vector<int32_t>& prompt,
                   GenerateOptions options, int* rounds = nullptr) {
  options.draft_model = &draft;
  SpeculativeGenerator generator(model, prompt, options);
  Tokens out;
  while (std::optional<GenerationStep> step = generator.next()) {
    out.tokens.push_back(step->token);
    out.from_draft.push_back(step->from_draft);
    out.logprobs.push_back(step->logprobs);
  }
  int accepted = 0;
  for (int f : out.from_draft) accepted += f;
  EXPECT_EQ(generator.accepted(), accepted);
  if (rounds) *rounds = generator.rounds();
  return out;
}

class SpeculativeGenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_ = load_model(TestData("llama")).release();
    four_bit_ = load_model(TestData("llama_4bit")).release();
    qwen2_ = load_model(TestData("qwen2")).release();
    hd64_ = load_model(TestData("llama_hd64")).release();
    hd64_4bit_ = load_model(TestData("llama_hd64_4bit")).release();
  }
  static void TearDownTestSuite() {
    delete model_;
    delete four_bit_;
    delete qwen2_;
    delete hd64_;
    delete hd64_4bit_;
  }
  static std::vector<std::vector<int32_t>> Prompts() {
    return {{7}, {3, 1, 4, 1, 5}, {90, 2, 2, 61, 17, 40, 40, 9, 31, 3, 77, 12}};
  }

  static Model* model_;     // lm_mlx.py's llama (vocabulary 96)
  static Model* four_bit_;  // its weights in 4 bits: a draft that mostly agrees
  static Model* qwen2_;     // other weights, the same vocabulary: a draft that mostly does not
  // Heads of 64 features, which a quantized cache's groups need, and its 4-bit draft.
  static Model* hd64_;
  static Model* hd64_4bit_;
};
Model* SpeculativeGenerateTest::model_ = nullptr;
Model* SpeculativeGenerateTest::four_bit_ = nullptr;
Model* SpeculativeGenerateTest::qwen2_ = nullptr;
Model* SpeculativeGenerateTest::hd64_ = nullptr;
Model* SpeculativeGenerateTest::hd64_4bit_ = nullptr;

TEST_F(SpeculativeGenerateTest, GreedyTokensArePlainGenerationsForEveryDraft) {
  int accepted_4bit = 0, accepted_qwen2 = 0, total = 0;
  for (const std::vector<int32_t>& prompt : Prompts()) {
    GenerateOptions options;
    options.max_tokens = 19;
    const Tokens plain = Plain(*model_, prompt, options);
    ASSERT_EQ(plain.tokens.size(), 19u);
    for (int k = 1; k <= 4; ++k) {
      options.num_draft_tokens = k;
      const std::string what =
          "prompt of " + std::to_string(prompt.size()) + ", k " + std::to_string(k);
      const Tokens four = Speculative(*model_, *four_bit_, prompt, options);
      EXPECT_EQ(four.tokens, plain.tokens) << "4-bit draft, " << what;
      const Tokens other = Speculative(*model_, *qwen2_, prompt, options);
      EXPECT_EQ(other.tokens, plain.tokens) << "qwen2 draft, " << what;
      // The model as its own draft: every proposal is taken, and each round's last token
      // is the model's (k + 1 tokens a round, the last round cut by max_tokens).
      int rounds = 0;
      const Tokens self = Speculative(*model_, *model_, prompt, options, &rounds);
      EXPECT_EQ(self.tokens, plain.tokens) << "itself as draft, " << what;
      EXPECT_EQ(rounds, (19 + k) / (k + 1)) << what;
      for (size_t i = 0; i < self.from_draft.size(); ++i) {
        EXPECT_EQ(self.from_draft[i], static_cast<int>(i % (k + 1) != static_cast<size_t>(k)))
            << what << ", token " << i;
      }
      // Each token's log-probabilities are the model's, as plain generation's.
      ExpectAllClose(four.logprobs[5], plain.logprobs[5], 1e-4, 1e-5, what);
      ExpectAllClose(self.logprobs[18], plain.logprobs[18], 1e-4, 1e-5, what);
      for (int f : four.from_draft) accepted_4bit += f;
      for (int f : other.from_draft) accepted_qwen2 += f;
      total += 19;
    }
  }
  // The drafts are what they are meant to be: one mostly agreeing, one mostly not.
  EXPECT_GT(accepted_4bit, total / 4);
  EXPECT_LT(accepted_qwen2, total / 4);
}

TEST_F(SpeculativeGenerateTest, WithoutMaxTokensRoundsGoOnAsLongAsAsked) {
  GenerateOptions options;
  options.max_tokens = 23;
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5};
  const Tokens plain = Plain(*model_, prompt, options);
  options.max_tokens = -1;
  for (Model* draft : {four_bit_, model_}) {
    options.draft_model = draft;
    SpeculativeGenerator generator(*model_, prompt, options);
    std::vector<int32_t> tokens;
    while (tokens.size() < 23) tokens.push_back(generator.next()->token);
    EXPECT_EQ(tokens, plain.tokens) << (draft == model_ ? "itself" : "4-bit");
  }
}

// Cases with quantized caches (<c>.kv: kv_bits, kv_group_size, quantized_kv_start) quantize
// the model's cache and the draft's as mlx-lm's do, in the prompt or between rounds.
TEST_F(SpeculativeGenerateTest, TokensAndAcceptedProposalsAreMlxLms) {
  const auto fixture = load_safetensors(TestData("lm_speculative_mlx.safetensors")).first;
  const std::unordered_map<std::string, Model*> drafts = {{"4bit", four_bit_}, {"qwen2", qwen2_}};
  int cases = 0, quantized = 0;
  for (const auto& [key, array] : fixture) {
    const std::string suffix = ".prompt";
    if (key.size() < suffix.size() || key.substr(key.size() - suffix.size()) != suffix) continue;
    const std::string name = key.substr(0, key.size() - suffix.size());
    Array tokens = fixture.at(name + ".tokens"), from_draft = fixture.at(name + ".from_draft");
    Array k = fixture.at(name + ".k"), prompt = array;
    GenerateOptions options;
    options.num_draft_tokens = k.item<int32_t>();
    options.max_tokens = static_cast<int>(tokens.shape(0));
    Model* model = model_;
    Model* draft = nullptr;
    if (auto kv = fixture.find(name + ".kv"); kv != fixture.end()) {
      const std::vector<int32_t> settings = Array(kv->second).to_vector<int32_t>();
      options.kv_bits = settings[0];
      options.kv_group_size = settings[1];
      options.quantized_kv_start = settings[2];
      model = hd64_;
      draft = hd64_4bit_;
      ++quantized;
    } else {
      draft = drafts.at(name.substr(0, name.find('_')));
    }
    const Tokens got = Speculative(*model, *draft, prompt.to_vector<int32_t>(), options);
    EXPECT_EQ(got.tokens, tokens.to_vector<int32_t>()) << name;
    std::vector<int> want;
    for (int32_t f : from_draft.to_vector<int32_t>()) want.push_back(f);
    EXPECT_EQ(got.from_draft, want) << name;
    ++cases;
  }
  EXPECT_EQ(cases, 6);
  EXPECT_EQ(quantized, 2);
}

// The caches do become quantized: without kv_bits the same case gives other tokens.
TEST_F(SpeculativeGenerateTest, KvBitsQuantizesBothCaches) {
  GenerateOptions options;
  options.draft_model = hd64_4bit_;
  options.max_tokens = 6;
  options.kv_bits = 4;
  options.kv_group_size = 32;
  options.quantized_kv_start = 4;
  std::vector<KVCache> cache = hd64_->make_cache(), draft_cache = hd64_4bit_->make_cache();
  options.prompt_cache = &cache;
  options.draft_prompt_cache = &draft_cache;
  {
    SpeculativeGenerator generator(*hd64_, {5, 9, 2, 7, 1, 3}, options);
    while (generator.next()) {
    }
  }
  for (const KVCache& c : cache) EXPECT_EQ(c.bits(), 4);
  for (const KVCache& c : draft_cache) EXPECT_EQ(c.bits(), 4);
  EXPECT_EQ(cache.front().offset(), 6 + 6 - 1);
  EXPECT_EQ(draft_cache.front().offset(), 6 + 6 - 1);
}

TEST_F(SpeculativeGenerateTest, ThePromptCacheIsLeftAsPlainGenerationLeavesIt) {
  const std::vector<int32_t> first_turn = {3, 1, 4, 1, 5, 9, 2};
  for (int stop_after : {1, 5, 6, 8}) {
    std::vector<KVCache> cache = model_->make_cache(), draft_cache = four_bit_->make_cache();
    GenerateOptions options;
    options.max_tokens = 40;
    options.num_draft_tokens = 3;
    options.prompt_cache = &cache;
    options.draft_prompt_cache = &draft_cache;
    options.draft_model = four_bit_;
    std::vector<int32_t> reply;
    {
      SpeculativeGenerator generator(*model_, first_turn, options);
      for (int i = 0; i < stop_after; ++i) reply.push_back(generator.next()->token);
    }  // stopped inside a round: both caches forget what the caller never took
    const std::string what = "stopped after " + std::to_string(stop_after);
    EXPECT_EQ(cache.front().offset(), 7 + stop_after - 1) << what;
    EXPECT_EQ(draft_cache.front().offset(), 7 + stop_after - 1) << what;
    // The next turn, continued from both caches, is what the whole conversation gives afresh.
    const std::vector<int32_t> second_turn = {reply.back(), 8, 2, 6};
    options.max_tokens = 12;
    const Tokens continued = Speculative(*model_, *four_bit_, second_turn, options);
    std::vector<int32_t> whole = first_turn;
    whole.insert(whole.end(), reply.begin(), reply.end());
    whole.insert(whole.end(), second_turn.begin() + 1, second_turn.end());
    options.prompt_cache = nullptr;
    options.draft_prompt_cache = nullptr;
    EXPECT_EQ(continued.tokens, Plain(*model_, whole, options).tokens) << what;
    const int64_t both_turns = static_cast<int64_t>(whole.size()) + 12 - 1;
    EXPECT_EQ(cache.front().offset(), both_turns) << what;
    EXPECT_EQ(draft_cache.front().offset(), both_turns) << what;
  }
  // Without the draft's cache the draft starts afresh from the turn: the same tokens.
  std::vector<KVCache> cache = model_->make_cache();
  GenerateOptions options;
  options.max_tokens = 6;
  options.prompt_cache = &cache;
  const std::vector<int32_t> reply = Speculative(*model_, *four_bit_, first_turn, options).tokens;
  options.prompt_cache = &cache;
  const Tokens next = Speculative(*model_, *four_bit_, {reply.back(), 8}, options);
  std::vector<int32_t> whole = first_turn;
  whole.insert(whole.end(), reply.begin(), reply.end());
  whole.push_back(8);
  options.prompt_cache = nullptr;
  EXPECT_EQ(next.tokens, Plain(*model_, whole, options).tokens);
}

TEST_F(SpeculativeGenerateTest, StreamGenerateStopsAtMaxTokensAndEndTokensInsideARound) {
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  const std::vector<int32_t> prompt = {90, 2, 2, 61, 17};
  auto stream = [&](const GenerateOptions& options, std::vector<int32_t> eos) {
    std::vector<GenerationResponse> responses;
    stream_generate(
        *model_, tokenizer, prompt, options,
        [&](const GenerationResponse& r) {
          responses.push_back(r);
          return true;
        },
        eos);
    return responses;
  };
  GenerateOptions options;
  options.max_tokens = 7;
  const std::vector<GenerationResponse> plain = stream(options, {-1});
  ASSERT_EQ(plain.size(), 7u);
  // The model as its own draft with k = 3: a round of 4, then one of 3 whose model token
  // max_tokens leaves out.
  options.draft_model = model_;
  options.num_draft_tokens = 3;
  const std::vector<GenerationResponse> speculative = stream(options, {-1});
  ASSERT_EQ(speculative.size(), 7u);
  std::string plain_text, speculative_text;
  for (size_t i = 0; i < 7; ++i) {
    EXPECT_EQ(speculative[i].token, plain[i].token) << i;
    EXPECT_EQ(speculative[i].generation_tokens, static_cast<int64_t>(i + 1));
    EXPECT_EQ(speculative[i].from_draft, i != 3) << i;
    EXPECT_FALSE(plain[i].from_draft);
    plain_text += plain[i].text;
    speculative_text += speculative[i].text;
  }
  EXPECT_EQ(speculative_text, plain_text);
  EXPECT_EQ(speculative.back().finish_reason, "length");

  // An end token in the middle of a round ends the reply there.
  std::vector<int32_t> tokens;
  for (const GenerationResponse& r : plain) tokens.push_back(r.token);
  size_t end = 1;  // the first token after the first round's first that repeats none before
  while (end < 7 && std::find(tokens.begin(), tokens.begin() + static_cast<int64_t>(end),
                              tokens[end]) != tokens.begin() + static_cast<int64_t>(end)) {
    ++end;
  }
  ASSERT_LT(end, 7u);
  const std::vector<GenerationResponse> stopped = stream(options, {plain[end].token});
  ASSERT_EQ(stopped.size(), end + 1);
  EXPECT_EQ(stopped.back().token, plain[end].token);
  EXPECT_EQ(stopped.back().finish_reason, "stop");
}

TEST_F(SpeculativeGenerateTest, LogitsProcessorsSeeWhatTheyDoInPlainGeneration) {
  // A repetition penalty strong enough to change the tokens, over a history shorter than
  // the prompt: every position's view must be the last 6 tokens before it.
  GenerateOptions options;
  options.max_tokens = 16;
  options.processor_history = 6;
  options.logits_processors = make_logits_processors({{5, 1.5f}}, 3.0f, 6);
  const std::vector<int32_t> prompt = {90, 2, 2, 61, 17, 40, 40, 9, 31, 3};
  const Tokens plain = Plain(*model_, prompt, options);
  GenerateOptions unprocessed = options;
  unprocessed.logits_processors.clear();
  EXPECT_NE(Plain(*model_, prompt, unprocessed).tokens, plain.tokens);
  for (int k = 1; k <= 4; ++k) {
    options.num_draft_tokens = k;
    EXPECT_EQ(Speculative(*model_, *four_bit_, prompt, options).tokens, plain.tokens) << k;
    EXPECT_EQ(Speculative(*model_, *qwen2_, prompt, options).tokens, plain.tokens) << k;
    EXPECT_EQ(Speculative(*model_, *model_, prompt, options).tokens, plain.tokens) << k;
  }
  // A prompt of one token: the processors' history starts empty.
  options.num_draft_tokens = 3;
  EXPECT_EQ(Speculative(*model_, *four_bit_, {7}, options).tokens,
            Plain(*model_, {7}, options).tokens);
}

TEST_F(SpeculativeGenerateTest, ASeededSamplerRepeatsItsTokens) {
  GenerateOptions options;
  options.max_tokens = 12;
  options.sampler = make_sampler(0.8f, 0.9f);
  auto run = [&] {
    random::seed(11);
    return Speculative(*model_, *four_bit_, {1, 2, 3}, options).tokens;
  };
  const std::vector<int32_t> first = run();
  EXPECT_EQ(first.size(), 12u);
  EXPECT_EQ(run(), first);
}

TEST_F(SpeculativeGenerateTest, BadArgumentsAreNamed) {
  GenerateOptions options;
  EXPECT_EQ(BuildError([&] {
              SpeculativeGenerator(*model_, {1, 2}, options);
            }),
            "[speculative_generate] no draft_model was given.");
  options.draft_model = four_bit_;
  EXPECT_EQ(BuildError([&] { SpeculativeGenerator(*model_, {}, options); }),
            "[speculative_generate] the prompt holds no tokens.");
  options.num_draft_tokens = 0;
  EXPECT_EQ(BuildError([&] {
              SpeculativeGenerator(*model_, {1, 2}, options);
            }),
            "[speculative_generate] num_draft_tokens must be at least 1, got 0.");
  options.num_draft_tokens = 2;
  const std::unique_ptr<Model> wide = make_model(ModelArgs::from_json(R"({
    "model_type": "llama", "hidden_size": 32, "num_hidden_layers": 1,
    "intermediate_size": 48, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5, "vocab_size": 100, "tie_word_embeddings": true})"));
  options.draft_model = wide.get();
  EXPECT_EQ(BuildError([&] {
              SpeculativeGenerator(*model_, {1, 2}, options);
            }),
            "[speculative_generate] the draft model's vocabulary (100 tokens) is larger than "
            "the model's (96): a draft must use the model's tokenizer.");
  // stream_generate refuses the same.
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  options.num_draft_tokens = -1;
  options.draft_model = four_bit_;
  EXPECT_EQ(BuildError([&] {
              stream_generate(*model_, tokenizer, std::vector<int32_t>{1, 2}, options,
                              [](const GenerationResponse&) { return true; });
            }),
            "[speculative_generate] num_draft_tokens must be at least 1, got -1.");
}

}  // namespace
}  // namespace ferry::lm
