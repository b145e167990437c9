// GLM-4.5's config.json as mlx-lm reads it (models_mlx_test.cc holds its numbers against
// mlx-lm's): its fields required, null expert counts meaning none, what it does not build
// refused by name.

#include "client/lm/glm4_moe.h"

#include <map>
#include <string>

#include "client/error.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

constexpr char kTiny[] = R"("model_type": "glm4_moe", "vocab_size": 50, "hidden_size": 32,
    "intermediate_size": 64, "max_position_embeddings": 4096, "moe_intermediate_size": 16,
    "norm_topk_prob": true, "num_attention_heads": 4, "n_group": 2, "head_dim": 8,
    "topk_group": 1, "n_shared_experts": 1, "n_routed_experts": 4,
    "routed_scaling_factor": 1.5, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
    "num_hidden_layers": 2, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
    "rope_theta": 10000, "rope_scaling": null, "use_qk_norm": true,
    "tie_word_embeddings": true, "attention_bias": false, "partial_rotary_factor": 0.5)";

ModelArgs Args(const std::string& fields) {
  return ModelArgs::from_json(std::string("{") + kTiny + (fields.empty() ? "" : ", ") + fields +
                              "}");
}

std::string Refusal(const std::string& fields) {
  try {
    Args(fields);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Glm4MoeTest, ConfigIsMlxLms) {
  const ModelArgs args = Args("");
  EXPECT_TRUE(args.qk_norm);
  EXPECT_FALSE(args.tie_word_embeddings);  // mlx-lm's glm4_moe has an lm_head of its own
  EXPECT_EQ(args.rope_type, "default");
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : make_model(args)->parameters()) shapes[name] = array.shape();
  EXPECT_EQ(shapes.at("lm_head.weight"), (Shape{50, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.up_proj.weight"), (Shape{64, 32}));  // dense
  EXPECT_EQ(shapes.at("model.layers.1.mlp.switch_mlp.up_proj.weight"), (Shape{4, 16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.shared_experts.up_proj.weight"), (Shape{16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate.e_score_correction_bias"), (Shape{4}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_norm.weight"), (Shape{8}));

  // A null n_shared_experts is none; null n_routed_experts, every layer dense.
  EXPECT_EQ(Args(R"("n_shared_experts": null)").n_shared_experts, 0);
  const ModelArgs dense = Args(R"("n_routed_experts": null)");
  EXPECT_EQ(dense.num_experts, 0);
  for (const auto& [name, array] : make_model(dense)->parameters()) {
    EXPECT_EQ(name.find("switch_mlp"), std::string::npos) << name;
  }
}

TEST(Glm4MoeTest, WhatItDoesNotBuildIsRefusedByName) {
  EXPECT_EQ(Refusal(R"("topk_method": "greedy")"),
            "[ModelArgs] glm4_moe's topk_method and scoring_func must be noaux_tc and sigmoid, "
            "as mlx-lm's.");
  EXPECT_NE(Refusal(R"("n_group": 3)").find("n_group (3)"), std::string::npos);
  EXPECT_NE(Refusal(R"("partial_rotary_factor": 0.2)").find("gives 1 rotated"), std::string::npos);
}

}  // namespace
}  // namespace ferry::lm
