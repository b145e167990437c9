// EXAONE MoE, AFM MoE and Step-3.5 as mlx-lm 0.32.2 builds them
// (testdata/lm_families_8_mlx.py writes the models and what mlx-lm computes; models_mlx_test.cc
// holds their logits, a token at a time too, and greedy runs): their configs read as mlx-lm
// reads them, what is missing or inconsistent named, the layers and caches each config asks
// for, sanitize, and stream_generate through them.

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/io.h"
#include "client/lm/kv_cache.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::Config;
using ::ferry::lm::testing::ExpectStreamedTokensAsMlxLm;
using ::ferry::lm::testing::ParameterShapes;
using ::ferry::lm::testing::Refusal;
using ::ferry::lm::testing::TestData;

const char* const kModels[] = {"exaone_moe", "exaone_moe_4bit", "afmoe",
                               "afmoe_4bit", "step3p5",         "step3p5_4bit"};

constexpr char kExaoneMoe[] = R"("vocab_size": 50, "hidden_size": 32, "intermediate_size": 64,
    "moe_intermediate_size": 16, "num_hidden_layers": 3, "num_attention_heads": 4,
    "num_key_value_heads": 2, "head_dim": 16, "num_experts": 8, "num_experts_per_tok": 2,
    "num_shared_experts": 1, "rms_norm_eps": 1e-5, "max_position_embeddings": 4096,
    "sliding_window": 6)";

std::unordered_map<std::string, Array> Parameters(const Model& model) {
  std::unordered_map<std::string, Array> params;
  for (const auto& [name, array] : model.parameters()) params.emplace(name, array);
  return params;
}

// A JSON list of `count` layer types, every `full_every`-th from `full_at` full_attention.
std::string LayerTypes(int count, int full_every, int full_at) {
  std::string out = "[";
  for (int i = 0; i < count; ++i) {
    out += absl::StrCat(i ? ", " : "", i % full_every == full_at ? R"("full_attention")"
                                                                 : R"("sliding_attention")");
  }
  return out + "]";
}

TEST(Families8ArgsTest, ExaoneMoeReadsAsMlxLm) {
  const ModelArgs args =
      Config("exaone_moe", std::string(kExaoneMoe) + R"(, "layer_types": )" + LayerTypes(3, 2, 1) +
                               R"(, "is_moe_layer": [false, true, true])");
  EXPECT_EQ(args.n_group, 1);
  EXPECT_EQ(args.topk_group, 1);
  EXPECT_EQ(args.routed_scaling_factor, 2.5f);
  EXPECT_TRUE(args.norm_topk_prob);
  EXPECT_EQ(args.rope_theta, 1000000.0f);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_TRUE(args.qk_norm);
  EXPECT_EQ(args.n_shared_experts, 1);
  EXPECT_EQ(args.mlp_only_layers, (std::vector<int>{0}));
  // RoPE in the sliding layers only; in every layer where none slides.
  EXPECT_EQ(args.no_rope_layers, (std::vector<int>{1, 0, 1}));
  const ModelArgs global =
      Config("exaone_moe", std::string(kExaoneMoe) + R"(, "layer_types": )" + LayerTypes(3, 1, 0) +
                               R"(, "is_moe_layer": [true, true, true], "rope_parameters":
                        {"rope_type": "default", "rope_theta": 5000.0})");
  EXPECT_EQ(global.no_rope_layers, (std::vector<int>{1, 1, 1}));
  EXPECT_TRUE(global.mlp_only_layers.empty());
  EXPECT_EQ(global.rope_theta, 5000.0f);
  EXPECT_EQ(Refusal([] {
              Config("exaone_moe",
                     std::string(kExaoneMoe) + R"(, "layer_types": )" + LayerTypes(3, 2, 1));
            }),
            "[ModelArgs] config.json lacks \"is_moe_layer\".");
  EXPECT_EQ(Refusal([] {
              Config("exaone_moe", std::string(kExaoneMoe) + R"(, "layer_types": )" +
                                       LayerTypes(3, 2, 1) +
                                       R"(, "is_moe_layer": [true, true, true],
                                       "topk_method": "greedy")");
            }),
            "[ModelArgs] config.json's topk_method is \"greedy\": mlx-lm's exaone_moe builds "
            "noaux_tc only.");
  EXPECT_EQ(Refusal([] {
              Config("exaone_moe", std::string(kExaoneMoe) + R"(, "layer_types": )" +
                                       LayerTypes(3, 2, 1) + R"(, "is_moe_layer": [true])");
            }),
            "[ModelArgs] config.json's is_moe_layer has 1 entries, not num_hidden_layers (3).");
}

// Hugging Face's layout: experts one per expert, the bias under mlp., mtp.* weights.
TEST(Families8ArgsTest, ExaoneMoeSanitizesAndBuildsItsLayers) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("exaone_moe");
  EXPECT_EQ(shapes.at("model.layers.1.mlp.switch_mlp.gate_proj.weight"), (Shape{8, 16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate.e_score_correction_bias"), (Shape{8}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.shared_experts.up_proj.weight"), (Shape{16, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.up_proj.weight"), (Shape{64, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_norm.weight"), (Shape{16}));
  EXPECT_EQ(shapes.count("model.layers.1.mlp.e_score_correction_bias"), 0u);
  for (const auto& [name, shape] : shapes) EXPECT_EQ(name.find("mtp."), std::string::npos);
  std::unique_ptr<Model> model = load_model(TestData("exaone_moe"));
  EXPECT_FALSE(model->casts("model.layers.1.mlp.gate.e_score_correction_bias"));
  const std::vector<KVCache> cache = make_prompt_cache(*model);
  ASSERT_EQ(cache.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(cache[i].max_size(), i % 2 == 0 ? std::optional<int64_t>(6) : std::nullopt);
  }
  EXPECT_EQ(ParameterShapes("exaone_moe_4bit").count("lm_head.weight"), 0u);  // tied
}

TEST(Families8ArgsTest, AfmoeHasMlxLmsDefaults) {
  const ModelArgs args = Config("afmoe", R"("layer_types": )" + LayerTypes(32, 4, 3));
  EXPECT_EQ(args.vocab_size, 200192);
  EXPECT_EQ(args.hidden_size, 2048);
  EXPECT_EQ(args.intermediate_size, 6144);
  EXPECT_EQ(args.moe_intermediate_size, 1024);
  EXPECT_EQ(args.num_hidden_layers, 32);
  EXPECT_EQ(args.num_attention_heads, 32);
  EXPECT_EQ(args.num_key_value_heads, 4);
  EXPECT_EQ(args.head_dim, 64);
  EXPECT_EQ(args.max_position_embeddings, 131072);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(args.num_experts, 128);
  EXPECT_EQ(args.num_experts_per_tok, 8);
  EXPECT_EQ(args.n_shared_experts, 1);
  EXPECT_EQ(args.first_k_dense_replace, 2);
  EXPECT_TRUE(args.norm_topk_prob);
  EXPECT_EQ(args.routed_scaling_factor, 2.826f);
  EXPECT_TRUE(args.sigmoid_router);
  EXPECT_EQ(args.sliding_window, 2048);
  EXPECT_FLOAT_EQ(args.embedding_multiplier, std::sqrt(2048.0f));  // mup_enabled
  EXPECT_EQ(args.no_rope_layers[0], 1);
  EXPECT_EQ(args.no_rope_layers[3], 0);
  EXPECT_EQ(Config("afmoe", R"("layer_types": )" + LayerTypes(32, 4, 3) +
                                R"(, "mup_enabled": false, "score_func": "softmax")")
                .embedding_multiplier,
            1.0f);
  EXPECT_EQ(Refusal([] { Config("afmoe", ""); }), "[ModelArgs] config.json lacks \"layer_types\".");
  EXPECT_EQ(Refusal([] { Config("afmoe", R"("layer_types": )" + LayerTypes(32, 100, 50)); }),
            "[ModelArgs] config.json's layer_types holds no full_attention layer, which mlx-lm's "
            "afmoe takes its mask from.");
}

// Hugging Face's layout: experts one per expert, rotary_emb.inv_freq buffers.
TEST(Families8ArgsTest, AfmoeSanitizesAndBuildsItsLayers) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("afmoe");
  EXPECT_EQ(shapes.at("model.layers.1.mlp.experts.down_proj.weight"), (Shape{4, 32, 16}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.router.gate.weight"), (Shape{4, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.expert_bias"), (Shape{4}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.gate_proj.weight"), (Shape{64, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.pre_mlp_layernorm.weight"), (Shape{32}));
  for (const auto& [name, shape] : shapes) EXPECT_EQ(name.find("inv_freq"), std::string::npos);
  // The router 8 bits in groups of 64: 64 / 4 words of 32 bits a row.
  const std::unordered_map<std::string, Shape> quantized = ParameterShapes("afmoe_4bit");
  EXPECT_EQ(quantized.at("model.layers.0.mlp.router.gate.weight"), (Shape{4, 16}));
  EXPECT_EQ(quantized.at("model.layers.0.mlp.experts.up_proj.weight"), (Shape{4, 16, 8}));
  std::unique_ptr<Model> model = load_model(TestData("afmoe"));
  EXPECT_FALSE(model->casts("model.layers.1.mlp.expert_bias"));
  EXPECT_EQ(model->own_quantization("model.layers.1.mlp.router.gate"),
            (std::optional<std::pair<int, int>>{{64, 8}}));
}

constexpr char kStep[] = R"("hidden_size": 32, "num_hidden_layers": 4, "vocab_size": 50,
    "num_attention_heads": 4, "num_attention_groups": 2, "head_dim": 16,
    "intermediate_size": 64)";

TEST(Families8ArgsTest, Step3p5ReadsAsMlxLm) {
  const ModelArgs args = Config("step3p5", kStep);
  EXPECT_EQ(args.num_key_value_heads, 2);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_EQ(args.max_position_embeddings, 262144);
  EXPECT_EQ(args.sliding_window, 512);
  EXPECT_TRUE(args.head_wise_attn_gate);
  EXPECT_EQ(args.num_experts, 288);
  EXPECT_EQ(args.num_experts_per_tok, 8);
  EXPECT_EQ(args.moe_intermediate_size, 1280);
  EXPECT_EQ(args.shared_expert_intermediate_size, 1280);
  EXPECT_EQ(args.routed_scaling_factor, 3.0f);
  EXPECT_TRUE(args.norm_topk_prob);
  EXPECT_FALSE(args.tie_word_embeddings);
  // The even layers slide; every layer but the first holds experts.
  EXPECT_EQ(args.layer_types, (std::vector<std::string>{"sliding_attention", "full_attention",
                                                        "sliding_attention", "full_attention"}));
  EXPECT_EQ(args.mlp_only_layers, (std::vector<int>{0}));
  const ModelArgs full = Config("step3p5", std::string(kStep) + R"(,
      "rope_theta": [1.0, 2.0, 3.0, 4.0], "moe_layers_enum": "2, 3",
      "attention_other_setting": {"num_attention_heads": 2, "num_attention_groups": 1},
      "swiglu_limits": [null, 7, 0], "rope_scaling": {"rope_type": "yarn", "factor": 2.0},
      "yarn_only_types": ["sliding_attention"])");
  EXPECT_EQ(full.layer_rope_thetas, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(full.mlp_only_layers, (std::vector<int>{0, 1}));
  EXPECT_EQ(full.num_swa_attention_heads, 2);
  EXPECT_EQ(full.num_swa_key_value_heads, 1);
  EXPECT_EQ(full.swiglu_limits, (std::vector<float>{0, 7, 0}));
  // Without layer_types mlx-lm takes every layer as full_attention for yarn_only_types.
  EXPECT_EQ(full.rope_type, "default");
  EXPECT_TRUE(full.rope_scaling.empty());
  EXPECT_EQ(
      Refusal([] { Config("step3p5", std::string(kStep) + R"(, "moe_layers_enum": "1;2")"); }),
      "[ModelArgs] config.json's moe_layers_enum is \"1;2\", not layer numbers joined by "
      "commas.");
  EXPECT_EQ(Refusal([] {
              Config("step3p5", std::string(kStep) + R"(, "partial_rotary_factors": [0.1])");
            }),
            "[ModelArgs] config.json's partial_rotary_factors[0] (0.1) must rotate an even number "
            "of head_dim's features, at least 2.");
  EXPECT_EQ(Refusal([] { Config("step3p5", R"("hidden_size": 32)"); }),
            "[ModelArgs] config.json lacks \"num_hidden_layers\".");
}

// Hugging Face's layout: moe.*, share_expert and zero-centred norms mapped, mtp and extra
// layers dropped; sliding layers of their own heads, each a gate per head.
TEST(Families8ArgsTest, Step3p5SanitizesAndBuildsItsLayers) {
  std::unique_ptr<Model> model = load_model(TestData("step3p5"));
  const std::unordered_map<std::string, Array> params = Parameters(*model);
  EXPECT_EQ(params.at("model.layers.0.self_attn.q_proj.weight").shape(), (Shape{2 * 16, 32}));
  EXPECT_EQ(params.at("model.layers.0.self_attn.k_proj.weight").shape(), (Shape{16, 32}));
  EXPECT_EQ(params.at("model.layers.1.self_attn.q_proj.weight").shape(), (Shape{4 * 16, 32}));
  EXPECT_EQ(params.at("model.layers.1.self_attn.g_proj.weight").shape(), (Shape{4, 32}));
  EXPECT_EQ(params.at("model.layers.1.mlp.switch_mlp.gate_proj.weight").shape(),
            (Shape{4, 16, 32}));
  EXPECT_EQ(params.at("model.layers.1.mlp.gate.router_bias").shape(), (Shape{4}));
  EXPECT_EQ(params.at("model.layers.1.mlp.share_expert.down_proj.weight").shape(), (Shape{32, 16}));
  for (const auto& [name, array] : params) {
    EXPECT_EQ(name.find("mtp"), std::string::npos) << name;
    EXPECT_EQ(name.find("layers.4"), std::string::npos) << name;
  }
  const Array saved = load_safetensors(TestData("step3p5/model.safetensors"))
                          .first.at("model.layers.2.self_attn.k_norm.weight");
  EXPECT_EQ(
      max(abs(params.at("model.layers.2.self_attn.k_norm.weight") - (saved + 1.0f))).item<float>(),
      0.0f);
  const std::vector<KVCache> cache = make_prompt_cache(*model);
  ASSERT_EQ(cache.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(cache[i].max_size(), i % 2 == 0 ? std::optional<int64_t>(6) : std::nullopt);
  }
  // An mlx-lm checkpoint's norms are kept as they are.
  const nn::Parameters mine = {{"model.norm.weight", ones({4})}};
  EXPECT_EQ(max(abs(model->sanitize(mine).front().second - 1.0f)).item<float>(), 0.0f);
  const std::unordered_map<std::string, Shape> quantized = ParameterShapes("step3p5_4bit");
  EXPECT_EQ(quantized.count("model.layers.0.self_attn.g_proj.weight"), 0u);
  EXPECT_EQ(quantized.at("model.layers.1.mlp.gate.gate.weight"), (Shape{4, 16}));  // 8 bits
}

// stream_generate gives mlx-lm's greedy tokens for each family, with a prefill in pieces of 4.
TEST(Families8Test, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm("lm_families_8_mlx.safetensors",
                              {std::begin(kModels), std::end(kModels)});
}

}  // namespace
}  // namespace ferry::lm
