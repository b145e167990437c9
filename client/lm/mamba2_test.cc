// Mamba-2 and Granite 4.0 (granitemoehybrid) against mlx-lm 0.32.2 on MLX 0.32.4
// (testdata/lm_mamba2_mlx.py writes the checkpoints and what mlx-lm computed; a prompt's
// logits, through the caches in pieces, greedy generation, stream_generate, batch_generate
// and a conversation's prompt cache are arrays_models_mlx_test's, continuous batching
// batch_generator_test's): the arrays caches their mamba layers keep, the checkpoints'
// layouts and bits, and config.json as mlx-lm reads it.

#include "client/lm/mamba2.h"

#include <map>
#include <string>
#include <unordered_map>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/batch_generate.h"
#include "client/lm/batch_generator.h"
#include "client/lm/conv_weights.h"
#include "client/lm/generate.h"
#include "client/lm/granitemoehybrid.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

using ::ferry::testing::Failure;

// Every mamba layer keeps an arrays cache of 2: the conv's last d_conv - 1 = 3 inputs (x, B
// and C: 64 + 2 * 2 groups * 16) and the scan's state (heads, head_dim, d_state), float32.
// Granite's attention layer keeps keys and values. make_prompt_cache gives the model's own
// for any max_kv_size.
TEST(Mamba2CacheTest, MambaLayersKeepTheConvAndScanStates) {
  std::unique_ptr<Model> mamba = load_model(TestData("mamba2"));
  for (const std::vector<KVCache>& cache : {mamba->make_cache(), make_prompt_cache(*mamba, 64)}) {
    ASSERT_EQ(cache.size(), 3u);
    for (const KVCache& layer : cache) EXPECT_TRUE(layer.is_arrays());
  }
  std::vector<KVCache> cache = mamba->make_cache();
  EXPECT_TRUE(cache[0].empty());
  (*mamba)(reshape(arange(0, 5, int32), {1, 5}), &cache);
  for (const KVCache& layer : cache) {
    EXPECT_EQ(layer.offset(), 5);
    ASSERT_EQ(layer.state().size(), 2u);
    EXPECT_EQ(layer.state()[0].shape(), (Shape{1, 3, 128}));
    EXPECT_EQ(layer.state()[1].shape(), (Shape{1, 4, 16, 16}));
    EXPECT_EQ(layer.state()[1].dtype(), float32);
  }
  std::unique_ptr<Model> granite = load_model(TestData("granitemoehybrid"));
  std::vector<KVCache> hybrid = make_prompt_cache(*granite, 64);
  ASSERT_EQ(hybrid.size(), 4u);
  for (int i : {0, 2, 3}) EXPECT_TRUE(hybrid[i].is_arrays()) << i;
  EXPECT_FALSE(hybrid[1].is_arrays());
  EXPECT_FALSE(hybrid[1].max_size().has_value());
  (*granite)(reshape(arange(0, 5, int32), {1, 5}), &hybrid);
  (*granite)(reshape(arange(5, 6, int32), {1, 1}), &hybrid);
  for (const KVCache& layer : hybrid) EXPECT_EQ(layer.offset(), 6);
  EXPECT_EQ(hybrid[0].state()[1].shape(), (Shape{1, 4, 8, 16}));
}

// A mamba layer refuses a cache of keys and values.
TEST(Mamba2CacheTest, AMambaLayerRefusesAKeysAndValuesCache) {
  std::unique_ptr<Model> model = load_model(TestData("mamba2"));
  std::vector<KVCache> cache(3);
  const auto [code, message] = Failure([&] {
    (*model)(reshape(arange(0, 3, int32), {1, 3}), &cache);
  });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("[Mamba2Mixer] a mamba layer's cache is KVCache::arrays(2)"),
            std::string::npos)
      << message;
}

std::map<std::string, Shape> Shapes(const nn::Parameters& weights) {
  std::map<std::string, Shape> shapes;
  for (const auto& [name, array] : weights) shapes[name] = array.shape();
  return shapes;
}

// mlx-lm's sanitize: Hugging Face's conv weights (C, 1, K) become (C, K, 1), mlx-lm's stay;
// Granite's fused experts split into switch_mlp's, a dense model's shared_mlp becomes its
// mlp, and a tied model's lm_head.weight is dropped.
TEST(Mamba2SanitizeTest, ConvWeightsMoveAndGranitesMlpsAreRenamed) {
  EXPECT_EQ(
      Shapes(sanitize_conv_weights({{"backbone.layers.0.mixer.conv1d.weight", zeros({6, 1, 4})},
                                    {"backbone.layers.1.mixer.conv1d.weight", zeros({6, 4, 1})},
                                    {"backbone.layers.0.mixer.in_proj.weight", zeros({9, 6})}},
                                   "conv1d.weight")),
      (std::map<std::string, Shape>{{"backbone.layers.0.mixer.conv1d.weight", {6, 4, 1}},
                                    {"backbone.layers.1.mixer.conv1d.weight", {6, 4, 1}},
                                    {"backbone.layers.0.mixer.in_proj.weight", {9, 6}}}));

  const GraniteMoeHybrid moe(ModelArgs::from_directory(TestData("granitemoehybrid")));
  EXPECT_EQ(Shapes(moe.sanitize(
                {{"model.layers.0.block_sparse_moe.input_linear.weight", zeros({4, 32, 32})},
                 {"model.layers.0.block_sparse_moe.output_linear.weight", zeros({4, 32, 16})},
                 {"model.layers.0.shared_mlp.input_linear.weight", zeros({48, 32})},
                 {"model.layers.0.mamba.conv1d.weight", zeros({64, 1, 4})},
                 {"lm_head.weight", zeros({96, 32})}})),
            (std::map<std::string, Shape>{
                {"model.layers.0.block_sparse_moe.switch_mlp.gate_proj.weight", {4, 16, 32}},
                {"model.layers.0.block_sparse_moe.switch_mlp.up_proj.weight", {4, 16, 32}},
                {"model.layers.0.block_sparse_moe.switch_mlp.down_proj.weight", {4, 32, 16}},
                {"model.layers.0.shared_mlp.input_linear.weight", {48, 32}},
                {"model.layers.0.mamba.conv1d.weight", {64, 4, 1}}}));

  const GraniteMoeHybrid dense(ModelArgs::from_directory(TestData("granitemoehybrid_dense")));
  EXPECT_EQ(
      Shapes(dense.sanitize({{"model.layers.0.shared_mlp.input_linear.weight", zeros({96, 32})},
                             {"model.layers.0.shared_mlp.output_linear.weight", zeros({32, 48})},
                             {"lm_head.weight", zeros({96, 32})}})),
      (std::map<std::string, Shape>{{"model.layers.0.mlp.gate_proj.weight", {48, 32}},
                                    {"model.layers.0.mlp.up_proj.weight", {48, 32}},
                                    {"model.layers.0.mlp.down_proj.weight", {32, 48}},
                                    {"lm_head.weight", {96, 32}}}));
}

// granitemoehybrid_4bit's routers are 8-bit in groups of 64, as config.json names them, the
// other layers 4-bit in groups of 32; the conv and the scan's parameters stay as they were.
TEST(Mamba2QuantizedTest, LayersKeepTheirBits) {
  std::unique_ptr<Model> model = load_model(TestData("granitemoehybrid_4bit"));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : model->parameters()) shapes[name] = array.shape();
  // 64 inputs in 32-bit words: 8 of 4 bits, 16 of 8.
  EXPECT_EQ(shapes.at("model.layers.0.block_sparse_moe.router.layer.weight"), (Shape{4, 16}));
  EXPECT_EQ(shapes.at("model.layers.0.block_sparse_moe.router.layer.scales"), (Shape{4, 1}));
  EXPECT_EQ(shapes.at("model.layers.0.block_sparse_moe.switch_mlp.gate_proj.weight"),
            (Shape{4, 32, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.mamba.in_proj.weight"), (Shape{164, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.mamba.conv1d.weight"), (Shape{96, 4, 1}));
  EXPECT_EQ(shapes.at("model.layers.0.mamba.A_log"), (Shape{4}));
  EXPECT_EQ(shapes.at("model.layers.1.self_attn.q_proj.weight"), (Shape{64, 8}));
  EXPECT_EQ(model->own_quantization("model.layers.0.block_sparse_moe.router.layer"),
            kRouterQuantization);
  EXPECT_EQ(model->own_quantization("model.layers.0.mamba.in_proj"), std::nullopt);
}

// Granite 4.0 H Tiny's config.json, its 40 layers cut to 4 (attention the second).
nlohmann::json GraniteTiny() {
  return nlohmann::json::parse(R"({"model_type": "granitemoehybrid", "vocab_size": 100352,
      "hidden_size": 1536, "intermediate_size": 512, "num_hidden_layers": 4,
      "max_position_embeddings": 131072, "num_attention_heads": 12, "num_key_value_heads": 4,
      "attention_bias": false, "embedding_multiplier": 12, "attention_multiplier": 0.0078125,
      "logits_scaling": 6, "residual_multiplier": 0.22, "rms_norm_eps": 1e-05,
      "layer_types": ["mamba", "attention", "mamba", "mamba"], "num_local_experts": 64,
      "num_experts_per_tok": 6, "shared_intermediate_size": 1024, "mamba_n_heads": 48,
      "mamba_d_head": 64, "mamba_d_state": 128, "mamba_d_conv": 4, "mamba_n_groups": 1,
      "mamba_expand": 2, "mamba_chunk_size": 256, "mamba_conv_bias": true,
      "mamba_proj_bias": false, "position_embedding_type": "nope", "rope_theta": 10000,
      "tie_word_embeddings": true, "eos_token_id": 100257})");
}

// A Mamba-2 of Mamba-Codestral's shape.
nlohmann::json Codestral() {
  return nlohmann::json::parse(R"({"model_type": "mamba2", "vocab_size": 32768,
      "hidden_size": 4096, "intermediate_size": 8192, "num_heads": 128, "head_dim": 64,
      "state_size": 128, "n_groups": 8, "conv_kernel": 4, "num_hidden_layers": 64,
      "layer_norm_epsilon": 1e-05, "use_bias": false, "use_conv_bias": true,
      "tie_word_embeddings": false, "time_step_limit": [0.0, 1e9], "time_step_rank": 256,
      "chunk_size": 128})");
}

TEST(Mamba2ArgsTest, ConfigsAreReadAsMlxLmReadsThem) {
  const ModelArgs mamba = ModelArgs::from_json(Codestral().dump());
  EXPECT_EQ(mamba.mamba_n_heads, 128);
  EXPECT_EQ(mamba.mamba_d_head, 64);
  EXPECT_EQ(mamba.mamba_d_state, 128);
  EXPECT_EQ(mamba.mamba_n_groups, 8);
  EXPECT_EQ(mamba.mamba_d_conv, 4);
  EXPECT_TRUE(mamba.mamba_conv_bias);
  EXPECT_FALSE(mamba.mamba_proj_bias);
  EXPECT_FALSE(mamba.tie_word_embeddings);
  EXPECT_FLOAT_EQ(mamba.rms_norm_eps, 1e-5f);
  EXPECT_EQ(mamba.time_step_limit, (std::pair<float, float>{0.0f, 1e9f}));
  EXPECT_EQ(mamba.mamba_chunk_size, 128);
  nlohmann::json own_state = Codestral();
  own_state.merge_patch({{"ssm_state_size", 64}, {"chunk_size", nullptr}});
  EXPECT_EQ(ModelArgs::from_json(own_state.dump()).mamba_d_state, 64);
  EXPECT_EQ(ModelArgs::from_json(own_state.dump()).mamba_chunk_size, 256);

  const ModelArgs granite = ModelArgs::from_json(GraniteTiny().dump());
  EXPECT_EQ(granite.layer_types,
            (std::vector<std::string>{"mamba", "attention", "mamba", "mamba"}));
  EXPECT_EQ(granite.mamba_n_heads, 48);
  EXPECT_EQ(granite.mamba_d_head, 64);
  EXPECT_EQ(granite.head_dim, 128);
  EXPECT_FALSE(granite.rope);
  EXPECT_FLOAT_EQ(granite.embedding_multiplier, 12);
  EXPECT_FLOAT_EQ(granite.attention_multiplier, 0.0078125f);
  EXPECT_FLOAT_EQ(granite.residual_multiplier, 0.22f);
  EXPECT_FLOAT_EQ(granite.logits_scaling, 6);
  EXPECT_EQ(granite.num_experts, 64);
  EXPECT_EQ(granite.num_experts_per_tok, 6);
  EXPECT_EQ(granite.shared_expert_intermediate_size, 1024);
  EXPECT_EQ(granite.time_step_limit, (std::pair<float, float>{0.001f, 100.0f}));
  EXPECT_EQ(granite.eos_token_ids, std::vector<int32_t>{100257});
  // The testdata: RoPE, its base under rope_parameters, no conv bias when absent, dense.
  EXPECT_TRUE(ModelArgs::from_directory(TestData("granitemoehybrid")).rope);
  const ModelArgs dense = ModelArgs::from_directory(TestData("granitemoehybrid_dense"));
  EXPECT_FLOAT_EQ(dense.rope_theta, 5e5f);
  EXPECT_FALSE(dense.mamba_conv_bias);
  EXPECT_EQ(dense.num_experts, 0);
  EXPECT_EQ(dense.mamba_chunk_size, 256);
}

// The error reading `config` with `edit` applied to it (a null value removes its key).
std::pair<ErrorCode, std::string> ErrorReading(const nlohmann::json& edit, nlohmann::json config) {
  config.merge_patch(edit);
  return Failure([&] { ModelArgs::from_json(config.dump()); });
}

TEST(Mamba2ArgsTest, MissingAndInconsistentFieldsAreNamed) {
  auto invalid = [](const std::string& message) {
    return std::make_pair(ErrorCode::kInvalidArgument, "[ModelArgs] " + message);
  };
  const nlohmann::json mamba = Codestral(), granite = GraniteTiny();
  EXPECT_EQ(ErrorReading({{"time_step_limit", nullptr}}, mamba),
            invalid("config.json lacks \"time_step_limit\"."));
  EXPECT_EQ(ErrorReading({{"time_step_rank", nullptr}}, mamba),
            invalid("config.json lacks \"time_step_rank\"."));
  EXPECT_EQ(ErrorReading({{"state_size", nullptr}}, mamba),
            invalid("config.json lacks \"state_size\"."));
  EXPECT_EQ(ErrorReading({{"time_step_limit", nlohmann::json::array({1.0, 0.5})}}, mamba),
            invalid("config.json's time_step_limit (1, 0.5) must be two numbers, the least "
                    "first."));
  EXPECT_EQ(ErrorReading({{"n_groups", 3}}, mamba),
            invalid("config.json's mamba heads (128), head size (64), state size (128) and "
                    "chunk size (128) must be positive, the heads a multiple of the groups "
                    "(3)."));
  EXPECT_EQ(ErrorReading({{"conv_kernel", 1}}, mamba),
            invalid("config.json's conv kernel (1) must be 2 or more: the conv's state keeps "
                    "kernel - 1 inputs."));
  EXPECT_EQ(ErrorReading({{"layer_types", nlohmann::json::array({"mamba"})}}, granite),
            invalid("config.json's layer_types has 1 entries, not num_hidden_layers (4)."));
  EXPECT_EQ(
      ErrorReading({{"layer_types", nlohmann::json::array({"mamba", "conv", "mamba", "mamba"})}},
                   granite),
      invalid("config.json's layer_types holds \"conv\", neither mamba nor attention."));
  EXPECT_EQ(ErrorReading({{"mamba_d_state", nullptr}}, granite),
            invalid("config.json lacks \"mamba_d_state\"."));
  // Without a mamba layer the mamba fields are not needed.
  EXPECT_EQ(ErrorReading({{"mamba_d_state", nullptr},
                          {"layer_types", nlohmann::json::array({"attention", "attention",
                                                                 "attention", "attention"})}},
                         granite)
                .first,
            ErrorCode::kOk);
  EXPECT_EQ(ErrorReading({{"mamba_expand", 1}}, granite),
            invalid("config.json's mamba_expand (1) times hidden_size (1536) must be "
                    "mamba_n_heads (48) times mamba_d_head (64): the scan's width."));
  EXPECT_EQ(ErrorReading({{"embedding_multiplier", nullptr}}, granite),
            invalid("config.json lacks \"embedding_multiplier\"."));
  EXPECT_EQ(ErrorReading({{"logits_scaling", 0}}, granite),
            invalid("config.json's logits_scaling must not be 0."));
  EXPECT_EQ(ErrorReading({{"shared_intermediate_size", nullptr}}, granite),
            invalid("config.json lacks \"shared_intermediate_size\"."));
  EXPECT_EQ(ErrorReading({{"num_experts_per_tok", 65}}, granite),
            invalid("config.json's num_experts_per_tok (65) must be from 1 to num_local_experts "
                    "(64), shared_intermediate_size positive."));
}

}  // namespace
}  // namespace ferry::lm
