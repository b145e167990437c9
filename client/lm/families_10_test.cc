// MiMo-V2-Flash, Laguna and LongCat-Flash as mlx-lm 0.32.2 builds them
// (testdata/lm_families_10_mlx.py writes the models and what mlx-lm computes;
// models_mlx_test.cc holds their logits, a token at a time too, and greedy runs): their configs
// read as mlx-lm reads them, what is missing or inconsistent named, the layers and caches each
// config asks for, sanitize, and stream_generate through them.

#include <cmath>
#include <cstdio>
#include <iterator>
#include <memory>
#include <optional>
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

using ::ferry::lm::testing::Config;
using ::ferry::lm::testing::ExpectStreamedTokensAsMlxLm;
using ::ferry::lm::testing::ParameterShapes;
using ::ferry::lm::testing::Refusal;
using ::ferry::lm::testing::TestData;

const char* const kModels[] = {"mimo_v2_flash", "mimo_v2_flash_4bit", "laguna",
                               "laguna_4bit",   "longcat_flash",      "longcat_flash_4bit"};

// Every field mlx-lm's mimo_v2_flash ModelArgs requires.
constexpr char kMimo[] = R"("num_experts_per_tok": 2, "hybrid_layer_pattern": [0, 1, 1],
    "moe_layer_freq": [0, 1, 1], "add_swa_attention_sink_bias": true,
    "add_full_attention_sink_bias": false, "sliding_window_size": 128, "vocab_size": 50,
    "hidden_size": 32, "intermediate_size": 64, "moe_intermediate_size": 16,
    "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
    "n_shared_experts": null, "n_routed_experts": 8, "routed_scaling_factor": null,
    "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true, "n_group": 1,
    "topk_group": 1, "max_position_embeddings": 4096, "layernorm_epsilon": 1e-5,
    "rope_theta": 5000000, "swa_rope_theta": 10000, "swa_num_attention_heads": 8,
    "swa_num_key_value_heads": 4, "head_dim": 16, "v_head_dim": 8, "swa_head_dim": 12,
    "swa_v_head_dim": 16, "partial_rotary_factor": 0.334)";

TEST(Families10ArgsTest, MimoV2FlashReadsMlxLmsFields) {
  const ModelArgs args = Config("mimo_v2_flash", kMimo);
  EXPECT_EQ(args.layer_types,
            (std::vector<std::string>{"full_attention", "sliding_attention", "sliding_attention"}));
  EXPECT_EQ(args.mlp_only_layers, std::vector<int>{0});
  EXPECT_EQ(args.num_experts, 8);
  EXPECT_EQ(args.n_shared_experts, 0);
  EXPECT_EQ(args.routed_scaling_factor, 1.0f);
  EXPECT_EQ(args.sliding_window, 128);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);
  EXPECT_EQ(args.rope_theta, 5000000.0f);
  EXPECT_EQ(args.rope_local_base_freq, 10000.0f);
  EXPECT_EQ(args.num_swa_attention_heads, 8);
  EXPECT_EQ(args.num_swa_key_value_heads, 4);
  EXPECT_EQ(args.swa_head_dim, 12);
  EXPECT_EQ(args.swa_v_head_dim, 16);
  EXPECT_EQ(args.v_head_dim, 8);
  EXPECT_TRUE(args.swa_sinks);
  EXPECT_FALSE(args.full_sinks);
  EXPECT_FALSE(args.attention_value_scale.has_value());
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(*Config("mimo_v2_flash", std::string(kMimo) + R"(, "attention_value_scale": 0.5)")
                 .attention_value_scale,
            0.5f);
}

TEST(Families10ArgsTest, MimoV2FlashRefusesWhatMlxLmCannotBuild) {
  // A key mlx-lm requires, even where null is allowed.
  std::string without = kMimo;
  without.replace(without.find(R"("n_shared_experts": null, )"),
                  std::string(R"("n_shared_experts": null, )").size(), "");
  EXPECT_EQ(Refusal([&] { Config("mimo_v2_flash", without); }),
            "[ModelArgs] config.json lacks \"n_shared_experts\".");
  std::string all_full = kMimo;
  all_full.replace(all_full.find("[0, 1, 1]"), 9, "[0, 0, 0]");
  EXPECT_EQ(Refusal([&] { Config("mimo_v2_flash", all_full); }),
            "[ModelArgs] config.json's hybrid_layer_pattern and moe_layer_freq need an entry per "
            "layer (3), and the pattern a 1 (sliding) and a 0 (full): mlx-lm finds both.");
  std::string greedy = kMimo;
  greedy.replace(greedy.find("noaux_tc"), 8, "greedy");
  EXPECT_EQ(Refusal([&] { Config("mimo_v2_flash", greedy); }, ErrorCode::kUnimplemented),
            "[ModelArgs] topk_method \"greedy\" is not built by mlx-lm (noaux_tc is).");
  std::string odd = kMimo;
  odd.replace(odd.find(R"("swa_num_key_value_heads": 4)"), 28, R"("swa_num_key_value_heads": 3)");
  EXPECT_EQ(Refusal([&] { Config("mimo_v2_flash", odd); }),
            "[ModelArgs] config.json's swa_num_attention_heads (8) must be a multiple of "
            "swa_num_key_value_heads (3), and v_head_dim, swa_head_dim, swa_v_head_dim and "
            "sliding_window_size positive.");
}

// Full layers of 4 heads of 16 (values of 8), sliding ones of 4 heads over 1 of 12 (values of
// 16) with sinks; the Hugging Face experts stacked, model.mtp dropped; rotating caches on
// the sliding layers.
TEST(Families10ArgsTest, MimoV2FlashBuildsTheLayersItsConfigAsks) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("mimo_v2_flash");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_proj.weight"), (Shape{4 * 16, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.v_proj.weight"), (Shape{2 * 8, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.o_proj.weight"), (Shape{32, 4 * 8}));
  EXPECT_EQ(shapes.count("model.layers.0.self_attn.attention_sink_bias"), 0u);
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_proj.weight"), (Shape{4 * 12, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.k_proj.weight"), (Shape{12, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.v_proj.weight"), (Shape{16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.attention_sink_bias"), (Shape{4}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate_proj.weight"), (Shape{64, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.switch_mlp.gate_proj.weight"), (Shape{8, 16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate.e_score_correction_bias"), (Shape{8}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.shared_experts.up_proj.weight"), (Shape{16, 32}));
  for (const auto& [name, shape] : shapes) EXPECT_EQ(name.find("mtp"), std::string::npos) << name;
  std::unique_ptr<Model> model = load_model(TestData("mimo_v2_flash"));
  const std::vector<KVCache> cache = make_prompt_cache(*model);
  ASSERT_EQ(cache.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(cache[i].max_size(), i == 1 || i == 2 ? std::optional<int64_t>(6) : std::nullopt);
  }
  EXPECT_EQ(ParameterShapes("mimo_v2_flash_4bit")
                .count("model.layers.0.mlp.shared_experts.up_proj.weight"),
            0u);
  // Sinks: mlx-lm's quantized attention takes none.
  EXPECT_FALSE(model->reads_quantized_cache());
  EXPECT_EQ(
      Refusal(
          [&] {
            nn::Parameters fp8 = {{"model.layers.0.mlp.gate_proj.weight_scale_inv", ones({1, 1})}};
            model->sanitize(fp8);
          },
          ErrorCode::kUnimplemented),
      "[load_model] model.layers.0.mlp.gate_proj.weight_scale_inv: MiMo-V2-Flash's FP8 "
      "checkpoints are not read by ferry::lm (mlx-lm's conversions of them are).");
}

TEST(Families10ArgsTest, LagunaHasMlxLmsDefaults) {
  const ModelArgs args = Config("laguna", "");
  EXPECT_EQ(args.vocab_size, 100352);
  EXPECT_EQ(args.hidden_size, 2048);
  EXPECT_EQ(args.intermediate_size, 8192);
  EXPECT_EQ(args.num_hidden_layers, 40);
  EXPECT_EQ(args.num_attention_heads, 48);
  EXPECT_EQ(args.num_key_value_heads, 8);
  EXPECT_EQ(args.head_dim, 128);
  EXPECT_EQ(args.max_position_embeddings, 262144);
  EXPECT_EQ(args.rms_norm_eps, 1e-6f);
  EXPECT_FALSE(args.attention_bias || args.output_bias);
  EXPECT_TRUE(args.attention_gating);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(args.num_experts, 256);
  EXPECT_EQ(args.num_experts_per_tok, 8);
  EXPECT_EQ(args.moe_intermediate_size, 512);
  EXPECT_EQ(args.shared_expert_intermediate_size, 512);
  EXPECT_EQ(args.routed_scaling_factor, 1.0f);
  EXPECT_EQ(args.router_softcap, 0.0f);
  EXPECT_EQ(args.router_score_func, "sigmoid");
  EXPECT_EQ(args.layer_types, std::vector<std::string>(40, "full_attention"));
  EXPECT_EQ(args.mlp_only_layers, std::vector<int>{0});
  EXPECT_EQ(args.heads_per_layer, std::vector<int>(40, 48));
  // No rope_parameters: every layer type's RoPE is 10000, plain, whole.
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_EQ(args.rope_type, "default");
  EXPECT_EQ(args.partial_rotary_factor, 1.0f);
  EXPECT_EQ(args.rope_local_base_freq, 10000.0f);
}

TEST(Families10ArgsTest, LagunaReadsEachLayerTypesRope) {
  const ModelArgs args = Config("laguna", R"("num_hidden_layers": 2, "partial_rotary_factor": 0.5,
      "layer_types": ["sliding_attention", "full_attention"],
      "rope_parameters": {"full_attention": {"rope_type": "yarn", "factor": 32,
          "rope_theta": 500000, "original_max_position_embeddings": 4096},
        "sliding_attention": {"rope_theta": 10000, "partial_rotary_factor": 1.0}})");
  EXPECT_EQ(args.rope_theta, 500000.0f);
  EXPECT_EQ(args.rope_type, "yarn");
  EXPECT_EQ(args.rope_scaling.at("factor"), 32.0);
  EXPECT_EQ(args.rope_scaling.count("rope_theta"), 0u);
  EXPECT_EQ(args.partial_rotary_factor, 0.5f);
  EXPECT_EQ(args.rope_local_base_freq, 10000.0f);
  EXPECT_EQ(args.rope_local_type, "default");
  EXPECT_EQ(args.local_partial_rotary_factor, 1.0f);
  EXPECT_EQ(args.sliding_window, 512);
  EXPECT_EQ(Refusal([] {
              Config("laguna", R"("num_hidden_layers": 1, "layer_types": ["sliding_attention"])");
            }),
            "[ModelArgs] config.json's layer_types has no \"full_attention\" layer, which "
            "mlx-lm's laguna finds.");
  EXPECT_EQ(Refusal([] { Config("laguna", R"("moe_router_score_func": "softmax")"); }),
            "[ModelArgs] config.json's moe_router_score_func \"softmax\" is not sigmoid or "
            "sqrtsoftplus.");
  EXPECT_EQ(Refusal([] {
              Config("laguna",
                     R"("num_hidden_layers": 2, "num_attention_heads_per_layer": [48, 6])");
            }),
            "[ModelArgs] config.json's num_attention_heads_per_layer[1] (6) must be a multiple "
            "of num_key_value_heads.");
}

// Each layer's own heads and gate; the original layout's router, bias and experts renamed
// and stacked under its "language_model." prefix; a tied model without lm_head.
TEST(Families10ArgsTest, LagunaBuildsTheLayersItsConfigAsks) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("laguna");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_proj.weight"), (Shape{4 * 16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_proj.weight"), (Shape{2 * 16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.g_proj.weight"), (Shape{2, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_proj.bias"), (Shape{2 * 16}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.o_proj.bias"), (Shape{32}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_norm.weight"), (Shape{16}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate_proj.weight"), (Shape{64, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate.proj.weight"), (Shape{8, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate.e_score_correction_bias"), (Shape{8}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.switch_mlp.down_proj.weight"), (Shape{8, 32, 16}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.shared_expert.gate_proj.weight"), (Shape{24, 32}));
  EXPECT_EQ(shapes.count("lm_head.weight"), 1u);
  std::unique_ptr<Model> model = load_model(TestData("laguna"));
  const std::vector<KVCache> cache = make_prompt_cache(*model);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(cache[i].max_size(), i == 1 || i == 2 ? std::optional<int64_t>(6) : std::nullopt);
  }
  const std::unordered_map<std::string, Shape> tied = ParameterShapes("laguna_4bit");
  EXPECT_EQ(tied.count("lm_head.weight"), 0u);
  EXPECT_EQ(tied.count("model.layers.1.self_attn.g_proj.weight"), 0u);
  // The router in 8 bits: 64 / 4 words a row where the experts' are 64 / 8.
  EXPECT_EQ(tied.at("model.layers.1.mlp.gate.proj.weight"), (Shape{8, 16}));
  EXPECT_EQ(tied.at("model.layers.1.mlp.switch_mlp.gate_proj.weight"), (Shape{8, 32, 8}));
}

// Every field mlx-lm's longcat_flash ModelArgs requires.
constexpr char kLongcat[] = R"("attention_method": "MLA", "zero_expert_type": "identity",
    "hidden_size": 32, "ffn_hidden_size": 48, "moe_topk": 2, "expert_ffn_hidden_size": 16,
    "n_routed_experts": 4, "zero_expert_num": 2, "num_layers": 2, "vocab_size": 50,
    "max_position_embeddings": 4096, "num_attention_heads": 4, "kv_lora_rank": 16,
    "q_lora_rank": 24, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16,
    "routed_scaling_factor": 6.0, "rms_norm_eps": 1e-5, "rope_theta": 10000000,
    "mla_scale_q_lora": true, "mla_scale_kv_lora": true, "attention_bias": false)";

TEST(Families10ArgsTest, LongcatFlashReadsMlxLmsFields) {
  const ModelArgs args = Config("longcat_flash", kLongcat);
  EXPECT_EQ(args.num_hidden_layers, 2);
  EXPECT_EQ(args.intermediate_size, 48);
  EXPECT_EQ(args.moe_intermediate_size, 16);
  EXPECT_EQ(args.num_experts, 4);
  EXPECT_EQ(args.zero_experts, 2);
  EXPECT_EQ(args.num_experts_per_tok, 2);
  EXPECT_EQ(args.head_dim, 24);
  EXPECT_EQ(args.routed_scaling_factor, 6.0f);
  EXPECT_FLOAT_EQ(args.mla_q_scale, std::sqrt(32.0f / 24.0f));
  EXPECT_FLOAT_EQ(args.mla_kv_scale, std::sqrt(32.0f / 16.0f));
  EXPECT_TRUE(args.rope_traditional);
  EXPECT_FALSE(args.norm_topk_prob);
  EXPECT_FALSE(args.router_bias);
  EXPECT_EQ(args.rope_type, "default");
  EXPECT_EQ(Refusal([] { Config("longcat_flash", R"("attention_method": "MLA")"); }),
            "[ModelArgs] config.json lacks \"zero_expert_type\".");
  EXPECT_EQ(
      Refusal(
          [] { Config("longcat_flash", std::string(kLongcat) + R"(, "mla_scale_q_lora": false)"); },
          ErrorCode::kUnimplemented),
      "[ModelArgs] config.json's mla_scale_q_lora and mla_scale_kv_lora must be true: "
      "mlx-lm's longcat_flash reads the scales, which it sets only then.");
  EXPECT_EQ(Refusal(
                [] {
                  Config("longcat_flash",
                         std::string(kLongcat) + R"(, "zero_expert_type": "copy")");
                },
                ErrorCode::kUnimplemented),
            "[ModelArgs] zero_expert_type \"copy\" is not built by mlx-lm (identity is).");
}

// Two latent attentions, two MLPs and the mixture per layer (the Hugging Face kv_b_proj split,
// the experts stacked, model.mtp dropped); each layer's cache a list of two.
TEST(Families10ArgsTest, LongcatFlashBuildsTheLayersItsConfigAsks) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("longcat_flash");
  for (const char* i : {"0", "1"}) {
    const std::string attn = std::string("model.layers.1.self_attn.") + i;
    EXPECT_EQ(shapes.at(attn + ".embed_q.weight"), (Shape{4, 16, 16}));
    EXPECT_EQ(shapes.at(attn + ".unembed_out.weight"), (Shape{4, 16, 16}));
    EXPECT_EQ(shapes.count(attn + ".kv_b_proj.weight"), 0u);
    EXPECT_EQ(shapes.at(std::string("model.layers.1.mlps.") + i + ".gate_proj.weight"),
              (Shape{48, 32}));
    EXPECT_EQ(shapes.at(std::string("model.layers.1.input_layernorm.") + i + ".weight"),
              (Shape{32}));
  }
  EXPECT_EQ(shapes.at("model.layers.0.mlp.router.classifier.weight"), (Shape{6, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.router.classifier.bias"), (Shape{6}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.router.e_score_correction_bias"), (Shape{6}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.switch_mlp.up_proj.weight"), (Shape{4, 16, 32}));
  for (const auto& [name, shape] : shapes) EXPECT_EQ(name.find("mtp"), std::string::npos) << name;
  std::unique_ptr<Model> model = load_model(TestData("longcat_flash"));
  const std::vector<KVCache> cache = make_prompt_cache(*model);
  ASSERT_EQ(cache.size(), 2u);
  for (const KVCache& layer : cache) EXPECT_EQ(layer.parts(), 2);
  EXPECT_FALSE(model->reads_quantized_cache());
}

// stream_generate gives mlx-lm's greedy tokens for each family, with a prefill in pieces of 4.
TEST(Families10Test, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm("lm_families_10_mlx.safetensors",
                              {std::begin(kModels), std::end(kModels)});
}

}  // namespace
}  // namespace ferry::lm
