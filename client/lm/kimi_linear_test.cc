// Kimi Linear as mlx-lm 0.32.2 builds it (testdata/lm_kimi_linear_mlx.py writes the models
// and what mlx-lm computes; arrays_models_mlx_test.cc holds their logits, through the caches
// too, greedy runs and batches): its config read as mlx-lm reads it, what is missing or
// inconsistent named, Hugging Face's layout sanitized as mlx-lm's sanitize does, the caches
// it makes and the router's 8 bits.

#include "client/lm/kimi_linear.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

constexpr char kSizes[] = R"("vocab_size": 96, "hidden_size": 32, "num_hidden_layers": 4,
    "num_attention_heads": 4, "num_key_value_heads": 4, "intermediate_size": 48,
    "head_dim": 12, "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "model_max_length": 4096,
    "num_experts": 8, "moe_intermediate_size": 16, "kv_lora_rank": 16,
    "qk_rope_head_dim": 4)";
constexpr char kLinear[] = R"("linear_attn_config": {"kda_layers": [1, 2, 4],
    "num_heads": 2, "head_dim": 16})";

ModelArgs Config(const std::string& fields) {
  return ModelArgs::from_json(R"({"model_type": "kimi_linear", )" + fields + "}");
}

std::string Refusal(const std::function<void()>& read,
                    ErrorCode code = ErrorCode::kInvalidArgument) {
  try {
    read();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    return e.what();
  }
  return "no error";
}

TEST(KimiLinearArgsTest, ReadsAsMlxLm) {
  const ModelArgs args = Config(std::string(kSizes) + ", " + kLinear);
  EXPECT_EQ(args.qk_nope_head_dim, 12);  // head_dim's, as v_head_dim
  EXPECT_EQ(args.v_head_dim, 12);
  EXPECT_EQ(args.qk_rope_head_dim, 4);
  EXPECT_EQ(args.q_lora_rank, 0);
  EXPECT_FALSE(args.rope);  // the latent attention rotates nothing
  EXPECT_EQ(args.max_position_embeddings, 4096);
  EXPECT_EQ(args.linear_num_key_heads, 2);
  EXPECT_EQ(args.linear_key_head_dim, 16);
  EXPECT_EQ(args.linear_conv_kernel_dim, 4);
  EXPECT_EQ(args.full_attn_idxs, std::vector<int>{2});
  EXPECT_EQ(args.num_experts_per_tok, 1);  // mlx-lm's defaults
  EXPECT_EQ(args.n_shared_experts, 0);
  EXPECT_TRUE(args.sigmoid_router);
  EXPECT_TRUE(args.norm_topk_prob);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(args.n_group, 1);
  EXPECT_TRUE(is_kda_layer(args, 0));
  EXPECT_FALSE(is_kda_layer(args, 2));

  const ModelArgs routed = Config(std::string(kSizes) + ", " + kLinear + R"(,
      "num_experts_per_token": 2, "num_shared_experts": 1, "num_expert_group": 2,
      "topk_group": 1, "moe_router_activation_func": "softmax", "moe_renormalize": false,
      "routed_scaling_factor": 2.5, "first_k_dense_replace": 1, "moe_layer_freq": 2)");
  EXPECT_EQ(routed.num_experts_per_tok, 2);
  EXPECT_EQ(routed.n_shared_experts, 1);
  EXPECT_EQ(routed.n_group, 2);
  EXPECT_FALSE(routed.sigmoid_router);
  EXPECT_FALSE(routed.norm_topk_prob);
  EXPECT_EQ(routed.routed_scaling_factor, 2.5f);
  EXPECT_EQ(routed.first_k_dense_replace, 1);
  EXPECT_EQ(routed.moe_layer_freq, 2);
}

TEST(KimiLinearArgsTest, RefusesWhatMlxLmCannotRun) {
  EXPECT_EQ(Refusal([] { Config(kSizes); }),
            "[ModelArgs] config.json lacks the object \"linear_attn_config\".");
  EXPECT_EQ(Refusal([] {
              Config(std::string(kSizes) + R"(, "linear_attn_config": {"num_heads": 2,
                  "head_dim": 16})");
            }),
            "[ModelArgs] config.json lacks \"kda_layers\".");
  EXPECT_EQ(Refusal([] {
              Config(std::string(kSizes) + R"(, "linear_attn_config": {"kda_layers": [1, 5],
                  "num_heads": 2, "head_dim": 16})");
            }),
            "[ModelArgs] linear_attn_config's kda_layers holds 5: layers are counted from 1 to "
            "num_hidden_layers (4).");
  for (const char* kda : {"[]", "[1, 2, 3, 4]"}) {
    EXPECT_NE(Refusal([&] {
                Config(std::string(kSizes) + R"(, "linear_attn_config": {"kda_layers": )" + kda +
                       R"(, "num_heads": 2, "head_dim": 16})");
              }).find("must name some layers but not all"),
              std::string::npos)
        << kda;
  }
  EXPECT_NE(Refusal([] {
              Config(std::string(kSizes) + R"(, "linear_attn_config": {"kda_layers": [1],
                  "num_heads": 2, "head_dim": 16, "short_conv_kernel_size": 1})");
            }).find("short_conv_kernel_size 2 or more"),
            std::string::npos);
  EXPECT_NE(Refusal([] {
              Config(std::string(kSizes) + ", " + kLinear + R"(, "qk_rope_head_dim": null)");
            }).find("qk_rope_head_dim"),
            std::string::npos);
  EXPECT_NE(Refusal([] {
              Config(std::string(kSizes) + ", " + kLinear + R"(, "num_experts_per_token": 9)");
            }).find("num_experts_per_tok (9)"),
            std::string::npos);
  EXPECT_EQ(Refusal(
                [] {
                  Config(std::string(kSizes) + ", " + kLinear +
                         R"(, "moe_router_activation_func": "relu")");
                },
                ErrorCode::kUnimplemented),
            "[ModelArgs] moe_router_activation_func \"relu\" is not built by ferry::lm (sigmoid "
            "and softmax are, as mlx-lm's).");
}

// The Hugging Face checkpoint's names and shapes as mlx-lm's sanitize leaves them.
TEST(KimiLinearTest, SanitizeRewritesHuggingFacesLayout) {
  const ModelArgs args = ModelArgs::from_directory(TestData("kimi_linear"));
  KimiLinear model(args);
  auto [weights, metadata] = load_safetensors(TestData("kimi_linear/model.safetensors"));
  nn::Parameters parameters(weights.begin(), weights.end());
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : model.sanitize(std::move(parameters))) {
    shapes[name] = array.shape();
  }
  EXPECT_EQ(shapes.count("model.mtp.0.norm.weight"), 0u);
  EXPECT_EQ(shapes.count("model.layers.1.block_sparse_moe.gate.weight"), 0u);
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate.weight"), (Shape{8, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.e_score_correction_bias"), (Shape{8}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.switch_mlp.gate_proj.weight"), (Shape{8, 16, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.switch_mlp.down_proj.weight"), (Shape{8, 32, 16}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.shared_experts.up_proj.weight"), (Shape{16, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate_proj.weight"), (Shape{48, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_conv.conv.weight"), (Shape{32, 4, 1}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.dt_bias"), (Shape{32}));
  EXPECT_EQ(shapes.at("model.layers.2.self_attn.embed_q.weight"), (Shape{4, 16, 8}));
  EXPECT_EQ(shapes.at("model.layers.2.self_attn.unembed_out.weight"), (Shape{4, 8, 16}));
  EXPECT_EQ(shapes.count("model.layers.2.self_attn.kv_b_proj.weight"), 0u);
  for (const auto& [name, shape] : shapes) {
    EXPECT_EQ(name.find("conv1d"), std::string::npos) << name;
    EXPECT_EQ(name.find(".experts."), std::string::npos) << name;
  }
  EXPECT_FALSE(model.casts("model.layers.0.self_attn.A_log"));
  EXPECT_FALSE(model.casts("model.layers.0.self_attn.dt_bias"));
  EXPECT_FALSE(model.casts("model.layers.1.mlp.e_score_correction_bias"));
  EXPECT_TRUE(model.casts("model.layers.1.mlp.gate.weight"));
  EXPECT_EQ(model.own_quantization("model.layers.1.mlp.gate"), kRouterQuantization);
  EXPECT_EQ(model.own_quantization("model.layers.1.mlp.switch_mlp.gate_proj"), std::nullopt);
}

TEST(KimiLinearTest, KdaLayersKeepFourArraysTheOthersKeys) {
  const std::unique_ptr<Model> model = load_model(TestData("kimi_linear_tied"));
  const std::vector<KVCache> cache = model->make_cache();
  ASSERT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache[0].is_arrays());
  EXPECT_TRUE(cache[1].is_arrays());
  EXPECT_TRUE(cache[2].is_arrays());
  EXPECT_FALSE(model->reads_quantized_cache());
}

}  // namespace
}  // namespace ferry::lm
