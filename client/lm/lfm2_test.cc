// LFM2 and LFM2-MoE against mlx-lm 0.32.2 on MLX 0.32.4 (testdata/lm_lfm2_mlx.py writes the
// checkpoints and what mlx-lm computed; a prompt's logits, through the caches in pieces, and
// greedy generation, stream_generate, batch_generate and a conversation's prompt cache are
// arrays_models_mlx_test's, continuous batching batch_generator_test's): the arrays caches
// their short convolutions keep, the checkpoints' layouts and bits, and config.json as mlx-lm
// reads it.

#include "client/lm/lfm2.h"

#include <cstdio>
#include <map>
#include <string>
#include <unordered_map>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/batch_generate.h"
#include "client/lm/batch_generator.h"
#include "client/lm/conv_weights.h"
#include "client/lm/generate.h"
#include "client/lm/lfm2_moe.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

using ::ferry::testing::ExpectAllClose;
using ::ferry::testing::Failure;

// The attention layers (2 and 4 of lfm2, as layer_types says) keep keys and values, the
// others an arrays cache of the conv's last conv_L_cache - 1 = 2 inputs, for any
// max_kv_size (mlx-lm's make_prompt_cache gives the model's own).
TEST(Lfm2CacheTest, ConvLayersKeepArraysCaches) {
  std::unique_ptr<Model> model = load_model(TestData("lfm2"));
  for (const std::vector<KVCache>& cache : {model->make_cache(), make_prompt_cache(*model, 64)}) {
    ASSERT_EQ(cache.size(), 5u);
    for (int i : {0, 1, 3}) EXPECT_TRUE(cache[i].is_arrays()) << i;
    for (int i : {2, 4}) {
      EXPECT_FALSE(cache[i].is_arrays()) << i;
      EXPECT_FALSE(cache[i].max_size().has_value()) << i;
    }
  }
  std::vector<KVCache> cache = model->make_cache();
  EXPECT_TRUE(cache[0].empty());
  (*model)(reshape(arange(0, 5, int32), {1, 5}), &cache);
  EXPECT_EQ(cache[0].offset(), 5);
  ASSERT_EQ(cache[0].state().size(), 1u);
  EXPECT_EQ(cache[0].state()[0].shape(), (Shape{1, 2, 32}));
  EXPECT_EQ(cache[0].nbytes(), 2 * 32 * 4);
  EXPECT_EQ(cache[2].offset(), 5);
  // The first attention layer's position and mask serve the others; the arrays caches
  // advance with them.
  (*model)(reshape(arange(5, 6, int32), {1, 1}), &cache);
  for (const KVCache& layer : cache) EXPECT_EQ(layer.offset(), 6);
}

// A short convolution refuses a cache of keys and values.
TEST(Lfm2CacheTest, AConvLayerRefusesAKeysAndValuesCache) {
  std::unique_ptr<Model> model = load_model(TestData("lfm2"));
  std::vector<KVCache> cache(5);
  const auto [code, message] = Failure([&] {
    (*model)(reshape(arange(0, 3, int32), {1, 3}), &cache);
  });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("[ShortConv] a short convolution's cache is KVCache::arrays(1)"),
            std::string::npos)
      << message;
}

// mlx-lm's sanitize: Hugging Face's conv weights (C, 1, K) become (C, K, 1), mlx-lm's stay;
// LFM2-MoE's w1, w3, w2 are renamed and its experts stacked.
TEST(Lfm2SanitizeTest, ConvWeightsMoveAndExpertsStack) {
  const nn::Parameters conv =
      sanitize_conv_weights({{"model.layers.0.conv.conv.weight", zeros({6, 1, 3})},
                             {"model.layers.1.conv.conv.weight", zeros({6, 3, 1})},
                             {"model.layers.0.conv.in_proj.weight", zeros({18, 6})}},
                            "conv.conv.weight");
  EXPECT_EQ(conv[0].second.shape(), (Shape{6, 3, 1}));
  EXPECT_EQ(conv[1].second.shape(), (Shape{6, 3, 1}));
  EXPECT_EQ(conv[2].second.shape(), (Shape{18, 6}));

  const Lfm2Moe model(ModelArgs::from_directory(TestData("lfm2_moe")));
  nn::Parameters weights = {{"model.layers.0.feed_forward.w1.weight", zeros({48, 32})},
                            {"model.layers.0.conv.conv.weight", zeros({32, 1, 3})}};
  for (int e = 0; e < 4; ++e) {
    for (const char* w : {"w1", "w2", "w3"}) {
      weights.emplace_back(
          "model.layers.1.feed_forward.experts." + std::to_string(e) + "." + w + ".weight",
          zeros({16, 32}));
    }
  }
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : model.sanitize(weights)) shapes[name] = array.shape();
  EXPECT_EQ(shapes, (std::map<std::string, Shape>{
                        {"model.layers.0.conv.conv.weight", {32, 3, 1}},
                        {"model.layers.0.feed_forward.gate_proj.weight", {48, 32}},
                        {"model.layers.1.feed_forward.switch_mlp.down_proj.weight", {4, 16, 32}},
                        {"model.layers.1.feed_forward.switch_mlp.gate_proj.weight", {4, 16, 32}},
                        {"model.layers.1.feed_forward.switch_mlp.up_proj.weight", {4, 16, 32}}}));
}

// lfm2_moe_4bit's routers are 8-bit in groups of 64, as config.json names them, the other
// layers 4-bit in groups of 32; the conv and the expert bias stay as they were.
TEST(Lfm2QuantizedTest, LayersKeepTheirBits) {
  std::unique_ptr<Model> model = load_model(TestData("lfm2_moe_4bit"));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : model->parameters()) shapes[name] = array.shape();
  // 64 inputs in 32-bit words: 8 of 4 bits, 16 of 8.
  EXPECT_EQ(shapes.at("model.layers.1.feed_forward.gate.weight"), (Shape{4, 16}));
  EXPECT_EQ(shapes.at("model.layers.1.feed_forward.gate.scales"), (Shape{4, 1}));
  EXPECT_EQ(shapes.at("model.layers.1.feed_forward.switch_mlp.gate_proj.weight"),
            (Shape{4, 32, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.feed_forward.gate_proj.weight"), (Shape{64, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.conv.in_proj.weight"), (Shape{192, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.conv.conv.weight"), (Shape{64, 3, 1}));
  EXPECT_EQ(shapes.at("model.layers.1.feed_forward.expert_bias"), (Shape{4}));
  EXPECT_EQ(shapes.at("model.embed_tokens.weight"), (Shape{96, 8}));
}

// LFM2-350M's config.json: the MLP's width auto-adjusted from block_ff_dim (6656: two thirds
// is 4437, up to a multiple of 256), head_dim from the width, RoPE's base mlx-lm's default.
constexpr char kLfm2_350M[] = R"({"model_type": "lfm2", "vocab_size": 65536,
    "hidden_size": 1024, "num_hidden_layers": 16, "num_attention_heads": 16,
    "num_key_value_heads": 8, "max_position_embeddings": 128000, "norm_eps": 1e-05,
    "conv_bias": false, "conv_L_cache": 3, "block_dim": 1024, "block_ff_dim": 6656,
    "block_multiple_of": 256, "block_ffn_dim_multiplier": 1.0,
    "block_auto_adjust_ff_dim": true, "full_attn_idxs": [2, 5, 8, 10, 12, 14],
    "tie_embedding": true, "eos_token_id": 7})";

TEST(Lfm2ArgsTest, ConfigsAreReadAsMlxLmReadsThem) {
  const ModelArgs args = ModelArgs::from_json(kLfm2_350M);
  EXPECT_EQ(args.intermediate_size, 4608);
  EXPECT_EQ(args.head_dim, 64);
  EXPECT_EQ(args.num_key_value_heads, 8);
  EXPECT_EQ(args.full_attn_idxs, (std::vector<int>{2, 5, 8, 10, 12, 14}));
  EXPECT_EQ(args.conv_l_cache, 3);
  EXPECT_FALSE(args.conv_bias);
  EXPECT_FLOAT_EQ(args.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(args.rope_theta, 1e6f);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(args.eos_token_ids, std::vector<int32_t>{7});
  // The testdata: layer_types; full_attn_idxs; rope_parameters; a null num_key_value_heads
  // and block_ffn_dim_multiplier; intermediate_size as it is without auto-adjusting.
  EXPECT_EQ(ModelArgs::from_directory(TestData("lfm2")).full_attn_idxs, (std::vector<int>{2, 4}));
  EXPECT_EQ(ModelArgs::from_directory(TestData("lfm2")).intermediate_size, 80);
  const ModelArgs idxs = ModelArgs::from_directory(TestData("lfm2_idxs"));
  EXPECT_EQ(idxs.full_attn_idxs, (std::vector<int>{0, 3}));
  EXPECT_EQ(idxs.intermediate_size, 48);
  EXPECT_EQ(idxs.num_key_value_heads, 4);
  EXPECT_FLOAT_EQ(idxs.rope_theta, 5e5f);
  const ModelArgs moe = ModelArgs::from_directory(TestData("lfm2_moe"));
  EXPECT_EQ(moe.num_experts, 4);
  EXPECT_EQ(moe.num_experts_per_tok, 2);
  EXPECT_EQ(moe.moe_intermediate_size, 16);
  EXPECT_EQ(moe.intermediate_size, 48);
  EXPECT_EQ(moe.first_k_dense_replace, 1);
  EXPECT_TRUE(moe.norm_topk_prob);
  EXPECT_TRUE(moe.use_expert_bias);
  EXPECT_FLOAT_EQ(moe.routed_scaling_factor, 1.5f);
  EXPECT_EQ(moe.full_attn_idxs, std::vector<int>{1});
}

// The error reading `config` (kLfm2_350M's unless given) with `edit` applied to it (a null
// value removes its key).
std::pair<ErrorCode, std::string> ErrorReading(
    const nlohmann::json& edit, nlohmann::json config = nlohmann::json::parse(kLfm2_350M)) {
  config.merge_patch(edit);
  return Failure([&] { ModelArgs::from_json(config.dump()); });
}

TEST(Lfm2ArgsTest, MissingAndInconsistentFieldsAreNamed) {
  auto invalid = [](const std::string& message) {
    return std::make_pair(ErrorCode::kInvalidArgument, "[ModelArgs] " + message);
  };
  EXPECT_EQ(ErrorReading({{"conv_L_cache", nullptr}}),
            invalid("config.json lacks \"conv_L_cache\"."));
  EXPECT_EQ(ErrorReading({{"num_key_value_heads", nullptr}}),
            invalid("config.json lacks \"num_key_value_heads\"."));
  EXPECT_EQ(ErrorReading({{"conv_L_cache", 1}}),
            invalid("config.json's conv_L_cache (1) must be 2 or more: the conv's state keeps "
                    "conv_L_cache - 1 inputs."));
  EXPECT_EQ(ErrorReading({{"block_ff_dim", nullptr}}),
            invalid("config.json lacks \"block_ff_dim\" and \"intermediate_size\" (one gives "
                    "the MLP's width)."));
  EXPECT_EQ(ErrorReading({{"block_dim", 512}}),
            invalid("config.json's block_dim (512) must be hidden_size (1024), the MLP's width "
                    "(6656) and, to adjust it, block_multiple_of (256) positive."));
  EXPECT_EQ(ErrorReading({{"full_attn_idxs", nlohmann::json::array({2, 16})}}),
            invalid("config.json's full_attn_idxs (2, 16) must name one or more layers below "
                    "num_hidden_layers (16), each once."));
  EXPECT_EQ(ErrorReading({{"full_attn_idxs", nlohmann::json::array()}}).first,
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(ErrorReading({{"full_attn_idxs", nullptr}}),
            invalid("config.json lacks \"full_attn_idxs\" and \"layer_types\" (one says which "
                    "layers attend)."));
  EXPECT_EQ(
      ErrorReading({{"full_attn_idxs", nullptr}, {"layer_types", nlohmann::json::array({"conv"})}}),
      invalid("config.json's layer_types has 1 entries, not num_hidden_layers (16)."));
  EXPECT_EQ(ErrorReading(
                {{"full_attn_idxs", nullptr},
                 {"num_hidden_layers", 2},
                 {"layer_types", nlohmann::json::array({"full_attention", "sliding_attention"})}}),
            invalid("config.json's layer_types holds \"sliding_attention\", neither "
                    "full_attention nor conv."));
  EXPECT_EQ(ErrorReading({{"tie_embedding", false}}),
            std::make_pair(ErrorCode::kUnimplemented,
                           std::string("[ModelArgs] tie_embedding false is not built by "
                                       "ferry::lm: mlx-lm's lfm2 outputs through its embedding.")));
  // LFM2-MoE's experts: required, and no more chosen than there are.
  nlohmann::json moe = nlohmann::json::parse(kLfm2_350M);
  moe.merge_patch({{"model_type", "lfm2_moe"},
                   {"intermediate_size", 7168},
                   {"moe_intermediate_size", 1792},
                   {"num_experts", 32},
                   {"num_experts_per_tok", 4},
                   {"norm_topk_prob", true},
                   {"use_expert_bias", true},
                   {"num_dense_layers", 2}});
  EXPECT_EQ(ModelArgs::from_json(moe.dump()).first_k_dense_replace, 2);
  EXPECT_EQ(ErrorReading({{"num_experts_per_tok", 33}}, moe),
            invalid("config.json's num_experts_per_tok (33) must be from 1 to num_experts (32), "
                    "moe_intermediate_size positive, num_dense_layers not negative."));
  EXPECT_EQ(ErrorReading({{"use_expert_bias", nullptr}}, moe),
            invalid("config.json lacks \"use_expert_bias\"."));
}

}  // namespace
}  // namespace ferry::lm
