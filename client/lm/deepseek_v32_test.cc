// DeepSeek V3.2's config.json as mlx-lm reads it, its indexer's layers and caches, and what
// its indexer changes; GLM-4.7-Flash's config (glm4_moe_lite, DeepSeek V3's layers too).
// models_mlx_test.cc holds their numbers against mlx-lm's.

#include "client/lm/deepseek_v32.h"

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/kv_cache.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/random.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::ExpectAllClose;
using ::ferry::testing::Failure;

constexpr char kTiny[] = R"("model_type": "deepseek_v32", "vocab_size": 50, "hidden_size": 32,
    "intermediate_size": 64, "moe_intermediate_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 2, "q_lora_rank": 32, "kv_lora_rank": 32, "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 16, "v_head_dim": 16, "n_routed_experts": 4, "n_group": 2,
    "num_experts_per_tok": 2, "first_k_dense_replace": 1, "index_n_heads": 4,
    "index_head_dim": 16)";

ModelArgs Args(const std::string& fields) {
  return ModelArgs::from_json(std::string("{") + kTiny + (fields.empty() ? "" : ", ") + fields +
                              "}");
}

TEST(DeepseekV32Test, ConfigHasMlxLmsDefaults) {
  const ModelArgs args = ModelArgs::from_json(R"({"model_type": "deepseek_v32"})");
  EXPECT_EQ(args.index_n_heads, 64);
  EXPECT_EQ(args.index_head_dim, 128);
  EXPECT_EQ(args.index_topk, 2048);
  EXPECT_FALSE(args.indexer_rope_interleave);
  EXPECT_EQ(args.q_lora_rank, 1536);
  EXPECT_TRUE(args.rope_traditional);  // the attention's, not the indexer's

  // The indexer reads the queries' bottleneck, and rotates part of its features.
  EXPECT_EQ(Failure([] { Args(R"("q_lora_rank": null)"); }).first, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Failure([] { Args(R"("index_head_dim": 4)"); }).first, ErrorCode::kInvalidArgument);
  EXPECT_EQ(Failure([] { Args(R"("index_topk": 0)"); }).first, ErrorCode::kInvalidArgument);
}

TEST(DeepseekV32Test, EveryLayerHasAnIndexerAndACacheListOfTwo) {
  std::unique_ptr<Model> model = make_model(Args(""));
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : model->parameters()) shapes[name] = array.shape();
  const std::string indexer = "model.layers.1.self_attn.indexer.";
  EXPECT_EQ(shapes.at(indexer + "wq_b.weight"), (Shape{4 * 16, 32}));
  EXPECT_EQ(shapes.at(indexer + "wk.weight"), (Shape{16, 32}));
  EXPECT_EQ(shapes.at(indexer + "k_norm.weight"), (Shape{16}));
  EXPECT_EQ(shapes.at(indexer + "k_norm.bias"), (Shape{16}));
  EXPECT_EQ(shapes.at(indexer + "weights_proj.weight"), (Shape{4, 32}));

  std::vector<KVCache> cache = model->make_cache();
  ASSERT_EQ(cache.size(), 2u);
  for (const KVCache& c : cache) {
    EXPECT_TRUE(c.is_list());
    EXPECT_EQ(c.parts(), 2);
  }
  const Array tokens = from_host(std::vector<int32_t>{1, 2, 3}, {1, 3});
  eval({(*model)(tokens, &cache)});
  EXPECT_EQ(cache[0].part(0).offset(), 3);  // the latent's
  EXPECT_EQ(cache[0].part(1).offset(), 3);  // the indexer's keys
  std::vector<KVCache> plain(2);
  const auto [code, message] = Failure([&] { (*model)(tokens, &plain); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument) << message;
}

// While each query sees index_topk keys or fewer the indexer chooses nothing: the model is
// DeepSeek V3 of the same weights (its indexer's aside). Past that it drops keys.
TEST(DeepseekV32Test, TheIndexerDropsKeysOnlyPastIndexTopk) {
  const ModelArgs args = Args(R"("index_topk": 4)");
  std::unique_ptr<Model> v32 = make_model(args);
  ModelArgs v3_args = args;
  v3_args.model_type = "deepseek_v3";
  std::unique_ptr<Model> v3 = make_model(v3_args);
  nn::Parameters shared;
  for (const auto& [name, array] : v32->parameters()) {
    if (name.find(".indexer.") == std::string::npos) shared.emplace_back(name, array);
  }
  v3->load_weights(shared);
  const Array short_prompt = from_host(std::vector<int32_t>{5, 7, 9, 11}, {1, 4});
  ExpectAllClose((*v32)(short_prompt), (*v3)(short_prompt), 1e-5, 1e-5, "4 tokens");
  const Array prompt =
      from_host(std::vector<int32_t>{5, 7, 9, 11, 13, 1, 2, 3, 4, 8, 6, 10}, {1, 12});
  const Array sparse = (*v32)(prompt), dense = (*v3)(prompt);
  // The first 4 queries see 4 keys or fewer; the later ones see only 4 of theirs.
  ExpectAllClose(slice(sparse, {0, 0, 0}, {1, 4, 50}), slice(dense, {0, 0, 0}, {1, 4, 50}), 1e-5,
                 1e-5, "the first 4");
  EXPECT_GT(max(abs(sparse - dense)).item<float>(), 1e-3);
}

// lm_deepseek_v32_mlx.py's prompt through make_cache's lists in pieces, as mlx-lm ran it: a
// prefill of 5 tokens (under index_topk: no choice), one of 9 (choosing among the cached keys
// and its own), then a token at a time (each step gathering its 8 keys).
TEST(DeepseekV32Test, APromptInPiecesThroughTheCachesIsMlxLms) {
  const auto recorded =
      load_safetensors(lm::testing::TestData("lm_deepseek_v32_mlx.safetensors")).first;
  for (const std::string name : {"deepseek_v32", "deepseek_v32_4bit"}) {
    std::unique_ptr<Model> model = load_model(lm::testing::TestData(name));
    const Array prompt = expand_dims(recorded.at(name + ".prompt"), 0);
    const int64_t length = prompt.shape(1);
    std::vector<KVCache> cache = model->make_cache();
    std::vector<int64_t> bounds = {0, 5, 14};
    for (int64_t end = 15; end <= length; ++end) bounds.push_back(end);
    std::vector<Array> pieces;
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      pieces.push_back((*model)(slice(prompt, {0, bounds[i]}, {1, bounds[i + 1]}), &cache));
      std::vector<Array> state = CacheState(cache);
      state.push_back(pieces.back());
      eval(state);
    }
    const Array logits = concatenate(pieces, 1);
    const Array want = recorded.at(name + ".cached_logits");
    const Array whole = (*model)(prompt);
    std::printf("%s: whole %.2e, through the caches %.2e from mlx-lm's\n", name.c_str(),
                max(abs(whole - recorded.at(name + ".logits"))).item<float>(),
                max(abs(logits - want)).item<float>());
    ExpectAllClose(logits, want, 2e-4, 2e-4, name);
  }
}

// mlx-lm's sanitize drops V3.2's multi-token prediction layers, those from num_hidden_layers
// on.
TEST(DeepseekV32Test, SanitizeDropsTheLayersPastTheModels) {
  std::unique_ptr<Model> model = make_model(Args(""));
  nn::Parameters weights = {{"model.layers.1.input_layernorm.weight", zeros({32})},
                            {"model.layers.2.enorm.weight", zeros({32})},
                            {"model.layers.12.eh_proj.weight", zeros({32, 64})}};
  const nn::Parameters kept = model->sanitize(weights);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].first, "model.layers.1.input_layernorm.weight");
}

// mlx-lm's glm4_moe_lite defaults are GLM-4.7-Flash's; the rest is DeepSeek V3's reading.
TEST(Glm4MoeLiteTest, ConfigHasMlxLmsDefaults) {
  const ModelArgs args = ModelArgs::from_json(R"({"model_type": "glm4_moe_lite"})");
  EXPECT_EQ(args.vocab_size, 154880);
  EXPECT_EQ(args.hidden_size, 2048);
  EXPECT_EQ(args.num_hidden_layers, 47);
  EXPECT_EQ(args.num_attention_heads, 20);
  EXPECT_EQ(args.q_lora_rank, 768);
  EXPECT_EQ(args.qk_nope_head_dim, 192);
  EXPECT_EQ(args.v_head_dim, 256);
  EXPECT_EQ(args.num_experts, 64);
  EXPECT_EQ(args.n_shared_experts, 1);
  EXPECT_EQ(args.num_experts_per_tok, 4);
  EXPECT_EQ(args.first_k_dense_replace, 1);
  EXPECT_FLOAT_EQ(args.routed_scaling_factor, 1.8f);
  EXPECT_FLOAT_EQ(args.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(args.rope_theta, 1e6f);
  EXPECT_TRUE(args.rope_traditional);
  const ModelArgs no_bottleneck =
      ModelArgs::from_json(R"({"model_type": "glm4_moe_lite", "q_lora_rank": null})");
  EXPECT_EQ(no_bottleneck.q_lora_rank, 0);
  ModelArgs tiny = Args("");
  tiny.model_type = "glm4_moe_lite";
  EXPECT_NE(dynamic_cast<DeepseekV3*>(make_model(tiny).get()), nullptr);
  EXPECT_EQ(Failure([] {
              ModelArgs::from_json(R"({"model_type": "glm4_moe_lite", "topk_method": "greedy"})");
            }).first,
            ErrorCode::kUnimplemented);
}

}  // namespace
}  // namespace ferry::lm
