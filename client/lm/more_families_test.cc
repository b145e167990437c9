// Granite, Granite-MoE, Cohere 2 and StarCoder 2, GLM-4, EXAONE 4, ERNIE 4.5 and OLMoE, Hunyuan,
// Seed-OSS, Apertus, Helium and InternLM3 as mlx-lm 0.32.2 builds them
// (testdata/lm_more_families_mlx.py, lm_families_2_mlx.py and lm_families_3_mlx.py write
// the models and what mlx-lm computes;
// models_mlx_test.cc holds their logits, a token at a time too, and greedy runs): their
// configs read as mlx-lm reads them, what is missing or inconsistent named, Hugging Face's
// Granite-MoE experts split and ERNIE 4.5's dropped as mlx-lm's sanitize does, convert's 8-bit
// layers, and
// stream_generate through them.

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/lm/tokenizer.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::Config;
using ::ferry::lm::testing::ExpectStreamedTokensAsMlxLm;
using ::ferry::lm::testing::Refusal;
using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;

constexpr char kGranite[] = R"("hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "vocab_size": 50, "logits_scaling": 8.0,
    "attention_multiplier": 0.015625, "embedding_multiplier": 12.0,
    "residual_multiplier": 0.22, "max_position_embeddings": 4096, "attention_bias": false,
    "rope_theta": 10000000.0)";

TEST(MoreFamiliesArgsTest, GraniteReadsItsMultipliers) {
  const ModelArgs args = Config("granite", std::string(kGranite) + R"(, "mlp_bias": true,
          "rope_scaling": {"rope_type": "llama3", "factor": 8.0})");
  EXPECT_EQ(args.embedding_multiplier, 12.0f);
  EXPECT_EQ(args.attention_multiplier, 0.015625f);
  EXPECT_EQ(args.residual_multiplier, 0.22f);
  EXPECT_EQ(args.logits_scaling, 8.0f);
  EXPECT_EQ(args.head_dim, 8);  // hidden_size / num_attention_heads, always
  EXPECT_TRUE(args.mlp_bias);
  EXPECT_FALSE(args.attention_bias);
  EXPECT_TRUE(args.tie_word_embeddings);  // mlx-lm's default
  EXPECT_EQ(args.rope_type, "llama3");
  EXPECT_FALSE(args.layer_norm);
}

TEST(MoreFamiliesArgsTest, GraniteRequiresWhatMlxLmRequires) {
  EXPECT_EQ(Refusal([] { Config("granite", kGranite); }),
            "[ModelArgs] config.json lacks \"mlp_bias\".");
  // Every multiplier: mlx-lm's dataclass has no default for them.
  EXPECT_EQ(Refusal([] {
              Config("granite", R"("hidden_size": 32, "num_hidden_layers": 2,
                "intermediate_size": 64, "num_attention_heads": 4, "rms_norm_eps": 1e-6,
                "vocab_size": 50, "num_key_value_heads": 4, "attention_multiplier": 0.1)");
            }),
            "[ModelArgs] config.json lacks \"logits_scaling\".");
  EXPECT_EQ(Refusal([] {
              Config("granite",
                     std::string(kGranite) + R"(, "mlp_bias": false, "logits_scaling": 0)");
            }),
            "[ModelArgs] config.json's attention_multiplier (0.015625) must be positive and "
            "logits_scaling (0) not 0.");
}

TEST(MoreFamiliesArgsTest, GraniteMoeReadsItsExperts) {
  const ModelArgs args = Config(
      "granitemoe", std::string(kGranite) + R"(, "num_local_experts": 8, "num_experts_per_tok": 2,
          "tie_word_embeddings": false)");
  EXPECT_EQ(args.num_experts, 8);
  EXPECT_EQ(args.num_experts_per_tok, 2);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([] { Config("granitemoe", kGranite); }),
            "[ModelArgs] config.json lacks \"num_local_experts\".");
  EXPECT_EQ(Refusal([] {
              Config("granitemoe", std::string(kGranite) +
                                       R"(, "num_local_experts": 2, "num_experts_per_tok": 3)");
            }),
            "[ModelArgs] config.json's num_experts_per_tok (3) must be from 1 to "
            "num_local_experts (2).");
}

TEST(MoreFamiliesArgsTest, Cohere2HasMlxLmsDefaults) {
  const ModelArgs args = Config("cohere2", "");
  EXPECT_EQ(args.hidden_size, 4096);
  EXPECT_EQ(args.head_dim, 128);
  EXPECT_EQ(args.num_hidden_layers, 32);
  EXPECT_EQ(args.num_key_value_heads, 8);
  EXPECT_EQ(args.rope_theta, 50000.0f);
  EXPECT_EQ(args.vocab_size, 256000);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);  // layer_norm_eps
  EXPECT_EQ(args.logit_scale, 0.0625f);
  EXPECT_EQ(args.sliding_window, 4096);
  EXPECT_EQ(args.sliding_window_pattern, 4);
  EXPECT_TRUE(args.layer_norm);
  EXPECT_FALSE(args.layer_norm_bias);
  EXPECT_TRUE(args.rope_traditional);
  EXPECT_TRUE(args.tie_word_embeddings);
}

TEST(MoreFamiliesArgsTest, Cohere2InconsistenciesAreNamed) {
  EXPECT_EQ(Refusal([] { Config("cohere2", R"("hidden_size": 64, "head_dim": 8)"); }),
            "[ModelArgs] config.json's head_dim (8) times num_attention_heads (32) is not "
            "hidden_size (64).");
  EXPECT_EQ(Refusal([] {
              Config("cohere2", R"("hidden_size": 32, "head_dim": 8, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "num_hidden_layers": 3)");
            }),
            "[ModelArgs] config.json's sliding_window (4096) must be positive and "
            "sliding_window_pattern (4) from 1 to num_hidden_layers (3).");
}

// The global layers (every fourth) see no window; make_prompt_cache rings the others.
TEST(MoreFamiliesArgsTest, Cohere2SlidesAllButEachPatternthLayer) {
  std::unique_ptr<Model> model = load_model(TestData("cohere2"));
  const std::vector<std::optional<int64_t>> windows = {6, 6, 6, std::nullopt, 6};
  for (int layer = 0; layer < 5; ++layer) {
    EXPECT_EQ(model->sliding_window(layer), windows[layer]) << "layer " << layer;
  }
}

TEST(MoreFamiliesArgsTest, Starcoder2IsBiasedWithLayerNorms) {
  const ModelArgs args = Config("starcoder2", R"("hidden_size": 32, "num_hidden_layers": 2,
      "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
      "sliding_window": 8)");
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);  // norm_epsilon's default
  EXPECT_EQ(args.vocab_size, 49152);
  EXPECT_EQ(args.rope_theta, 100000.0f);
  EXPECT_TRUE(args.attention_bias && args.output_bias);
  EXPECT_TRUE(args.layer_norm && args.layer_norm_bias);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(args.sliding_window, 0);  // mlx-lm reads none
  EXPECT_EQ(Refusal([] { Config("starcoder2", R"("hidden_size": 32)"); }),
            "[ModelArgs] config.json lacks \"num_hidden_layers\".");
}

constexpr char kSizes[] = R"("hidden_size": 32, "num_hidden_layers": 4,
    "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5, "vocab_size": 50)";

TEST(MoreFamiliesArgsTest, Glm4ReadsAsMlxLm) {
  const std::string glm4 = std::string(kSizes) + R"(, "attention_bias": true, "head_dim": 8,
      "partial_rotary_factor": 0.5, "rope_theta": 10000.0)";
  const ModelArgs args = Config("glm4", glm4 + R"(, "rope_scaling": {"type": "linear"})");
  EXPECT_TRUE(args.sandwich_norms);
  EXPECT_TRUE(args.attention_bias);
  EXPECT_FALSE(args.output_bias);  // o_proj is never biased
  EXPECT_TRUE(args.rope_traditional);
  EXPECT_EQ(args.rope_type, "default");  // rope_scaling unread
  EXPECT_EQ(args.max_position_embeddings, 32768);
  EXPECT_FALSE(args.tie_word_embeddings);  // mlx-lm's glm4 always has its lm_head
  EXPECT_EQ(Refusal([&] { Config("glm4", kSizes); }),
            "[ModelArgs] config.json lacks \"attention_bias\".");
  EXPECT_EQ(Refusal([&] {
              Config("glm4", std::string(kSizes) + R"(, "attention_bias": true, "head_dim": 8,
                  "partial_rotary_factor": 0.125, "rope_theta": 10000.0)");
            }),
            "[ModelArgs] config.json's partial_rotary_factor gives 1 rotated features of "
            "head_dim 8; they must be even, 2 or more, at most head_dim.");
}

TEST(MoreFamiliesArgsTest, Exaone4PatternSlidesLLayersAndRotatesOnlyThem) {
  const std::string exaone = std::string(kSizes) + R"(, "max_position_embeddings": 4096,
      "rope_theta": 10000.0, "head_dim": 8, "tie_word_embeddings": true)";
  const ModelArgs args =
      Config("exaone4", exaone + R"(, "sliding_window": 6, "sliding_window_pattern": "LLG",
          "rope_scaling": {"rope_type": "llama3", "factor": 8.0})");
  EXPECT_TRUE(args.qk_norm);
  EXPECT_FALSE(args.qk_norm_whole);
  EXPECT_EQ(args.sliding_window, 6);
  EXPECT_EQ(args.layer_types, (std::vector<std::string>{"sliding_attention", "sliding_attention",
                                                        "full_attention", "sliding_attention"}));
  EXPECT_EQ(args.no_rope_layers, (std::vector<int>{1, 1, 0, 1}));
  EXPECT_EQ(args.rope_type, "llama3");
  // Without a pattern every layer is global and rotates.
  const ModelArgs global = Config("exaone4", exaone + R"(, "sliding_window": 6,
      "sliding_window_pattern": null, "rope_scaling": null)");
  EXPECT_TRUE(global.layer_types.empty());
  EXPECT_TRUE(global.no_rope_layers.empty());
  EXPECT_EQ(global.sliding_window, 0);
  for (const char* pattern : {R"("LLL")", R"("LxG")", "4"}) {
    EXPECT_EQ(Refusal([&] {
                Config("exaone4",
                       exaone + R"(, "sliding_window": 6, "sliding_window_pattern": )" + pattern);
              }),
              std::string("[ModelArgs] config.json's sliding_window_pattern is ") + pattern +
                  ", not a string of L (sliding) and G (global) holding both.");
  }
  EXPECT_EQ(Refusal([&] { Config("exaone4", exaone + R"(, "sliding_window_pattern": "LG")"); }),
            "[ModelArgs] config.json lacks \"sliding_window\".");
  EXPECT_EQ(Refusal([&] { Config("exaone4", kSizes); }),
            "[ModelArgs] config.json lacks \"max_position_embeddings\".");
}

// Layers 0-2 slide ("LLLG"), 3 does not; make_prompt_cache rings the sliding ones.
TEST(MoreFamiliesArgsTest, Exaone4SlidesItsLLayers) {
  std::unique_ptr<Model> model = load_model(TestData("exaone4"));
  const std::vector<std::optional<int64_t>> windows = {6, 6, 6, std::nullopt};
  for (int layer = 0; layer < 4; ++layer) {
    EXPECT_EQ(model->sliding_window(layer), windows[layer]) << "layer " << layer;
  }
  EXPECT_EQ(load_model(TestData("exaone4_4bit"))->sliding_window(0), std::nullopt);
}

TEST(MoreFamiliesArgsTest, Ernie45ReadsUseBiasAndItsExpertLayers) {
  const std::string ernie = std::string(kSizes) + R"(, "max_position_embeddings": 4096,
      "rope_theta": 500000.0, "use_bias": true, "tie_word_embeddings": false,
      "head_dim": null)";
  const ModelArgs dense = Config("ernie4_5", ernie);
  EXPECT_EQ(dense.head_dim, 8);  // hidden_size / num_attention_heads
  EXPECT_TRUE(dense.attention_bias && dense.output_bias && dense.mlp_bias);
  EXPECT_TRUE(dense.rope_traditional);
  EXPECT_EQ(dense.num_experts, 0);
  const ModelArgs moe = Config("ernie4_5_moe", ernie + R"(, "moe_num_experts": 8, "moe_k": 2,
      "moe_num_shared_experts": 1, "moe_layer_start_index": [1, 2],
      "moe_layer_end_index": [2, 1], "moe_gate_act": "sigmoid")");
  EXPECT_EQ(moe.num_experts, 8);
  EXPECT_EQ(moe.num_experts_per_tok, 2);
  EXPECT_EQ(moe.moe_intermediate_size, 64);  // intermediate_size where it is 0
  EXPECT_EQ(moe.n_shared_experts, 1);
  EXPECT_TRUE(moe.sigmoid_router);
  EXPECT_EQ(moe.mlp_only_layers, (std::vector<int>{0, 3}));  // sparse from 1 to 2
  const ModelArgs every_other =
      Config("ernie4_5_moe", ernie + R"(, "moe_num_experts": 8, "moe_layer_interval": 2)");
  EXPECT_TRUE(every_other.mlp_only_layers.empty());
  EXPECT_EQ(every_other.decoder_sparse_step, 2);
  EXPECT_EQ(every_other.num_experts_per_tok, 1);  // moe_k's default
  EXPECT_EQ(Refusal([&] { Config("ernie4_5", kSizes); }),
            "[ModelArgs] config.json lacks \"max_position_embeddings\".");
  EXPECT_EQ(Refusal([&] { Config("ernie4_5_moe", ernie); }),
            "[ModelArgs] config.json lacks \"moe_num_experts\".");
  EXPECT_EQ(
      Refusal([&] { Config("ernie4_5_moe", ernie + R"(, "moe_num_experts": 2, "moe_k": 3)"); }),
      "[ModelArgs] config.json's moe_k (3) must be from 1 to moe_num_experts (2), "
      "moe_intermediate_size and moe_layer_interval positive, moe_num_shared_experts not "
      "negative.");
  try {
    Config("ernie4_5_moe", ernie + R"(, "moe_num_experts": 2, "moe_gate_act": "relu")");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(std::string(e.what()),
              "[ModelArgs] moe_gate_act \"relu\" is not built by ferry::lm (softmax and sigmoid "
              "are).");
  }
}

// mlx-lm's sanitize: the multi-token prediction layers and the routers' unused correction
// bias dropped, Hugging Face's experts stacked.
TEST(MoreFamiliesTest, Ernie45MoeSanitizeDropsWhatMlxLmDrops) {
  std::unique_ptr<Model> model =
      make_model(Config("ernie4_5_moe", std::string(kSizes) + R"(, "max_position_embeddings": 4096,
          "rope_theta": 500000.0, "use_bias": false, "tie_word_embeddings": false,
          "moe_num_experts": 2)"));
  const std::string mlp = "model.layers.0.mlp.";
  const nn::Parameters sanitized =
      model->sanitize({{mlp + "experts.0.up_proj.weight", zeros({3, 2})},
                       {mlp + "experts.1.up_proj.weight", ones({3, 2})},
                       {mlp + "moe_statics.e_score_correction_bias", zeros({1, 2})},
                       {"mtp_block.0.input_layernorm.weight", zeros({2})},
                       {"mtp_linear_proj.0.weight", zeros({2, 4})},
                       {mlp + "gate.weight", zeros({2, 2})}});
  ASSERT_EQ(sanitized.size(), 2u);
  EXPECT_EQ(sanitized[0].first, mlp + "gate.weight");
  EXPECT_EQ(sanitized[1].first, mlp + "switch_mlp.up_proj.weight");
  EXPECT_EQ(sanitized[1].second.shape(), (Shape{2, 3, 2}));
}

TEST(MoreFamiliesArgsTest, OlmoeReadsAsMlxLm) {
  const ModelArgs args =
      Config("olmoe", std::string(kSizes) + R"(, "num_experts": 8, "num_experts_per_tok": 2,
          "rope_scaling": {"type": "linear", "factor": 2.0})");
  EXPECT_TRUE(args.qk_norm_whole);
  EXPECT_FALSE(args.norm_topk_prob);
  EXPECT_EQ(args.moe_intermediate_size, 64);  // the experts are intermediate_size wide
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_EQ(args.rope_type, "linear");
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([&] { Config("olmoe", kSizes); }),
            "[ModelArgs] config.json lacks \"num_experts\".");
  EXPECT_EQ(Refusal([&] {
              Config("olmoe",
                     std::string(kSizes) + R"(, "num_experts": 2, "num_experts_per_tok": 3)");
            }),
            "[ModelArgs] config.json's num_experts_per_tok (3) must be from 1 to num_experts (2).");
}

// Hunyuan's: q/k norms after RoPE, NTK-alpha RoPE; the mixture's lists per layer read where
// their entries agree, its cross-layer attention and shared MLP.
TEST(MoreFamiliesArgsTest, HunyuanReadsAsMlxLm) {
  const ModelArgs dense = Config("hunyuan_v1_dense", std::string(kSizes) + R"(,
      "rope_scaling": {"alpha": 1000.0, "factor": 1.0, "type": "dynamic"}, "head_dim": null)");
  EXPECT_TRUE(dense.qk_norm_after_rope);
  EXPECT_FALSE(dense.qk_norm);
  EXPECT_EQ(dense.head_dim, 8);
  EXPECT_EQ(dense.rope_type, "ntk_alpha");
  EXPECT_EQ(dense.rope_scaling.at("alpha"), 1000.0);
  EXPECT_FALSE(dense.tie_word_embeddings);
  EXPECT_EQ(dense.cla_share_factor, 1);
  EXPECT_EQ(Config("hunyuan_v1_dense", kSizes).rope_scaling.at("alpha"), 1.0);
  const std::string moe = std::string(kSizes) + R"(, "attention_bias": true,
      "num_experts": 8, "num_shared_expert": [1, 1, 1, 1], "use_mixed_mlp_moe": true,
      "use_qk_norm": true, "rope_theta": 10000.0, "use_cla": true, "cla_share_factor": 2,
      "moe_intermediate_size": [16, 16, 16, 16], "head_dim": 16, "tie_word_embeddings": false,
      "rope_scaling": {"alpha": 1000.0, "factor": 1.0, "type": "dynamic"})";
  const ModelArgs args = Config("hunyuan", moe + R"(, "moe_topk": [2, 2, 2, 2])");
  EXPECT_EQ(args.num_experts, 8);
  EXPECT_EQ(args.num_experts_per_tok, 2);
  EXPECT_EQ(args.moe_intermediate_size, 16);
  EXPECT_EQ(args.shared_expert_intermediate_size, 64);  // intermediate_size * num_shared_expert
  EXPECT_EQ(args.cla_share_factor, 2);
  EXPECT_EQ(args.head_dim, 8);  // hidden_size / heads whatever head_dim says
  EXPECT_TRUE(args.attention_bias && args.output_bias);
  EXPECT_TRUE(args.tie_word_embeddings);  // mlx-lm's output is the embedding
  EXPECT_EQ(Refusal([&] { Config("hunyuan", moe + R"(, "moe_topk": 9)"); }),
            "[ModelArgs] config.json's moe_topk (9) must be from 1 to num_experts (8), "
            "num_shared_expert not negative and cla_share_factor positive.");
  EXPECT_EQ(Refusal([&] { Config("hunyuan", std::string(kSizes) + R"(, "rope_theta": 1.0)"); }),
            "[ModelArgs] config.json lacks \"attention_bias\".");
  EXPECT_EQ(Refusal([&] {
              Config("hunyuan_v1_dense",
                     std::string(kSizes) + R"(, "rope_scaling": {"factor": 1.0, "type": "x"})");
            }),
            "[ModelArgs] config.json's rope_scaling lacks \"alpha\" (Hunyuan's needs alpha, "
            "factor and type).");
  try {
    Config("hunyuan", moe + R"(, "moe_topk": [2, 1, 2, 2])");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(std::string(e.what()),
              "[ModelArgs] config.json's moe_topk is [2,1,2,2]: ferry::lm builds every layer "
              "alike (a number, or a list of equal ones).");
  }
}

// mlx-lm's sanitize of Hunyuan-Large's fused projections: qkv_proj per key/value head (its
// query heads, its key, its value), gate_and_up_proj up first.
TEST(MoreFamiliesTest, HunyuanSanitizeSplitsFusedProjections) {
  std::unique_ptr<Model> model = make_model(Config("hunyuan", std::string(kSizes) + R"(,
      "attention_bias": false, "moe_topk": 1, "num_experts": 1, "num_shared_expert": 1,
      "use_mixed_mlp_moe": false, "use_qk_norm": true, "rope_theta": 10000.0, "use_cla": false,
      "cla_share_factor": 2, "rope_scaling": {"alpha": 1.0, "factor": 1.0, "type": "dynamic"})"));
  const std::string layer = "model.layers.0.";
  // 2 key/value heads of 2 query heads each, head_dim 8: rows of (2, 4, 8).
  const Array qkv = reshape(arange(0, 64 * 3, float32), {64, 3});
  const Array fused = reshape(arange(0, 128 * 3, float32), {128, 3});
  const nn::Parameters sanitized = model->sanitize(
      {{layer + "self_attn.qkv_proj.weight", qkv}, {layer + "mlp.gate_and_up_proj.weight", fused}});
  std::unordered_map<std::string, Array> got(sanitized.begin(), sanitized.end());
  ASSERT_EQ(got.size(), 5u);
  const Array heads = reshape(qkv, {2, 4, 8, 3});
  ExpectAllClose(got.at(layer + "self_attn.q_proj.weight"),
                 reshape(slice(heads, {0, 0, 0, 0}, {2, 2, 8, 3}), {32, 3}), 0, 0, "q_proj");
  ExpectAllClose(got.at(layer + "self_attn.k_proj.weight"),
                 reshape(slice(heads, {0, 2, 0, 0}, {2, 3, 8, 3}), {16, 3}), 0, 0, "k_proj");
  ExpectAllClose(got.at(layer + "self_attn.v_proj.weight"),
                 reshape(slice(heads, {0, 3, 0, 0}, {2, 4, 8, 3}), {16, 3}), 0, 0, "v_proj");
  ExpectAllClose(got.at(layer + "mlp.up_proj.weight"), slice(fused, {0, 0}, {64, 3}), 0, 0,
                 "up_proj");
  ExpectAllClose(got.at(layer + "mlp.gate_proj.weight"), slice(fused, {64, 0}, {128, 3}), 0, 0,
                 "gate_proj");
}

TEST(MoreFamiliesArgsTest, SeedOssApertusHeliumAndInternlm3ReadAsMlxLm) {
  const ModelArgs seed = Config("seed_oss", std::string(kSizes) + R"(, "head_dim": 16,
      "attention_bias": true, "attention_out_bias": false, "mlp_bias": true)");
  EXPECT_EQ(seed.head_dim, 16);
  EXPECT_TRUE(seed.attention_bias && !seed.output_bias && seed.mlp_bias);
  EXPECT_TRUE(seed.tie_word_embeddings);
  EXPECT_EQ(Refusal([&] { Config("seed_oss", kSizes); }),
            "[ModelArgs] config.json lacks \"head_dim\".");

  const std::string apertus = std::string(kSizes) + R"(, "mlp_bias": false,
      "attention_bias": true, "max_position_embeddings": 4096, "rope_theta": 10000.0,
      "qk_norm": false, "tie_word_embeddings": false,
      "rope_scaling": {"rope_type": "llama3", "factor": 8.0})";
  const ModelArgs args = Config("apertus", apertus + R"(, "post_norm": true)");
  EXPECT_TRUE(args.qk_norm);  // whatever qk_norm says
  EXPECT_FALSE(args.attention_bias);
  EXPECT_EQ(args.rope_type, "llama3");
  EXPECT_EQ(Refusal([&] { Config("apertus", apertus); }),
            "[ModelArgs] config.json lacks \"post_norm\".");

  const ModelArgs helium = Config("helium", std::string(kSizes) + R"(, "attention_bias": true,
      "head_dim": 16, "max_position_embeddings": 4096, "mlp_bias": false,
      "rope_theta": 100000.0, "tie_word_embeddings": false)");
  EXPECT_EQ(helium.head_dim, 8);  // hidden_size / heads whatever head_dim says
  EXPECT_TRUE(helium.attention_bias && !helium.output_bias);
  EXPECT_TRUE(helium.rope_traditional);

  const ModelArgs intern = Config("internlm3", std::string(kSizes) + R"(, "qkv_bias": true,
      "bias": true, "rope_scaling": {"rope_type": "dynamic", "factor": 6.0})");
  EXPECT_TRUE(intern.attention_bias && intern.output_bias && intern.mlp_bias);
  EXPECT_EQ(intern.rope_type, "default");  // dynamic NTK: plain up to max_position_embeddings
  EXPECT_EQ(Config("internlm3", std::string(kSizes) +
                                    R"(, "rope_scaling": {"rope_type": "linear", "factor": 2.0})")
                .rope_type,
            "linear");
  EXPECT_EQ(Refusal([&] {
              Config("internlm3", std::string(kSizes) +
                                      R"(, "rope_scaling": {"rope_type": "yarn", "factor": 2.0})");
            }),
            "[ModelArgs] config.json's rope_scaling is {\"factor\":2.0,\"rope_type\":\"yarn\"}; "
            "InternLM3's needs a factor and rope_type \"linear\" or \"dynamic\".");
}

// mlx-lm's sanitize: Hugging Face's xIELU alpha_p and alpha_n (1,) squeezed.
TEST(MoreFamiliesTest, ApertusSanitizeSqueezesXielu) {
  std::unique_ptr<Model> model = make_model(Config("apertus", std::string(kSizes) + R"(,
      "mlp_bias": false, "attention_bias": false, "max_position_embeddings": 4096,
      "rope_theta": 10000.0, "qk_norm": true, "post_norm": false,
      "tie_word_embeddings": true)"));
  const std::string act = "model.layers.0.mlp.act_fn.";
  const nn::Parameters sanitized =
      model->sanitize({{act + "alpha_p", ones({1})}, {act + "beta", ones({})}});
  ASSERT_EQ(sanitized.size(), 2u);
  EXPECT_EQ(sanitized[0].second.shape(), Shape{});
  EXPECT_EQ(sanitized[1].second.shape(), Shape{});
}

// Hugging Face's fused input_linear (E, 2 * intermediate, hidden): gate's rows, then up's.
TEST(MoreFamiliesTest, GraniteMoeSanitizeSplitsInputLinear) {
  std::unique_ptr<Model> model =
      make_model(Config("granitemoe", std::string(kGranite) +
                                          R"(, "num_local_experts": 2, "num_experts_per_tok": 1)"));
  const std::string moe = "model.layers.0.block_sparse_moe.";
  const Array fused = reshape(arange(0, 2 * 6 * 3, float32), {2, 6, 3});
  const Array output = ones({2, 3, 3});
  const nn::Parameters sanitized = model->sanitize(
      {{moe + "input_linear.weight", fused}, {moe + "output_linear.weight", output}});
  std::unordered_map<std::string, Array> got(sanitized.begin(), sanitized.end());
  ASSERT_EQ(got.size(), 3u);
  ExpectAllClose(got.at(moe + "switch_mlp.gate_proj.weight"), slice(fused, {0, 0, 0}, {2, 3, 3}), 0,
                 0, "gate_proj");
  ExpectAllClose(got.at(moe + "switch_mlp.up_proj.weight"), slice(fused, {0, 3, 0}, {2, 6, 3}), 0,
                 0, "up_proj");
  ExpectAllClose(got.at(moe + "switch_mlp.down_proj.weight"), output, 0, 0, "down_proj");
}

// mlx-lm's quant_predicate: what convert quantizes at 8 bits in groups of 64.
TEST(MoreFamiliesTest, GraniteKeepsItsSmallLayersAt8Bits) {
  const std::pair<int, int> eight = {64, 8};
  std::unique_ptr<Model> granite =
      make_model(Config("granite", std::string(kGranite) + R"(, "mlp_bias": false)"));
  EXPECT_EQ(granite->own_quantization("model.layers.0.self_attn.o_proj"), eight);
  EXPECT_EQ(granite->own_quantization("model.layers.0.mlp.down_proj"), eight);
  EXPECT_EQ(granite->own_quantization("lm_head"), eight);
  EXPECT_EQ(granite->own_quantization("model.layers.0.self_attn.q_proj"), std::nullopt);
  std::unique_ptr<Model> moe =
      make_model(Config("granitemoe", std::string(kGranite) +
                                          R"(, "num_local_experts": 2, "num_experts_per_tok": 1)"));
  EXPECT_EQ(moe->own_quantization("model.layers.1.block_sparse_moe.router.layer"), eight);
  EXPECT_EQ(moe->own_quantization("model.layers.1.block_sparse_moe.switch_mlp.gate_proj"),
            std::nullopt);
}

TEST(MoreFamiliesTest, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm("lm_more_families_mlx.safetensors",
                              {"granite", "granitemoe", "cohere2", "starcoder2"});
  ExpectStreamedTokensAsMlxLm("lm_families_2_mlx.safetensors",
                              {"glm4", "exaone4", "ernie4_5", "ernie4_5_moe", "olmoe"});
  ExpectStreamedTokensAsMlxLm("lm_moe_families_mlx.safetensors",
                              {"minimax", "dots1", "bailing_moe"});
  ExpectStreamedTokensAsMlxLm("lm_families_3_mlx.safetensors",
                              {"hunyuan_v1_dense", "hunyuan", "hunyuan_fused", "seed_oss",
                               "apertus", "helium", "internlm3"});
}

}  // namespace
}  // namespace ferry::lm
