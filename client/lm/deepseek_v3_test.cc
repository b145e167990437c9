// DeepSeek V3's config.json as mlx-lm reads it, its router on a hand-worked case, and its
// sanitize (models_mlx_test.cc holds its numbers against mlx-lm's).

#include "client/lm/deepseek_v3.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>

#include "client/error.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::ExpectAllClose;
using ::ferry::testing::Failure;

constexpr char kTiny[] = R"("model_type": "deepseek_v3", "vocab_size": 50, "hidden_size": 32,
    "intermediate_size": 64, "moe_intermediate_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 2, "kv_lora_rank": 32, "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 16, "v_head_dim": 16, "n_routed_experts": 4, "n_group": 2,
    "num_experts_per_tok": 2, "first_k_dense_replace": 1)";

ModelArgs Args(const std::string& fields) {
  return ModelArgs::from_json(std::string("{") + kTiny + (fields.empty() ? "" : ", ") + fields +
                              "}");
}

TEST(DeepseekV3Test, ConfigHasMlxLmsDefaults) {
  const ModelArgs v3 = ModelArgs::from_json(R"({"model_type": "deepseek_v3"})");
  EXPECT_EQ(v3.hidden_size, 4096);
  EXPECT_EQ(v3.q_lora_rank, 1536);
  EXPECT_EQ(v3.kv_lora_rank, 512);
  EXPECT_EQ(v3.head_dim, 128 + 64);
  EXPECT_EQ(v3.num_experts, 0);  // n_routed_experts null: every layer dense
  EXPECT_TRUE(v3.norm_topk_prob);
  EXPECT_TRUE(v3.rope_traditional);
  EXPECT_FALSE(v3.tie_word_embeddings);

  // Kimi K2 is mlx-lm's deepseek_v3; a null q_lora_rank (Moonlight's) is one q_proj; the
  // yarn of DeepSeek's configs, under either name.
  const ModelArgs kimi = Args(R"("q_lora_rank": null, "routed_scaling_factor": 2.827,
      "rope_scaling": {"type": "deepseek_yarn", "factor": 32, "mscale_all_dim": 1.0})");
  EXPECT_EQ(kimi.q_lora_rank, 0);
  EXPECT_FLOAT_EQ(kimi.routed_scaling_factor, 2.827f);
  EXPECT_EQ(kimi.rope_type, "yarn");
  std::map<std::string, int64_t> shapes;
  for (const auto& [name, array] : make_model(kimi)->parameters()) shapes[name] = array.size();
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_proj.weight"), 32 * 2 * (16 + 8));
  EXPECT_EQ(shapes.count("model.layers.0.self_attn.q_a_proj.weight"), 0u);
  EXPECT_EQ(shapes.at("model.layers.1.mlp.switch_mlp.up_proj.weight"), 4 * 32 * 32);
  EXPECT_EQ(shapes.count("model.layers.0.mlp.switch_mlp.up_proj.weight"), 0u);  // dense
  ModelArgs renamed = Args("");
  renamed.model_type = "kimi_k2";
  EXPECT_NE(dynamic_cast<DeepseekV3*>(make_model(renamed).get()), nullptr);

  EXPECT_EQ(Failure([] { Args(R"("topk_method": "greedy")"); }).first, ErrorCode::kUnimplemented);
  EXPECT_EQ(Failure([] { Args(R"("n_group": 3)"); }).first, ErrorCode::kInvalidArgument);

  // V2 is yarn whatever rope_scaling's type says, and needs its factor; mlx-lm's default
  // topk_method "gready" ranks every expert.
  const ModelArgs v2 = ModelArgs::from_json(R"({"model_type": "deepseek_v2",
      "n_routed_experts": 4, "num_experts_per_tok": 2,
      "rope_scaling": {"type": "linear", "factor": 4, "mscale_all_dim": 0.707}})");
  EXPECT_EQ(v2.rope_type, "yarn");
  EXPECT_EQ(v2.topk_method, "gready");
  EXPECT_EQ(Failure([] { ModelArgs::from_json(R"({"model_type": "deepseek_v2"})"); }).first,
            ErrorCode::kInvalidArgument);
}

// Two groups of four: group 0 scores higher by its sigmoids, but the correction bias lifts
// group 1, whose experts 4 and 5 are taken, weighed by their sigmoids (0.75 and 0.5, not
// the biased scores), renormalized and times routed_scaling_factor 2.5.
TEST(DeepseekV3Test, TheBiasChoosesTheExpertsButDoesNotWeighThem) {
  const Array gates =
      reshape(from_host<float>({2, 2, 0, 0, std::log(3.0f), 0, 0, 0}, {8}), {1, 1, 8});
  const Array bias = from_host<float>({0, 0, 0, 0, 0.4f, 0.4f, 0, 0}, {8});
  auto [indices, weights] = group_expert_select(gates, bias, 2, 2, 1, 2.5f, true);
  std::vector<uint32_t> picked = astype(indices, uint32).to_vector<uint32_t>();
  std::vector<float> w = weights.to_vector<float>();
  if (picked[0] > picked[1]) {
    std::swap(picked[0], picked[1]);
    std::swap(w[0], w[1]);
  }
  EXPECT_EQ(picked, (std::vector<uint32_t>{4, 5}));
  EXPECT_NEAR(w[0], 1.5f, 1e-6);
  EXPECT_NEAR(w[1], 1.0f, 1e-6);
  // Without the bias, group 0's experts 0 and 1, half each.
  std::tie(indices, weights) = group_expert_select(gates, zeros({8}), 2, 2, 1, 2.5f, true);
  picked = astype(indices, uint32).to_vector<uint32_t>();
  std::sort(picked.begin(), picked.end());
  EXPECT_EQ(picked, (std::vector<uint32_t>{0, 1}));
  ExpectAllClose(weights, full({1, 1, 2}, 1.25), 1e-6, 1e-6, "unbiased");
}

// Each layer's kv_b_proj becomes embed_q (heads, kv_lora_rank, nope) and unembed_out
// (heads, v, kv_lora_rank); the multi-token prediction layer and rotary tables go; FP8
// weights are named.
TEST(DeepseekV3Test, SanitizeSplitsKvBProjAndDropsTheMtpLayer) {
  const ModelArgs args = Args("");
  std::unique_ptr<Model> model = make_model(args);
  // Head h's rows: 16 key rows valued 10h + 1, then 16 value rows valued 10h + 2.
  std::vector<float> kv_b;
  for (int h = 0; h < 2; ++h) {
    for (int row = 0; row < 32; ++row) kv_b.insert(kv_b.end(), 32, 10.0f * h + (row < 16 ? 1 : 2));
  }
  nn::Parameters weights = {
      {"model.layers.1.self_attn.kv_b_proj.weight", from_host(kv_b, {64, 32})},
      {"model.layers.61.enorm.weight", zeros({32})},
      {"model.layers.0.self_attn.rotary_emb.inv_freq", zeros({4})}};
  std::map<std::string, Array> out;
  for (auto& [name, array] : model->sanitize(weights)) out.emplace(name, array);
  ASSERT_EQ(out.size(), 2u);
  const Array embed_q = out.at("model.layers.1.self_attn.embed_q.weight");
  const Array unembed_out = out.at("model.layers.1.self_attn.unembed_out.weight");
  EXPECT_EQ(embed_q.shape(), (Shape{2, 32, 16}));
  EXPECT_EQ(unembed_out.shape(), (Shape{2, 16, 32}));
  ExpectAllClose(embed_q, reshape(from_host<float>({1, 11}, {2}), {2, 1, 1}) * ones({2, 32, 16}), 0,
                 0, "embed_q");
  ExpectAllClose(unembed_out,
                 reshape(from_host<float>({2, 12}, {2}), {2, 1, 1}) * ones({2, 16, 32}), 0, 0,
                 "unembed_out");

  const auto fp8 = Failure([&] {
    model->sanitize({{"model.layers.0.mlp.down_proj.weight_scale_inv", zeros({1, 1})}});
  });
  EXPECT_EQ(fp8.first, ErrorCode::kUnimplemented);
  EXPECT_NE(fp8.second.find("weight_scale_inv"), std::string::npos) << fp8.second;
}

}  // namespace
}  // namespace ferry::lm
