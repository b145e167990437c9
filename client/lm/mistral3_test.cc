// Ministral 3, mistral3 and Mistral 4 as mlx-lm 0.32.2 builds them
// (testdata/lm_mistral3_mlx.py writes the models and what mlx-lm computes; models_mlx_test.cc
// holds their logits, a token at a time too, and greedy runs): their configs read as mlx-lm
// reads them, what is missing or inconsistent named, the layers that slide, Llama 4's
// scaling against its formula, and what sanitize keeps, merges and refuses.

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/kv_cache.h"
#include "client/lm/llama.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/mistral4.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;

constexpr char kMinistral3[] = R"("hidden_size": 32, "num_hidden_layers": 3,
    "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-5, "vocab_size": 50)";
constexpr char kScaling[] = R"("rope_parameters": {"rope_type": "yarn", "factor": 16.0,
    "original_max_position_embeddings": 16384, "llama_4_scaling_beta": 0.1,
    "rope_theta": 1000000.0, "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0,
    "mscale_all_dim": 1.0})";

constexpr char kMistral4[] = R"("vocab_size": 50, "hidden_size": 32, "intermediate_size": 64,
    "moe_intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 4, "n_shared_experts": 1, "n_routed_experts": 8,
    "routed_scaling_factor": 1.0, "kv_lora_rank": 16, "q_lora_rank": null,
    "norm_topk_prob": true, "max_position_embeddings": 64, "rms_norm_eps": 1e-6,
    "topk_group": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1, "n_group": 1,
    "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8)";

ModelArgs Config(const std::string& type, const std::string& fields) {
  return ModelArgs::from_json(R"({"model_type": ")" + type + R"(", )" + fields + "}");
}

std::pair<ErrorCode, std::string> Failure(const std::function<void()>& run) {
  try {
    run();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {ErrorCode::kOk, "no error"};
}

std::string Refusal(const std::function<void()>& read) {
  const auto [code, message] = Failure(read);
  EXPECT_EQ(code, ErrorCode::kInvalidArgument) << message;
  return message;
}

TEST(Mistral3ArgsTest, Ministral3ReadsLlama4ScalingFromRopeParameters) {
  const ModelArgs args = Config("ministral3", std::string(kMinistral3) + ", " + kScaling + R"(,
          "sliding_window": 4, "layer_types": ["sliding_attention", "full_attention",
          "sliding_attention"])");
  EXPECT_TRUE(args.llama_4_scaling);
  EXPECT_TRUE(args.attn_temperature_tuning);
  EXPECT_EQ(args.attn_scale, 0.1f);
  EXPECT_EQ(args.floor_scale, 16384.0f);
  EXPECT_EQ(args.rope_theta, 1e6f);
  EXPECT_EQ(args.rope_type, "yarn");
  EXPECT_FALSE(args.rope_traditional);
  EXPECT_EQ(args.head_dim, 8);  // hidden_size / num_attention_heads when omitted
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(args.sliding_window, 4);
  // Every layer full when layer_types is omitted; then no window is needed.
  const ModelArgs full = Config("ministral3", std::string(kMinistral3) + ", " + kScaling);
  EXPECT_EQ(full.layer_types, std::vector<std::string>(3, "full_attention"));
}

TEST(Mistral3ArgsTest, Ministral3RefusesWhatMlxLmCannotBuild) {
  EXPECT_EQ(Refusal([] { Config("ministral3", kMinistral3); }),
            "[ModelArgs] config.json lacks \"rope_parameters\" (ministral3's RoPE and Llama 4's "
            "attention scaling).");
  EXPECT_EQ(Refusal([] {
              Config("ministral3", std::string(kMinistral3) +
                                       R"(, "rope_parameters": {"rope_theta": 10000.0,
                                       "original_max_position_embeddings": 8})");
            }),
            "[ModelArgs] config.json's rope_parameters lacks the number "
            "\"llama_4_scaling_beta\" (Llama 4's attention scaling).");
  EXPECT_EQ(Refusal([] {
              Config("ministral3", std::string(kMinistral3) + ", " + kScaling +
                                       R"(, "layer_types": ["sliding_attention",
                                       "sliding_attention", "sliding_attention"],
                                       "sliding_window": 4)");
            }),
            "[ModelArgs] config.json's layer_types name no full_attention layer (ministral3 "
            "needs one).");
  EXPECT_EQ(Refusal([] {
              Config("ministral3", std::string(kMinistral3) + ", " + kScaling +
                                       R"(, "layer_types": ["sliding_attention",
                                       "full_attention", "full_attention"])");
            }),
            "[ModelArgs] config.json lacks \"sliding_window\".");
}

TEST(Mistral3ArgsTest, Mistral3ReadsItsTextConfig) {
  const ModelArgs args = ModelArgs::from_json(
      std::string(R"({"model_type": "mistral3", "vision_config": {"hidden_size": 16},
          "quantization": {"group_size": 32, "bits": 4}, "eos_token_id": 2,
          "text_config": {"model_type": "ministral3", )") +
      kMinistral3 + ", " + kScaling + "}}");
  EXPECT_EQ(args.model_type, "mistral3");
  EXPECT_EQ(args.text_model_type, "ministral3");
  EXPECT_TRUE(args.llama_4_scaling);
  EXPECT_FALSE(args.tie_word_embeddings);  // mistral3's default, not ministral3's
  ASSERT_TRUE(args.quantization.has_value());
  EXPECT_EQ(args.quantization->group_size, 32);
  EXPECT_EQ(args.eos_token_ids, std::vector<int32_t>{2});
  // Any other text model is mlx-lm's llama.
  const ModelArgs mistral = ModelArgs::from_json(
      std::string(R"({"model_type": "mistral3", "text_config": {"model_type": "mistral", )") +
      kMinistral3 + R"(, "tie_word_embeddings": true}})");
  EXPECT_EQ(mistral.text_model_type, "llama");
  EXPECT_FALSE(mistral.llama_4_scaling);
  EXPECT_TRUE(mistral.tie_word_embeddings);
  // Mistral Small 4: the wrapper over mistral4, whose latent no quantized cache holds.
  const ModelArgs small4 = ModelArgs::from_json(
      std::string(R"({"model_type": "mistral3", "text_config": {"model_type": "mistral4", )") +
      kMistral4 + ", " + kScaling + "}}");
  EXPECT_EQ(small4.text_model_type, "mistral4");
  std::unique_ptr<Model> model = make_model(small4);
  EXPECT_FALSE(model->reads_quantized_cache());
  EXPECT_EQ((*model)(zeros({1, 3}, int32)).shape(), (Shape{1, 3, 50}));
  EXPECT_EQ(Refusal([] { Config("mistral3", R"("vision_config": {})"); }),
            "[ModelArgs] config.json lacks \"text_config\" (mistral3's text model).");
}

TEST(Mistral3ArgsTest, Mistral4ReadsMlxLmsFields) {
  const ModelArgs args = Config("mistral4", std::string(kMistral4) + ", " + kScaling);
  EXPECT_EQ(args.q_lora_rank, 0);  // null: one q_proj
  EXPECT_EQ(args.num_experts, 8);
  EXPECT_EQ(args.head_dim, 16);
  EXPECT_EQ(args.num_key_value_heads, 4);
  EXPECT_TRUE(args.rope_traditional);  // rope_interleave's default
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_TRUE(args.llama_4_scaling);
  EXPECT_EQ(args.rope_theta, 1e6f);
  EXPECT_FALSE(
      Config("mistral4", std::string(kMistral4) + ", " + kScaling + R"(, "rope_interleave": false)")
          .rope_traditional);
  EXPECT_EQ(Refusal([] { Config("mistral4", kMistral4); }),
            "[ModelArgs] config.json lacks \"rope_parameters\" (mistral4's RoPE and Llama 4's "
            "attention scaling).");
  EXPECT_EQ(Refusal([] { Config("mistral4", std::string(kScaling) + R"(, "vocab_size": 50)"); }),
            "[ModelArgs] config.json lacks \"hidden_size\".");
  EXPECT_EQ(Refusal([] {
              std::string fields = kMistral4;
              fields.replace(fields.find(R"("n_group": 1)"), 12, R"("n_group": 3)");
              Config("mistral4", fields + ", " + kScaling);
            }),
            "[ModelArgs] config.json's n_routed_experts (8) must be n_group (3) groups of 2 or "
            "more, topk_group (1) from 1 to n_group, num_experts_per_tok (2) from 1 to "
            "n_routed_experts, moe_intermediate_size positive.");
}

// ministral3's sliding layers ring their window in make_prompt_cache; mistral3's wrapper,
// which has no make_cache in mlx-lm, keeps plain caches.
TEST(Mistral3Test, SlidingLayersAndTheirCaches) {
  std::unique_ptr<Model> ministral3 = load_model(TestData("ministral3"));
  const std::vector<std::optional<int64_t>> windows = {6, std::nullopt, 6, std::nullopt};
  const std::vector<KVCache> cache = make_prompt_cache(*ministral3);
  for (int layer = 0; layer < 4; ++layer) {
    EXPECT_EQ(ministral3->sliding_window(layer), windows[layer]) << "layer " << layer;
    EXPECT_EQ(cache[layer].max_size(), windows[layer]) << "layer " << layer;
  }
  std::unique_ptr<Model> wrapper = load_model(TestData("mistral3"));
  for (const KVCache& c : make_prompt_cache(*wrapper)) EXPECT_FALSE(c.max_size().has_value());
}

// 1 + beta * log(1 + floor(p / original)) at positions p = offset + i, each row its own.
TEST(Mistral3Test, Llama4ScalingIsItsFormula) {
  ModelArgs args;
  args.attn_scale = 0.5f;
  args.floor_scale = 4.0f;
  args.llama_4_scaling = true;
  const TemperatureTuning tuning(args);
  const Array queries = ones({2, 1, 6, 1});
  const Array at = from_host<int32_t>({0, 7}, {2});
  std::vector<float> want;
  for (int row : {0, 7}) {
    for (int i = 0; i < 6; ++i) {
      want.push_back(1.0f + 0.5f * std::log(1.0f + std::floor((row + i) / 4.0f)));
    }
  }
  ExpectAllClose(tuning(queries, at), from_host(want, {2, 1, 6, 1}), 1e-6, 1e-6, "scaled");
  // Without a cache, from position 0.
  ExpectAllClose(tuning(slice(queries, {0, 0, 0, 0}, {1, 1, 6, 1}), std::nullopt),
                 from_host(std::vector<float>(want.begin(), want.begin() + 6), {1, 1, 6, 1}), 1e-6,
                 1e-6, "from 0");
}

TEST(Mistral3Test, Ministral3SanitizeMultipliesScalesIn) {
  const ModelArgs args = Config("ministral3", std::string(kMinistral3) + ", " + kScaling);
  std::unique_ptr<Model> model = make_model(args);
  const Array w = from_host<float>({1, 2, 3, 4}, {2, 2});
  std::map<std::string, Array> out;
  for (auto& [name, array] : model->sanitize(
           {{"model.layers.0.mlp.up_proj.weight", w},
            {"model.layers.0.mlp.up_proj.weight_scale_inv", from_host<float>({0.5f}, {})},
            {"model.layers.0.mlp.up_proj.activation_scale", ones({})},
            {"lm_head.weight", w}})) {
    out.emplace(name, array);
  }
  ASSERT_EQ(out.size(), 1u);  // the scales used, the tied head dropped
  ExpectAllClose(out.at("model.layers.0.mlp.up_proj.weight"), w * 0.5f, 0, 0, "scaled weight");
  const auto [code, message] = Failure([&] {
    model->sanitize({{"model.norm.weight_scale_inv", ones({})}});
  });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(message,
            "[load_model] the checkpoint has model.norm.weight_scale_inv but lacks "
            "model.norm.weight.");
}

// Hugging Face's fused experts are split as mlx-lm splits them; FP8 and compressed int4
// checkpoints are refused by the weight's name.
TEST(Mistral3Test, Mistral4SanitizeSplitsFusedExpertsAndRefusesFp8) {
  const ModelArgs args = Config("mistral4", std::string(kMistral4) + ", " + kScaling);
  std::unique_ptr<Model> model = make_model(args);
  const Array gate_up = reshape(arange(0, 8 * 32 * 32, float32), {8, 32, 32});
  std::map<std::string, Array> out;
  for (auto& [name, array] :
       model->sanitize({{"model.layers.1.mlp.experts.gate_up_proj", gate_up},
                        {"model.layers.1.mlp.experts.down_proj", zeros({8, 32, 16})},
                        {"model.layers.1.self_attn.kv_b_proj.weight", zeros({4 * 16, 16})}})) {
    out.emplace(name, array);
  }
  ASSERT_EQ(out.size(), 5u);
  ExpectAllClose(out.at("model.layers.1.mlp.switch_mlp.gate_proj.weight"),
                 slice(gate_up, {0, 0, 0}, {8, 16, 32}), 0, 0, "gate_proj");
  ExpectAllClose(out.at("model.layers.1.mlp.switch_mlp.up_proj.weight"),
                 slice(gate_up, {0, 16, 0}, {8, 32, 32}), 0, 0, "up_proj");
  EXPECT_EQ(out.at("model.layers.1.mlp.switch_mlp.down_proj.weight").shape(), (Shape{8, 32, 16}));
  EXPECT_EQ(out.at("model.layers.1.self_attn.embed_q.weight").shape(), (Shape{4, 16, 8}));
  EXPECT_EQ(out.at("model.layers.1.self_attn.unembed_out.weight").shape(), (Shape{4, 8, 16}));
  const auto [code, message] = Failure([&] {
    model->sanitize({{"model.layers.1.mlp.experts.down_proj_scale_inv", ones({8, 1, 1})}});
  });
  EXPECT_EQ(code, ErrorCode::kUnimplemented);
  EXPECT_EQ(message,
            "[load_model] model.layers.1.mlp.experts.down_proj_scale_inv: Mistral 4's FP8 and "
            "compressed int4 checkpoints are not read by ferry::lm (mlx-lm's conversions of "
            "them are).");
}

// mlx-lm's mistral4_expert_select: softmax scores, the best group's experts only, their
// weights normalized (one expert's to 1 too) and scaled.
TEST(Mistral3Test, Mistral4ExpertSelectIsMlxLms) {
  // Two groups of two: group 0 = {0, 1}, group 1 = {2, 3}.
  const Array gates = from_host<float>({0.0f, 1.0f, 2.5f, -1.0f}, {1, 4});
  const auto [indices, weights] = mistral4_expert_select(gates, 1, 2, 1, 2.0f, true);
  EXPECT_EQ(astype(indices, int32).to_vector<int32_t>(), std::vector<int32_t>{2});
  ExpectAllClose(weights, from_host<float>({2.0f}, {1, 1}), 1e-6, 1e-6, "one expert");
  // Group 1's two scores sum higher than group 0's: experts 2 and 3, though 1 beats 3.
  const auto [two, two_weights] = mistral4_expert_select(gates, 2, 2, 1, 1.0f, true);
  std::vector<int32_t> chosen = astype(two, int32).to_vector<int32_t>();
  std::sort(chosen.begin(), chosen.end());
  EXPECT_EQ(chosen, (std::vector<int32_t>{2, 3}));
  EXPECT_NEAR(sum(two_weights).item<float>(), 1.0f, 1e-6);
}

}  // namespace
}  // namespace ferry::lm
