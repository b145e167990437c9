// Gemma 4 against mlx-lm 0.32.2 on MLX 0.32.4 (testdata/lm_gemma4_mlx.py writes the models
// and what mlx-lm computes): the logits of a prompt through make_cache()'s caches (a prefill
// past the window, a shorter one continuing it, then a token at a time: the KV-shared layers
// reading the earlier layers' caches) for a Hugging Face "gemma4" checkpoint, an mlx-lm
// "gemma4_text" one, the experts in Hugging Face's layout and a 4-bit one; and the config as
// mlx-lm reads it. models_mlx_test checks their whole-prompt logits and greedy generation.

#include "client/lm/gemma4.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::ExpectCachedLogitsAsMlxLm;
using ::ferry::lm::testing::ExpectKvSharedCachesAsMlxLm;
using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;

constexpr double kTolerance = 2e-4;

const std::unordered_map<std::string, Array>& Recorded() {
  static const auto* recorded = new std::unordered_map<std::string, Array>(
      load_safetensors(TestData("lm_gemma4_mlx.safetensors")).first);
  return *recorded;
}

Array At(const std::string& name) { return Recorded().at(name); }

class Gemma4MlxTest : public ::testing::TestWithParam<std::string> {};

// mlx-lm's make_cache: a cache per layer before the KV-shared ones, rotating where it slides.
// A prefill of 7 (past the window of 6), one of 5 continuing it, then a token at a time.
TEST_P(Gemma4MlxTest, LogitsThroughMakeCacheCachesAreMlxLms) {
  const std::string name = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(name));
  std::vector<KVCache> cache = make_prompt_cache(*model);
  ASSERT_NO_FATAL_FAILURE(ExpectKvSharedCachesAsMlxLm(*model, cache, name));
  const Array prompt = expand_dims(At(name + ".prompt"), 0);
  const float worst = ExpectCachedLogitsAsMlxLm(*model, cache, prompt, At(name + ".cached_logits"),
                                                kTolerance, name);
  std::printf("%s: cached logits at most %.2e from mlx-lm's\n", name.c_str(), worst);
}

INSTANTIATE_TEST_SUITE_P(Models, Gemma4MlxTest,
                         ::testing::Values("gemma4", "gemma4_text", "gemma4_moe", "gemma4_4bit"),
                         [](const auto& info) { return info.param; });

// mlx_lm.convert's quant_predicate: routers 8 bits in groups of 64, the experts 4 bits in
// groups of 32; per_layer_projection (8 inputs, not a whole group) unquantized.
TEST(Gemma4Test, QuantizedLayersKeepTheirBits) {
  std::unique_ptr<Model> model = load_model(TestData("gemma4_4bit"));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : model->parameters()) shapes[name] = array.shape();
  EXPECT_EQ(shapes.at("model.layers.0.router.proj.weight"), (Shape{4, 16}));
  EXPECT_EQ(shapes.at("model.layers.0.experts.switch_glu.gate_proj.weight"), (Shape{4, 32, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.per_layer_projection.weight"), (Shape{64, 8}));
  EXPECT_EQ(model->own_quantization("model.layers.3.router.proj"), kRouterQuantization);
  EXPECT_EQ(model->own_quantization("model.layers.3.mlp.up_proj"), std::nullopt);
}

// The KV-shared layers have no k_proj, v_proj or k_norm (sanitize drops a checkpoint's), and a
// full layer with attention_k_eq_v no v_proj.
TEST(Gemma4Test, KvSharedAndKEqVLayersHaveNoOwnProjections) {
  std::unique_ptr<Model> shared = load_model(TestData("gemma4"));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : shared->parameters()) shapes[name] = array.shape();
  const std::string layer = "language_model.model.layers.";
  EXPECT_EQ(shapes.count(layer + "3.self_attn.k_proj.weight"), 1u);
  EXPECT_EQ(shapes.count(layer + "4.self_attn.k_proj.weight"), 0u);
  EXPECT_EQ(shapes.count(layer + "5.self_attn.v_proj.weight"), 0u);
  EXPECT_EQ(shapes.count(layer + "5.self_attn.k_norm.weight"), 0u);
  // Double-wide MLPs in the KV-shared layers: 2 * 32.
  EXPECT_EQ(shapes.at(layer + "3.mlp.up_proj.weight"), (Shape{32, 32}));
  EXPECT_EQ(shapes.at(layer + "4.mlp.up_proj.weight"), (Shape{64, 32}));
  EXPECT_FALSE(shared->reads_quantized_cache());

  std::unique_ptr<Model> k_eq_v = load_model(TestData("gemma4_text"));
  shapes.clear();
  for (const auto& [name, array] : k_eq_v->parameters()) shapes[name] = array.shape();
  EXPECT_EQ(shapes.count("model.layers.2.self_attn.v_proj.weight"), 0u);
  EXPECT_EQ(shapes.at("model.layers.2.self_attn.k_proj.weight"), (Shape{16, 32}));  // 1 head
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.v_proj.weight"), (Shape{16, 32}));  // 2 of 8
  EXPECT_TRUE(k_eq_v->reads_quantized_cache());
}

TEST(Gemma4Test, ConfigDefaultsAreMlxLms) {
  const ModelArgs args = ModelArgs::from_json(R"({"model_type": "gemma4", "text_config": {}})");
  EXPECT_EQ(args.vocab_size, 262144);
  EXPECT_EQ(args.num_attention_heads, 8);
  EXPECT_EQ(args.num_key_value_heads, 1);
  EXPECT_EQ(args.num_hidden_layers, 35);
  EXPECT_EQ(args.num_kv_shared_layers, 20);
  EXPECT_EQ(args.global_head_dim, 512);
  EXPECT_EQ(args.hidden_size_per_layer_input, 256);
  EXPECT_FLOAT_EQ(args.final_logit_softcapping, 30.0f);
  EXPECT_EQ(args.layer_types[3], "sliding_attention");
  EXPECT_EQ(args.layer_types[4], "full_attention");
  EXPECT_EQ(args.rope_type, "proportional");
  EXPECT_DOUBLE_EQ(args.rope_scaling.at("partial_rotary_factor"), 0.25);
  EXPECT_FLOAT_EQ(args.rope_theta, 1e6f);
  EXPECT_EQ(args.rope_local_type, "default");
  EXPECT_FLOAT_EQ(args.rope_local_base_freq, 1e4f);
  EXPECT_EQ(args.num_experts, 0);

  const ModelArgs nulls = ModelArgs::from_json(
      R"({"model_type": "gemma4_text", "final_logit_softcapping": null,
          "hidden_size_per_layer_input": null, "global_head_dim": null,
          "num_kv_shared_layers": 0, "enable_moe_block": true, "num_experts": 8,
          "top_k_experts": 2, "moe_intermediate_size": 64,
          "rope_parameters": {"sliding_attention": {"rope_type": "linear", "factor": 2.0}}})");
  EXPECT_EQ(nulls.final_logit_softcapping, 0.0f);
  EXPECT_EQ(nulls.hidden_size_per_layer_input, 0);
  EXPECT_EQ(nulls.global_head_dim, 0);
  EXPECT_EQ(nulls.num_experts, 8);
  EXPECT_EQ(nulls.num_experts_per_tok, 2);
  EXPECT_EQ(nulls.rope_type, "default");  // rope_parameters without "full_attention": {}
  EXPECT_FLOAT_EQ(nulls.rope_theta, 10000.0f);
  EXPECT_EQ(nulls.rope_local_type, "linear");
}

TEST(Gemma4Test, BadConfigsAreNamed) {
  auto message = [](const std::string& json) {
    try {
      ModelArgs::from_json(json);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Layer 3 (full) shares keys, but only sliding layers precede the shared ones.
  EXPECT_EQ(message(R"({"model_type": "gemma4_text", "num_hidden_layers": 4,
                        "num_kv_shared_layers": 1, "layer_types": ["sliding_attention",
                        "sliding_attention", "sliding_attention", "full_attention"]})"),
            "[ModelArgs] config.json's KV-shared layer 3 is full_attention but no layer before "
            "the shared ones is: it has no keys to read.");
  EXPECT_EQ(message(R"({"model_type": "gemma4_text", "num_hidden_layers": 2,
                        "num_kv_shared_layers": 0, "layer_types": ["sliding_attention"]})"),
            "[ModelArgs] config.json's layer_types has 1 entries, fewer than num_hidden_layers "
            "(2).");
  EXPECT_EQ(message(R"({"model_type": "gemma4_text", "enable_moe_block": true,
                        "num_experts": 4, "moe_intermediate_size": 8})"),
            "[ModelArgs] config.json lacks \"top_k_experts\".");
  EXPECT_EQ(message(R"({"model_type": "gemma4_text", "rope_parameters": {"full_attention":
                        {"rope_type": "yarn", "factor": 2.0}}})"),
            "[ModelArgs] rope_parameters' rope_type \"yarn\" is not built by ferry::lm for gemma4 "
            "(default, linear, llama3 and proportional are).");
}

}  // namespace
}  // namespace ferry::lm
