// MiniMax-M2 (minimax), dots.llm1 (dots1) and Bailing MoE (bailing_moe) as mlx-lm 0.32.2
// builds them (testdata/lm_moe_families_mlx.py writes the models and what mlx-lm computes;
// models_mlx_test.cc holds their logits, a token at a time too, and greedy runs): their
// configs read as mlx-lm reads them, what is missing or inconsistent named, Hugging Face's experts
// stacked and what mlx-lm's sanitize drops dropped, the routers' 8 bits.

#include <memory>
#include <string>
#include <unordered_map>

#include "client/error.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::ExpectAllClose;

// Without rotary_dim, use_qk_norm, head_dim, tie_word_embeddings.
constexpr char kMinimax[] = R"("model_type": "minimax", "hidden_size": 32,
    "intermediate_size": 16, "num_attention_heads": 4, "num_key_value_heads": 2,
    "max_position_embeddings": 4096, "num_experts_per_tok": 2, "num_local_experts": 4,
    "shared_intermediate_size": 16, "num_hidden_layers": 2, "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0, "vocab_size": 50)";

// Without n_group, topk_group, mlp_bias, rope_scaling, tie_word_embeddings, head_dim.
constexpr char kDots1[] = R"("model_type": "dots1", "hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 64, "num_attention_heads": 4, "rms_norm_eps": 1e-5, "vocab_size": 50,
    "max_position_embeddings": 4096, "num_key_value_heads": 2, "first_k_dense_replace": 1,
    "moe_intermediate_size": 16, "n_routed_experts": 4, "n_shared_experts": 1,
    "norm_topk_prob": true, "num_experts_per_tok": 2, "rope_theta": 10000.0,
    "routed_scaling_factor": 2.5)";

ModelArgs Args(const char* base, const std::string& fields) {
  return ModelArgs::from_json(std::string("{") + base + (fields.empty() ? "" : ", ") + fields +
                              "}");
}

std::string Refusal(const char* base, const std::string& fields) {
  try {
    Args(base, fields);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

TEST(MinimaxTest, ConfigIsMlxLms) {
  const ModelArgs args = Args(kMinimax, R"("rotary_dim": 4)");
  EXPECT_EQ(args.head_dim, 8);  // hidden_size / heads without one
  EXPECT_EQ(args.partial_rotary_factor, 0.5f);
  EXPECT_TRUE(args.qk_norm_whole);  // use_qk_norm's default
  EXPECT_FALSE(args.qk_norm);
  EXPECT_EQ(args.num_experts, 4);
  EXPECT_EQ(args.moe_intermediate_size, 16);  // the experts are intermediate_size wide
  EXPECT_FALSE(args.tie_word_embeddings);
  const ModelArgs plain =
      Args(kMinimax, R"("rotary_dim": 16, "use_qk_norm": false, "head_dim": 16)");
  EXPECT_FALSE(plain.qk_norm_whole);
  EXPECT_EQ(plain.head_dim, 16);
  EXPECT_EQ(plain.partial_rotary_factor, 1.0f);
}

TEST(MinimaxTest, WhatIsMissingOrInconsistentIsNamed) {
  EXPECT_EQ(Refusal(kMinimax, ""), "[ModelArgs] config.json lacks \"rotary_dim\".");
  EXPECT_EQ(Refusal(kMinimax, R"("rotary_dim": 12)"),
            "[ModelArgs] config.json's rotary_dim (12) must be even, from 2 to head_dim (8).");
  EXPECT_EQ(Refusal(kMinimax, R"("rotary_dim": 4, "num_experts_per_tok": 5)"),
            "[ModelArgs] config.json's num_experts_per_tok (5) must be from 1 to "
            "num_local_experts (4).");
}

// mlx-lm's sanitize: w1, w2 and w3 of each expert stacked as gate_proj, down_proj and up_proj.
TEST(MinimaxTest, SanitizeStacksHuggingFacesExperts) {
  std::unique_ptr<Model> model = make_model(Args(kMinimax, R"("rotary_dim": 4)"));
  const std::string moe = "model.layers.1.block_sparse_moe.";
  nn::Parameters weights = {{moe + "gate.weight", zeros({4, 32})},
                            {moe + "e_score_correction_bias", zeros({4})}};
  for (int e = 0; e < 4; ++e) {
    const std::string expert = moe + "experts." + std::to_string(e) + ".";
    weights.emplace_back(expert + "w1.weight", full({16, 32}, static_cast<float>(e)));
    weights.emplace_back(expert + "w2.weight", zeros({32, 16}));
    weights.emplace_back(expert + "w3.weight", zeros({16, 32}));
  }
  const nn::Parameters sanitized = model->sanitize(weights);
  std::unordered_map<std::string, Array> got(sanitized.begin(), sanitized.end());
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got.at(moe + "switch_mlp.down_proj.weight").shape(), (Shape{4, 32, 16}));
  EXPECT_EQ(got.at(moe + "switch_mlp.up_proj.weight").shape(), (Shape{4, 16, 32}));
  ExpectAllClose(slice(got.at(moe + "switch_mlp.gate_proj.weight"), {3, 0, 0}, {4, 16, 32}),
                 full({1, 16, 32}, 3.0f), 0, 0, "expert 3's w1");
  try {
    model->sanitize({{"model.layers.0.self_attn.q_proj.weight_scale_inv", zeros({1, 1})}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented) << e.what();
  }
}

// mlx-lm's quant_predicate and cast_predicate.
TEST(MinimaxTest, RoutersAre8BitAndTheBiasKeepsItsDtype) {
  std::unique_ptr<Model> model = make_model(Args(kMinimax, R"("rotary_dim": 4)"));
  EXPECT_EQ(model->own_quantization("model.layers.0.block_sparse_moe.gate"), std::make_pair(64, 8));
  EXPECT_EQ(model->own_quantization("model.layers.0.block_sparse_moe.switch_mlp.gate_proj"),
            std::nullopt);
  EXPECT_FALSE(model->casts("model.layers.0.block_sparse_moe.e_score_correction_bias"));
  EXPECT_TRUE(model->casts("model.layers.0.block_sparse_moe.gate.weight"));
}

TEST(Dots1Test, ConfigIsMlxLms) {
  const ModelArgs args = Args(kDots1, R"("attention_bias": true, "scoring_func": "noaux_tc")");
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_TRUE(args.qk_norm);          // per head, always
  EXPECT_FALSE(args.attention_bias);  // read by mlx-lm, unused
  EXPECT_FALSE(args.mlp_bias);
  EXPECT_EQ(args.n_group, 1);
  EXPECT_EQ(args.topk_group, 1);
  EXPECT_EQ(args.num_experts, 4);
  EXPECT_EQ(args.routed_scaling_factor, 2.5f);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(args.rope_type, "default");
  const ModelArgs scaled = Args(kDots1, R"("rope_scaling": {"type": "linear", "factor": 2.0},
      "mlp_bias": true, "n_group": 2, "topk_group": 1)");
  EXPECT_EQ(scaled.rope_type, "linear");
  EXPECT_TRUE(scaled.mlp_bias);
  EXPECT_EQ(scaled.n_group, 2);
}

TEST(Dots1Test, WhatIsMissingOrInconsistentIsNamed) {
  EXPECT_EQ(Refusal(R"("model_type": "dots1", "hidden_size": 32, "num_hidden_layers": 2)", ""),
            "[ModelArgs] config.json lacks \"intermediate_size\".");
  EXPECT_EQ(Refusal(kDots1, R"("n_group": 3)"),
            "[ModelArgs] config.json's n_routed_experts (4) must be n_group (3) groups of 2 or "
            "more, topk_group (1) from 1 to n_group, num_experts_per_tok (2) from 1 to "
            "n_routed_experts, moe_intermediate_size positive.");
  EXPECT_EQ(Refusal(kDots1, R"("first_k_dense_replace": -1)"),
            "[ModelArgs] config.json's n_shared_experts and first_k_dense_replace must not be "
            "negative.");
}

// mlx-lm's sanitize: the experts stacked under their own name, rotary_emb.inv_freq dropped,
// lm_head dropped where the embeddings are tied.
TEST(Dots1Test, SanitizeStacksTheExpertsAndDropsWhatMlxLmDrops) {
  std::unique_ptr<Model> model = make_model(Args(kDots1, R"("tie_word_embeddings": true)"));
  const std::string mlp = "model.layers.1.mlp.";
  nn::Parameters weights = {{mlp + "gate.weight", zeros({4, 32})},
                            {"model.layers.1.self_attn.rotary_emb.inv_freq", zeros({4})},
                            {"lm_head.weight", zeros({50, 32})}};
  for (int e = 0; e < 4; ++e) {
    for (const char* kind : {"weight", "scales", "biases"}) {
      weights.emplace_back(mlp + "experts." + std::to_string(e) + ".up_proj." + kind,
                           zeros({16, 4}));
    }
  }
  const nn::Parameters sanitized = model->sanitize(weights);
  std::unordered_map<std::string, Array> got(sanitized.begin(), sanitized.end());
  ASSERT_EQ(got.size(), 4u);
  EXPECT_TRUE(got.count(mlp + "gate.weight"));
  for (const char* kind : {"weight", "scales", "biases"}) {
    EXPECT_EQ(got.at(mlp + "experts.up_proj." + kind).shape(), (Shape{4, 16, 4})) << kind;
  }
}

// Without use_bias, use_qkv_bias, use_qk_norm, norm_head, score_function, the router's
// options, rotary_dim, partial_rotary_factor, tie_word_embeddings.
constexpr char kBailing[] = R"("model_type": "bailing_moe", "hidden_size": 32,
    "intermediate_size": 64, "max_position_embeddings": 4096, "moe_intermediate_size": 16,
    "num_experts": 4, "num_shared_experts": 1, "norm_topk_prob": true,
    "num_attention_heads": 4, "num_experts_per_tok": 2, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "vocab_size": 50,
    "first_k_dense_replace": 1)";

TEST(BailingMoeTest, ConfigIsMlxLms) {
  const ModelArgs args = Args(kBailing, "");
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.partial_rotary_factor, 1.0f);
  EXPECT_FALSE(args.sigmoid_router);  // score_function "softmax"
  EXPECT_FALSE(args.router_expert_bias);
  EXPECT_FALSE(args.norm_head);
  EXPECT_FALSE(args.qk_norm);
  EXPECT_EQ(args.n_group, 1);
  EXPECT_EQ(args.routed_scaling_factor, 1.0f);
  EXPECT_EQ(args.shared_expert_intermediate_size, 16);  // moe_intermediate_size
  EXPECT_EQ(args.n_shared_experts, 1);
  const ModelArgs set = Args(kBailing, R"("use_bias": true, "use_qkv_bias": true,
      "use_qk_norm": true, "norm_head": true, "score_function": "sigmoid",
      "moe_router_enable_expert_bias": true, "n_group": 2, "topk_group": 1,
      "partial_rotary_factor": 0.5, "moe_shared_expert_intermediate_size": 24,
      "rope_scaling": {"type": "linear", "factor": 2.0})");
  EXPECT_TRUE(set.mlp_bias && set.output_bias && set.attention_bias && set.qk_norm);
  EXPECT_TRUE(set.norm_head && set.sigmoid_router && set.router_expert_bias);
  EXPECT_EQ(set.partial_rotary_factor, 0.5f);
  EXPECT_EQ(set.shared_expert_intermediate_size, 24);
  EXPECT_EQ(set.rope_type, "linear");
  EXPECT_EQ(
      Args(kBailing, R"("rotary_dim": 4, "partial_rotary_factor": 0.25)").partial_rotary_factor,
      0.5f);  // rotary_dim first
  EXPECT_EQ(Args(kBailing, R"("moe_router_enable_shared_expert": false)").n_shared_experts, 0);
}

TEST(BailingMoeTest, WhatIsMissingOrInconsistentIsNamed) {
  EXPECT_EQ(
      Refusal(R"("model_type": "bailing_moe", "hidden_size": 32, "num_hidden_layers": 2)", ""),
      "[ModelArgs] config.json lacks \"intermediate_size\".");
  EXPECT_EQ(Refusal(kBailing, R"("rotary_dim": 3)"),
            "[ModelArgs] config.json's rotary_dim (or head_dim * partial_rotary_factor) gives 3 "
            "rotated features of head_dim 8 (an even number, at most head_dim, wanted).");
  EXPECT_EQ(Refusal(kBailing, R"("num_experts_per_tok": 5)"),
            "[ModelArgs] config.json's num_experts_per_tok (5) must be from 1 to num_experts "
            "(4), moe_intermediate_size positive.");
  try {
    Args(kBailing, R"("score_function": "tanh")");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_EQ(std::string(e.what()),
              "[ModelArgs] score_function \"tanh\" is not built by ferry::lm (softmax and "
              "sigmoid are).");
  }
}

// mlx-lm's sanitize: lm_head's columns normalized (norm_head), the router renamed, the
// experts stacked; lm_head dropped where the embeddings are tied.
TEST(BailingMoeTest, SanitizeIsMlxLms) {
  std::unique_ptr<Model> model = make_model(Args(kBailing, R"("norm_head": true)"));
  const std::string mlp = "model.layers.1.mlp.";
  const Array head = reshape(arange(1, 1 + 50 * 32, float32), {50, 32});
  nn::Parameters weights = {{"lm_head.weight", head}, {mlp + "gate.weight", zeros({4, 32})}};
  for (int e = 0; e < 4; ++e) {
    weights.emplace_back(mlp + "experts." + std::to_string(e) + ".down_proj.weight",
                         zeros({32, 16}));
  }
  const nn::Parameters sanitized = model->sanitize(weights);
  std::unordered_map<std::string, Array> got(sanitized.begin(), sanitized.end());
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(got.count(mlp + "gate.gate_proj.weight"));
  EXPECT_EQ(got.at(mlp + "switch_mlp.down_proj.weight").shape(), (Shape{4, 32, 16}));
  ExpectAllClose(got.at("lm_head.weight"),
                 head / (sqrt(sum(square(head), 0, /*keepdims=*/true)) + 1e-7f), 1e-6, 0,
                 "lm_head");
  std::unique_ptr<Model> tied = make_model(Args(kBailing, R"("tie_word_embeddings": true)"));
  EXPECT_TRUE(tied->sanitize({{"lm_head.weight", head}}).empty());
  EXPECT_EQ(model->own_quantization(mlp + "gate.gate_proj"), std::make_pair(64, 8));
  EXPECT_EQ(model->own_quantization(mlp + "switch_mlp.up_proj"), std::nullopt);
}

}  // namespace
}  // namespace ferry::lm
