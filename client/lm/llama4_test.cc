// Llama 4 as mlx-lm 0.32.2 builds it (testdata/lm_llama4_mlx.py writes the models and what
// mlx-lm computes; models_mlx_test.cc holds their prompts' logits and greedy runs): both
// config shapes read with their fields required, the chunked layers' caches (mlx-lm's
// ChunkedKVCache) giving mlx-lm's logits a token at a time across chunk boundaries, and
// generation through them.

#include "client/lm/llama4.h"

#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/batch_generator.h"
#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

using ::ferry::testing::ExpectAllClose;

const std::unordered_map<std::string, Array>& Recorded() {
  static const auto* recorded = new std::unordered_map<std::string, Array>(
      load_safetensors(TestData("lm_llama4_mlx.safetensors")).first);
  return *recorded;
}

constexpr char kText[] = R"("hidden_size": 32, "num_hidden_layers": 4,
    "intermediate_size": 16, "intermediate_size_mlp": 48, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 8, "rms_norm_eps": 1e-5, "rope_theta": 500000,
    "vocab_size": 50, "use_qk_norm": true)";
constexpr char kMoe[] = R"("num_local_experts": 4, "num_experts_per_tok": 1,
    "interleave_moe_layer_step": 2, "attention_chunk_size": 8, "attention_bias": false,
    "max_position_embeddings": 4096, "rope_scaling": {"rope_type": "llama3", "factor": 8.0,
    "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 64})";

// model_type "llama4", the text model's fields and `more` under text_config, `top` beside it.
ModelArgs Llama4Args(const std::string& more = "", const std::string& top = "") {
  return ModelArgs::from_json(std::string(R"({"model_type": "llama4", )") + top +
                              (top.empty() ? "" : ", ") + R"("text_config": {)" + kText + ", " +
                              kMoe + (more.empty() ? "" : ", ") + more + "}}");
}

std::string Refusal(const std::function<void()>& read) {
  try {
    read();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

TEST(Llama4ArgsTest, TheTextConfigIsMlxLmsTextArgs) {
  const ModelArgs args = Llama4Args("", R"("eos_token_id": [7, 9])");
  EXPECT_EQ(args.model_type, "llama4");
  EXPECT_EQ(args.attention_chunk_size, 8);
  EXPECT_EQ(args.num_experts, 4);
  EXPECT_EQ(args.intermediate_size_mlp, 48);
  EXPECT_TRUE(args.rope_traditional);
  EXPECT_EQ(args.rope_type, "llama3");
  EXPECT_EQ(args.weightless_qk_norm, "after_rope");
  // mlx-lm's defaults for the temperature tuning.
  EXPECT_TRUE(args.attn_temperature_tuning);
  EXPECT_EQ(args.floor_scale, 8192.0f);
  EXPECT_FLOAT_EQ(args.attn_scale, 0.1f);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(args.eos_token_ids, (std::vector<int32_t>{7, 9}));  // the top level's
  EXPECT_FALSE(Llama4Args(R"("attn_temperature_tuning": 0)").attn_temperature_tuning);

  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : make_model(args)->parameters()) shapes[name] = array.shape();
  const std::string layer = "language_model.model.layers.";
  EXPECT_EQ(shapes.at("language_model.lm_head.weight"), (Shape{50, 32}));
  EXPECT_EQ(shapes.at(layer + "0.feed_forward.up_proj.weight"), (Shape{48, 32}));  // dense
  EXPECT_EQ(shapes.at(layer + "1.feed_forward.experts.gate_proj.weight"), (Shape{4, 16, 32}));
  EXPECT_EQ(shapes.at(layer + "1.feed_forward.router.weight"), (Shape{4, 32}));
  EXPECT_EQ(shapes.at(layer + "1.feed_forward.shared_expert.down_proj.weight"), (Shape{32, 16}));
  EXPECT_EQ(shapes.count(layer + "0.self_attn.q_norm.weight"), 0u);  // weightless
  EXPECT_EQ(shapes.size(), 3 + 4 * 6 + 2 * 3 + 2 * (3 + 1 + 3));
}

TEST(Llama4ArgsTest, Llama4TextIsFlat) {
  const ModelArgs args =
      ModelArgs::from_json(std::string(R"({"model_type": "llama4_text", )") + kText +
                           R"(, "tie_word_embeddings": false,
      "no_rope_layers": [1, 0, 1, 1]})");
  EXPECT_EQ(args.weightless_qk_norm, "before_rope");
  EXPECT_FALSE(args.attn_temperature_tuning);
  EXPECT_EQ(args.no_rope_layers, (std::vector<int>{1, 0, 1, 1}));
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : make_model(args)->parameters()) shapes[name] = array.shape();
  EXPECT_EQ(shapes.at("output.weight"), (Shape{50, 32}));
  EXPECT_EQ(shapes.at("model.layers.3.feed_forward.gate_proj.weight"), (Shape{48, 32}));
  EXPECT_EQ(make_model(args)->make_cache().front().chunk_size(), std::nullopt);
}

TEST(Llama4ArgsTest, MissingAndInconsistentFieldsAreNamed) {
  EXPECT_EQ(Refusal([] { ModelArgs::from_json(R"({"model_type": "llama4"})"); }),
            "[ModelArgs] config.json lacks \"text_config\" (llama4's text model).");
  // Every field mlx-lm's TextArgs has no default for is required, under text_config.
  EXPECT_EQ(Refusal([] {
              ModelArgs::from_json(std::string(R"({"model_type": "llama4", "text_config": {)") +
                                   kText + "}}");
            }),
            "[ModelArgs] config.json lacks \"attention_bias\".");
  EXPECT_EQ(Refusal([] {
              ModelArgs::from_json(
                  std::string(R"({"model_type": "llama4", "attention_chunk_size": 8, )") +
                  R"("text_config": {)" + kText + R"(, "attention_bias": false}})");
            }),
            "[ModelArgs] config.json lacks \"attention_chunk_size\".");
  EXPECT_EQ(Refusal([] { Llama4Args(R"("num_experts_per_tok": 2)"); }),
            "[ModelArgs] config.json's num_experts_per_tok is 2; llama4 routes each token to 1 "
            "expert (as mlx-lm asserts).");
  EXPECT_NE(
      Refusal([] { Llama4Args(R"("attention_chunk_size": 0)"); }).find("attention_chunk_size (0)"),
      std::string::npos);
  EXPECT_NE(Refusal([] {
              Llama4Args(R"("num_key_value_heads": 3)");
            }).find("a multiple of num_key_value_heads (3)"),
            std::string::npos);
  EXPECT_EQ(Refusal([] {
              ModelArgs::from_json(std::string(R"({"model_type": "llama4_text", )") + kText +
                                   R"(, "tie_word_embeddings": true, "no_rope_layers": [1, 0]})");
            }),
            "[ModelArgs] config.json's no_rope_layers holds 2 entries for 4 layers.");
  EXPECT_EQ(Refusal([] {
              ModelArgs::from_json(std::string(R"({"model_type": "llama4_text", )") + kText +
                                   R"(, "tie_word_embeddings": true})");
            }),
            "[ModelArgs] config.json lacks \"no_rope_layers\".");
}

// The chunked cache's masks: a query sees the positions of its own chunk up to itself.
TEST(ChunkedKVCacheTest, AQuerySeesItsOwnChunkOnly) {
  KVCache cache = KVCache::chunked(4);
  EXPECT_EQ(cache.chunk_size(), 4);
  EXPECT_EQ(cache.max_size(), 4);
  EXPECT_FALSE(cache.batchable());
  const Array one = ones({1, 1, 1, 2});
  auto mask = [&](int64_t length) {
    return astype(cache.make_mask(length, cache.offset_array(default_device())), int32)
        .to_vector<int32_t>();
  };
  // A chunk of 6 (positions 0-5) over nothing kept: chunks 0-3 and 4-5.
  EXPECT_EQ(mask(6), (std::vector<int32_t>{1, 0, 0, 0, 0, 0,  //
                                           1, 1, 0, 0, 0, 0,  //
                                           1, 1, 1, 0, 0, 0,  //
                                           1, 1, 1, 1, 0, 0,  //
                                           0, 0, 0, 0, 1, 0,  //
                                           0, 0, 0, 0, 1, 1}));
  cache.update_and_fetch(ones({1, 1, 6, 2}), ones({1, 1, 6, 2}),
                         cache.offset_array(default_device()));
  // Position 6 is slot 2 of the ring, its chunk's third: slots 0-2 are positions 4-6.
  EXPECT_EQ(mask(1), (std::vector<int32_t>{1, 1, 1, 0}));
  cache.update_and_fetch(one, one, cache.offset_array(default_device()));
  cache.update_and_fetch(one, one, cache.offset_array(default_device()));
  // Position 8 begins a chunk: itself alone.
  EXPECT_EQ(mask(1), (std::vector<int32_t>{1, 0, 0, 0}));
  // Two more (8, 9) over the 3 latest kept (5, 6, 7): 8 and 9 in a chunk of their own.
  EXPECT_EQ(mask(2), (std::vector<int32_t>{0, 0, 0, 1, 0,  //
                                           0, 0, 0, 1, 1}));
}

TEST(ChunkedKVCacheTest, BatchesAreRefusedByName) {
  KVCache cache = KVCache::chunked(8);
  EXPECT_EQ(Refusal([&] {
              cache.set_left_padding({0, 2}, default_device());
            }),
            "[KVCache] set_left_padding takes plain or rotating caches, not a chunked one "
            "(chunk_size 8): mlx-lm's ChunkedKVCache has no merge.");
  EXPECT_EQ(Refusal([] { KVCache::chunked(0); }),
            "[KVCache] a chunked cache's chunk_size must be positive, got 0.");
}

// make_prompt_cache gives mlx-lm's make_cache: chunked caches off every fourth layer, which
// hold a chunk's positions only, so the server serves Llama 4 one request at a time.
TEST(Llama4Test, ItsPromptCacheIsChunkedAndNotBatchable) {
  std::unique_ptr<Model> model = load_model(TestData("llama4"));
  const std::vector<KVCache> cache = make_prompt_cache(*model, /*max_kv_size=*/64);
  ASSERT_EQ(cache.size(), 4u);
  for (int i : {0, 1, 2}) EXPECT_EQ(cache[i].chunk_size(), 6) << i;
  EXPECT_EQ(cache[3].chunk_size(), std::nullopt);
  EXPECT_EQ(cache[3].max_size(), std::nullopt);  // max_kv_size unused, as mlx-lm
  EXPECT_FALSE(batchable(*model));
  EXPECT_TRUE(batchable(*load_model(TestData("llama4_text"))));
  // A BatchGenerator given two sequences anyway refuses the chunked caches by name.
  BatchGenerator batch(*model);
  for (const std::vector<int32_t>& prompt : {std::vector<int32_t>{5, 17, 2}, {9, 4}}) {
    BatchSequence sequence;
    sequence.prompt = prompt;
    batch.insert(sequence);
  }
  EXPECT_NE(Refusal([&] {
              for (int i = 0; i < 4; ++i) batch.next();
            }).find("not a chunked one (chunk_size 6)"),
            std::string::npos);
}

// The prompt a token at a time through make_prompt_cache's caches: every step's logits are
// mlx-lm's (its ChunkedKVCache's), across the chunk boundaries at 6, 12 and 18; plain caches
// everywhere (make_cache) give the same.
TEST(Llama4Test, DecodingThroughChunkBoundariesIsMlxLms) {
  std::unique_ptr<Model> model = load_model(TestData("llama4"));
  const Array prompt = Recorded().at("llama4.prompt");
  const Array want = Recorded().at("llama4.steps");
  for (bool chunked : {true, false}) {
    std::vector<KVCache> cache = chunked ? make_prompt_cache(*model) : model->make_cache();
    const int64_t n = prompt.shape(0);
    for (int64_t i = 0; i < n; ++i) {
      const Array logits = (*model)(reshape(slice(prompt, {i}, {i + 1}), {1, 1}), &cache);
      eval(CacheState(cache));
      ExpectAllClose(reshape(logits, {-1}), reshape(slice(want, {i, 0}, {i + 1, 96}), {-1}), 2e-4,
                     2e-4, (chunked ? "chunked, step " : "plain, step ") + std::to_string(i));
    }
    // The chunked layers hold one chunk's positions, the global layer all.
    EXPECT_EQ(cache[0].capacity(), chunked ? 6 : 256);
    EXPECT_EQ(cache[3].capacity(), 256);
  }
}

// A prompt prefilled 4 tokens at a time (chunks that straddle the boundaries) generates
// mlx-lm's greedy tokens and log-probabilities, and stream_generate the same tokens.
TEST(Llama4Test, PrefillInPiecesAndStreamGenerateGiveMlxLmsTokens) {
  std::unique_ptr<Model> model = load_model(TestData("llama4"));
  const std::vector<int32_t> prompt = Array(Recorded().at("llama4.prompt")).to_vector<int32_t>();
  const std::vector<int32_t> want = Array(Recorded().at("llama4.greedy")).to_vector<int32_t>();
  const Array logprobs = Recorded().at("llama4.logprobs");
  GenerateOptions options;
  options.max_tokens = static_cast<int>(want.size());
  options.prefill_step_size = 4;
  TokenGenerator generator(*model, prompt, options);
  std::vector<int32_t> got;
  while (std::optional<GenerationStep> step = generator.next()) {
    const int64_t i = static_cast<int64_t>(got.size());
    ExpectAllClose(step->logprobs, reshape(slice(logprobs, {i, 0}, {i + 1, 96}), {-1}), 2e-4, 2e-4,
                   "step " + std::to_string(i));
    got.push_back(step->token);
  }
  EXPECT_EQ(got, want);

  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  std::vector<int32_t> streamed;
  stream_generate(*model, tokenizer, prompt, GenerateOptions{options},
                  [&](const GenerationResponse& response) {
                    streamed.push_back(response.token);
                    return true;
                  });
  EXPECT_EQ(streamed, want);
}

// With kv_bits (mlx-lm's generate_step kv_bits=4, kv_group_size=32, quantized_kv_start=0)
// the global layer's cache is quantized and the chunked ones stay: mlx-lm's tokens and
// log-probabilities, which the plain caches' are not.
TEST(Llama4Test, KvBitsQuantizeTheGlobalLayerAsMlxLmDoes) {
  std::unique_ptr<Model> model = load_model(TestData("llama4_kv"));
  const std::vector<int32_t> prompt = Array(Recorded().at("llama4_kv.prompt")).to_vector<int32_t>();
  const std::vector<int32_t> want = Array(Recorded().at("llama4_kv.greedy")).to_vector<int32_t>();
  const Array logprobs = Recorded().at("llama4_kv.logprobs");
  std::vector<KVCache> cache = make_prompt_cache(*model);
  GenerateOptions options;
  options.max_tokens = static_cast<int>(want.size());
  options.kv_bits = 4;
  options.kv_group_size = 32;
  options.quantized_kv_start = 0;
  options.prompt_cache = &cache;
  std::vector<int32_t> got;
  double plain_gap = 0;
  {
    TokenGenerator generator(*model, prompt, options);
    GenerateOptions plain;
    plain.max_tokens = options.max_tokens;
    TokenGenerator unquantized(*model, prompt, plain);
    while (std::optional<GenerationStep> step = generator.next()) {
      const int64_t i = static_cast<int64_t>(got.size());
      const Array wanted = reshape(slice(logprobs, {i, 0}, {i + 1, 96}), {-1});
      ExpectAllClose(step->logprobs, wanted, 2e-4, 2e-4, "step " + std::to_string(i));
      if (i == 0) {
        plain_gap = max(abs(unquantized.next()->logprobs - wanted)).item<float>();
      }
      got.push_back(step->token);
    }
  }
  EXPECT_EQ(got, want);
  EXPECT_GT(plain_gap, 1e-3);  // the quantized cache matters
  for (int i : {0, 1, 2}) EXPECT_EQ(cache[i].bits(), std::nullopt) << i;
  EXPECT_EQ(cache[3].bits(), 4);
}

// The Hugging Face layout (fused gate_up_proj, vision weights) is the layout mlx-lm sanitizes
// into: the experts split and transposed, the rest dropped.
TEST(Llama4Test, SanitizeSplitsTheFusedExpertsAndDropsTheVisionTower) {
  std::unique_ptr<Model> model = make_model(Llama4Args());
  const std::string experts = "language_model.model.layers.1.feed_forward.experts.";
  // (E, hidden, 2 * intermediate): gate's columns first, then up's.
  const Array gate_up = reshape(arange(0, 4 * 32 * 32, int32), {4, 32, 32});
  const Array down = reshape(arange(0, 4 * 16 * 32, int32), {4, 16, 32});
  const nn::Parameters sanitized =
      model->sanitize({{experts + "gate_up_proj", gate_up},
                       {experts + "down_proj", down},
                       {"vision_model.patch_embedding.linear.weight", zeros({2, 2})},
                       {"multi_modal_projector.linear_1.weight", zeros({2, 2})}});
  std::map<std::string, Array> by_name(sanitized.begin(), sanitized.end());
  ASSERT_EQ(by_name.size(), 3u);
  const Array gate = by_name.at(experts + "gate_proj.weight");
  const Array up = by_name.at(experts + "up_proj.weight");
  EXPECT_EQ(gate.shape(), (Shape{4, 16, 32}));
  EXPECT_EQ(by_name.at(experts + "down_proj.weight").shape(), (Shape{4, 32, 16}));
  // gate[e, i, h] = gate_up[e, h, i], up[e, i, h] = gate_up[e, h, 16 + i].
  EXPECT_EQ(slice(gate, {1, 2, 3}, {2, 3, 4}).item<int32_t>(), 1 * 1024 + 3 * 32 + 2);
  EXPECT_EQ(slice(up, {1, 2, 3}, {2, 3, 4}).item<int32_t>(), 1 * 1024 + 3 * 32 + 16 + 2);
}

}  // namespace
}  // namespace ferry::lm
