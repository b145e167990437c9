// Nemotron-H as mlx-lm 0.32.2 builds it (testdata/lm_nemotron_h_mlx.py writes the models and
// what mlx-lm computes; arrays_models_mlx_test.cc and batch_generator_test.cc hold their
// logits, cached steps, greedy runs and batches): configs read as mlx-lm reads them (the
// pattern a string, a list or transformers' block names), what is missing or inconsistent
// named, sanitize's dropped, moved and stacked weights, the caches only the mixers and
// attention layers keep, and the parameters convert keeps in their dtype.

#include "client/lm/nemotron_h.h"

#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/error.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

// A Nemotron-H-8B-like config.json, its layers cut to six.
nlohmann::json Nemotron() {
  return nlohmann::json::parse(R"({"model_type": "nemotron_h", "vocab_size": 131072,
      "hidden_size": 4096, "intermediate_size": 21504, "max_position_embeddings": 8192,
      "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
      "attention_bias": false, "mamba_num_heads": 128, "mamba_head_dim": 64,
      "mamba_proj_bias": false, "ssm_state_size": 128, "conv_kernel": 4, "n_groups": 8,
      "mlp_bias": false, "layer_norm_epsilon": 1e-05, "use_bias": false,
      "use_conv_bias": true, "hybrid_override_pattern": "M-M*-M", "chunk_size": 128,
      "time_step_limit": [0.0, 1e30], "eos_token_id": 2})");
}

// Nemotron() with experts: the "E" layers and their router's fields.
nlohmann::json NemotronMoe() {
  nlohmann::json config = Nemotron();
  config.merge_patch(nlohmann::json::parse(R"({"hybrid_override_pattern": "ME*E",
      "n_routed_experts": 128, "num_experts_per_tok": 6, "moe_intermediate_size": 1856,
      "moe_shared_expert_intermediate_size": 3712, "n_shared_experts": 1, "n_group": 8,
      "topk_group": 4, "norm_topk_prob": true, "routed_scaling_factor": 2.5})"));
  return config;
}

// The error reading `config` with `edit` applied to it (a null value removes its key).
std::string Refusal(const nlohmann::json& edit, nlohmann::json config) {
  config.merge_patch(edit);
  try {
    ModelArgs::from_json(config.dump());
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

TEST(NemotronHArgsTest, ConfigsAreReadAsMlxLmReadsThem) {
  const ModelArgs args = ModelArgs::from_json(Nemotron().dump());
  EXPECT_EQ(args.layer_types, (std::vector<std::string>{"M", "-", "M", "*", "-", "M"}));
  EXPECT_EQ(args.num_hidden_layers, 6);
  EXPECT_EQ(args.mamba_n_heads, 128);
  EXPECT_EQ(args.mamba_d_head, 64);
  EXPECT_EQ(args.mamba_d_state, 128);
  EXPECT_EQ(args.mamba_n_groups, 8);
  EXPECT_TRUE(args.mamba_norm_per_group);
  EXPECT_TRUE(args.mamba_conv_bias);
  EXPECT_FALSE(args.rope);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(args.head_dim, 128);
  EXPECT_EQ(args.mamba_chunk_size, 256);  // mlx-lm's, not chunk_size
  EXPECT_FLOAT_EQ(args.rms_norm_eps, 1e-5f);
  EXPECT_EQ(args.num_experts, 0);
  EXPECT_EQ(args.eos_token_ids, std::vector<int32_t>{2});
  // A list of characters, transformers' block names, and no time_step_limit: [0, inf).
  nlohmann::json listed = Nemotron();
  listed.merge_patch({{"hybrid_override_pattern", {"M", "*"}},
                      {"time_step_limit", nullptr},
                      {"head_dim", nullptr}});
  const ModelArgs from_list = ModelArgs::from_json(listed.dump());
  EXPECT_EQ(from_list.layer_types, (std::vector<std::string>{"M", "*"}));
  EXPECT_EQ(from_list.head_dim, 4096 / 32);
  EXPECT_EQ(from_list.time_step_limit.first, 0.0f);
  EXPECT_TRUE(std::isinf(from_list.time_step_limit.second));
  nlohmann::json named = Nemotron();
  named.merge_patch(
      {{"hybrid_override_pattern", nullptr},
       {"layers_block_type", {"mamba", "mlp", "attention", "moe", "conv", "full_attention"}},
       {"n_routed_experts", 8},
       {"num_experts_per_tok", 2},
       {"moe_intermediate_size", 16},
       {"routed_scaling_factor", 1.0}});
  EXPECT_EQ(ModelArgs::from_json(named.dump()).layer_types,
            (std::vector<std::string>{"M", "-", "*", "E", "M", "*"}));

  const ModelArgs moe = ModelArgs::from_json(NemotronMoe().dump());
  EXPECT_EQ(moe.num_experts, 128);
  EXPECT_EQ(moe.num_experts_per_tok, 6);
  EXPECT_EQ(moe.moe_intermediate_size, 1856);
  EXPECT_EQ(moe.shared_expert_intermediate_size, 3712);
  EXPECT_EQ(moe.n_shared_experts, 1);
  EXPECT_EQ(moe.n_group, 8);
  EXPECT_EQ(moe.topk_group, 4);
  EXPECT_TRUE(moe.norm_topk_prob);
  EXPECT_FLOAT_EQ(moe.routed_scaling_factor, 2.5f);
  EXPECT_EQ(moe.moe_latent_size, 0);
}

TEST(NemotronHArgsTest, MissingAndInconsistentFieldsAreNamed) {
  const nlohmann::json dense = Nemotron(), moe = NemotronMoe();
  EXPECT_EQ(Refusal({{"use_bias", nullptr}}, dense), "[ModelArgs] config.json lacks \"use_bias\".");
  EXPECT_EQ(Refusal({{"ssm_state_size", nullptr}}, dense),
            "[ModelArgs] config.json lacks \"ssm_state_size\".");
  EXPECT_EQ(Refusal({{"hybrid_override_pattern", nullptr}}, dense),
            "[ModelArgs] config.json must have layers_block_type or hybrid_override_pattern to "
            "describe the layer stack.");
  EXPECT_EQ(Refusal({{"hybrid_override_pattern", "M*X"}}, dense),
            "[ModelArgs] config.json's hybrid_override_pattern holds \"X\", none of M (mamba), * "
            "(attention), - (MLP) and E (experts).");
  EXPECT_EQ(
      Refusal({{"hybrid_override_pattern", nullptr}, {"layer_types", {"mamba", "hybrid"}}}, dense),
      "[ModelArgs] config.json's layer_types holds \"hybrid\", none of attention, conv, "
      "full_attention, linear_attention, mamba, mlp and moe.");
  EXPECT_EQ(Refusal({{"n_groups", 3}}, dense),
            "[ModelArgs] config.json's mamba heads (128), head size (64), state size (128) and "
            "chunk size (256) must be positive, the heads a multiple of the groups (3).");
  // Without a mamba layer the mamba sizes are not checked; without experts theirs are not
  // needed.
  EXPECT_EQ(Refusal({{"n_groups", 3}, {"hybrid_override_pattern", "*-"}}, dense), "no error");
  EXPECT_EQ(Refusal({{"routed_scaling_factor", nullptr}}, moe),
            "[ModelArgs] config.json lacks \"routed_scaling_factor\".");
  EXPECT_EQ(Refusal({{"moe_shared_expert_intermediate_size", nullptr}}, moe),
            "[ModelArgs] config.json lacks \"moe_shared_expert_intermediate_size\".");
  EXPECT_EQ(Refusal({{"topk_group", 9}}, moe),
            "[ModelArgs] config.json's n_routed_experts (128) must be positive and a multiple "
            "of n_group (8; 2 or more in a group when there are groups), num_experts_per_tok "
            "(6) from 1 to n_routed_experts, topk_group (9) from 1 to n_group, the experts' "
            "sizes positive.");
}

// mlx-lm's sanitize: "mtp." dropped, conv weights (C, 1, K) to (C, K, 1), the experts stacked
// into switch_mlp's fc1 (up_proj) and fc2 (down_proj); mlx-lm's cast_predicate.
TEST(NemotronHTest, SanitizeDropsMovesAndStacksAsMlxLm) {
  const NemotronH model(ModelArgs::from_directory(TestData("nemotron_h_moe")));
  nn::Parameters weights = {{"mtp.layers.0.norm.weight", zeros({8})},
                            {"backbone.layers.0.mixer.conv1d.weight", zeros({48, 1, 4})}};
  for (int e = 0; e < 8; ++e) {
    weights.emplace_back("backbone.layers.1.mixer.experts." + std::to_string(e) + ".up_proj.weight",
                         zeros({16, 16}));
    weights.emplace_back(
        "backbone.layers.1.mixer.experts." + std::to_string(e) + ".down_proj.weight",
        zeros({16, 16}));
  }
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : model.sanitize(weights)) shapes[name] = array.shape();
  EXPECT_EQ(shapes, (std::map<std::string, Shape>{
                        {"backbone.layers.0.mixer.conv1d.weight", {48, 4, 1}},
                        {"backbone.layers.1.mixer.switch_mlp.fc1.weight", {8, 16, 16}},
                        {"backbone.layers.1.mixer.switch_mlp.fc2.weight", {8, 16, 16}}}));
  EXPECT_FALSE(model.casts("backbone.layers.1.mixer.gate.e_score_correction_bias"));
  EXPECT_FALSE(model.casts("backbone.layers.0.mixer.A_log"));
  EXPECT_TRUE(model.casts("backbone.layers.0.mixer.D"));
}

// Only the mamba ("M": arrays of 2) and attention ("*": keys and values) layers keep a cache;
// a cache of another length is refused by the model's name.
TEST(NemotronHTest, OnlyMixersAndAttentionKeepCaches) {
  std::unique_ptr<Model> model = load_model(TestData("nemotron_h_moe"));  // M E * M E -
  std::vector<KVCache> cache = model->make_cache();
  ASSERT_EQ(cache.size(), 3u);
  EXPECT_TRUE(cache[0].is_arrays());
  EXPECT_FALSE(cache[1].is_arrays());
  EXPECT_TRUE(cache[2].is_arrays());
  std::vector<KVCache> short_cache(cache.begin(), cache.begin() + 2);
  try {
    (*model)(zeros({1, 3}, int32), &short_cache);
    ADD_FAILURE() << "a cache of 2 layers was taken";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("NemotronH"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ferry::lm
