// Falcon-H1 (falcon_h1) beside mlx-lm 0.32.2 (testdata/lm_falcon_h1_mlx.py writes the
// checkpoints and what mlx-lm computed; a prompt's logits, through the caches in pieces,
// greedy generation, stream_generate, batch_generate and a conversation's prompt cache are
// arrays_models_mlx_test's, continuous batching batch_generator_test's, prompt cache files
// prompt_cache_file_test's): each layer's cache a list of an arrays cache and a KV cache,
// sanitize's multipliers, and config.json as mlx-lm reads it.

#include "client/lm/falcon_h1.h"

#include <limits>
#include <string>
#include <utility>

#include "client/error.h"
#include "client/lm/kv_cache.h"
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

// Each layer keeps a list (mlx-lm's CacheList): the mixer's arrays cache of 2 (the conv's last
// 3 inputs, x, B and C: 32 + 2 * 2 groups * 16; the scan's state (heads, head_dim, d_state))
// and the attention's keys and values. make_prompt_cache gives the model's own for any
// max_kv_size.
TEST(FalconH1CacheTest, EachLayerKeepsAnArraysCacheAndAKeysAndValuesCache) {
  std::unique_ptr<Model> model = load_model(TestData("falcon_h1"));
  for (const std::vector<KVCache>& cache : {model->make_cache(), make_prompt_cache(*model, 64)}) {
    ASSERT_EQ(cache.size(), 3u);
    for (const KVCache& layer : cache) {
      ASSERT_TRUE(layer.is_list());
      ASSERT_EQ(layer.parts(), 2);
      EXPECT_TRUE(layer.part(0).is_arrays());
      EXPECT_FALSE(layer.part(1).is_arrays());
      EXPECT_FALSE(layer.part(1).max_size().has_value());
      EXPECT_TRUE(layer.empty());
      EXPECT_TRUE(layer.batchable());
      EXPECT_FALSE(layer.is_trimmable());  // the arrays cache's state holds every token
    }
  }
  std::vector<KVCache> cache = model->make_cache();
  for (KVCache& layer : cache) layer.keep_steps(1);
  (*model)(reshape(arange(0, 5, int32), {1, 5}), &cache);
  (*model)(reshape(arange(5, 6, int32), {1, 1}), &cache);
  for (const KVCache& layer : cache) {
    EXPECT_EQ(layer.offset(), 6);
    EXPECT_EQ(layer.part(0).offset(), 6);
    EXPECT_EQ(layer.part(1).offset(), 6);
    const std::vector<Array> state = layer.state();
    ASSERT_EQ(state.size(), 4u);
    EXPECT_EQ(state[0].shape(), (Shape{1, 3, 96}));
    EXPECT_EQ(state[1].shape(), (Shape{1, 4, 8, 16}));
    EXPECT_EQ(state[2].shape(), (Shape{1, 2, 256, 8}));
    EXPECT_EQ(layer.nbytes(), layer.part(0).nbytes() + layer.part(1).nbytes());
  }
  // The step kept goes back in both parts; one more is refused by the arrays cache.
  EXPECT_EQ(cache[0].trim(1), 1);
  EXPECT_EQ(cache[0].part(0).offset(), 5);
  EXPECT_EQ(cache[0].part(1).offset(), 5);
  const auto [code, message] = Failure([&] { cache[1].trim(2); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("keeps the states of its last 1 steps"), std::string::npos) << message;
}

// The prompt's tokens through a batch's list caches: a row extracted holds what the
// sequence alone leaves, in both parts.
TEST(FalconH1CacheTest, BatchMovesGoToEveryPart) {
  std::unique_ptr<Model> model = load_model(TestData("falcon_h1"));
  std::vector<KVCache> batch = model->make_cache();
  for (KVCache& layer : batch) layer.set_left_padding({2, 0}, model->device());
  const Array tokens = from_host(std::vector<int32_t>{0, 0, 7, 9, 4, 11, 12, 13}, {2, 4});
  (*model)(tokens, &batch);
  for (const KVCache& layer : batch) {
    EXPECT_EQ(layer.rows(), 2);
    EXPECT_EQ(layer.left_padding(), (std::vector<int32_t>{2, 0}));
  }
  std::vector<KVCache> row0, alone = model->make_cache();
  for (const KVCache& layer : batch) row0.push_back(layer.extract(0, 2));
  (*model)(from_host(std::vector<int32_t>{7, 9}, {1, 2}), &alone);
  EXPECT_EQ(testing::CacheDifference(row0, alone), "");
  for (KVCache& layer : batch) layer.filter({1});
  for (KVCache& layer : batch) EXPECT_EQ(layer.rows(), 1);
  const auto [code, message] = Failure([&] { batch[0].extend(KVCache()); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("extend takes a cache list of as many parts (2)"), std::string::npos)
      << message;
}

// A layer refuses a cache that is not its list; a list refuses what its parts take.
TEST(FalconH1CacheTest, WrongCachesAreRefusedByName) {
  std::unique_ptr<Model> model = load_model(TestData("falcon_h1"));
  std::vector<KVCache> plain(3);
  auto [code, message] = Failure([&] { (*model)(reshape(arange(0, 3, int32), {1, 3}), &plain); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("[FalconH1] a layer's cache is a KVCache::list of an arrays cache and a "
                         "plain one"),
            std::string::npos)
      << message;
  KVCache list = KVCache::list({KVCache::arrays(2), KVCache()});
  const Array keys = zeros({1, 2, 1, 8});
  std::tie(code, message) = Failure([&] { list.update_and_fetch(keys, keys, zeros({1}, int32)); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("update_and_fetch takes a cache of keys and values, not a cache list"),
            std::string::npos)
      << message;
  std::tie(code, message) = Failure([&] { list.part(2); });
  EXPECT_NE(message.find("part 2 is not among the cache list's 2."), std::string::npos) << message;
  std::tie(code, message) = Failure([&] { KVCache::list({}); });
  EXPECT_NE(message.find("a cache list holds 1 or more caches."), std::string::npos) << message;
  // kv_bits leaves it, as mlx-lm's maybe_quantize_kv_cache leaves a CacheList.
  std::vector<KVCache> cache = model->make_cache();
  (*model)(reshape(arange(0, 3, int32), {1, 3}), &cache);
  maybe_quantize_kv_cache(cache, 0, 32, 4);
  for (const KVCache& layer : cache) EXPECT_TRUE(layer.is_list());
}

// mlx-lm's sanitize folds the multipliers into a Hugging Face checkpoint (layer 0's conv
// weight (C, 1, K)) and leaves mlx-lm's (C, K, 1) one as it is.
TEST(FalconH1SanitizeTest, MultipliersAreFoldedIntoHuggingFacesWeights) {
  std::unique_ptr<Model> model = load_model(TestData("falcon_h1"));
  const ModelArgs& args = model->args();
  auto weights = [](int64_t conv_taps_last) {
    return nn::Parameters{
        {"model.layers.0.mamba.conv1d.weight",
         conv_taps_last ? ones({96, 1, 4}) : ones({96, 4, 1})},
        {"model.embed_tokens.weight", ones({96, 32})},
        {"model.layers.0.self_attn.k_proj.weight", ones({16, 32})},
        {"model.layers.0.self_attn.v_proj.weight", ones({16, 32})},
        {"model.layers.0.feed_forward.down_proj.weight", ones({32, 48})},
        {"model.layers.0.mamba.in_proj.weight", ones({32 + 96 + 4, 32})},
    };
  };
  nn::Parameters hf = model->sanitize(weights(1));
  EXPECT_EQ(hf[0].second.shape(), (Shape{96, 4, 1}));
  EXPECT_FLOAT_EQ(max(hf[1].second).item<float>(), 2.0f);  // embedding_multiplier
  EXPECT_FLOAT_EQ(max(hf[2].second).item<float>(), 1.5f);  // attention_in_multiplier
  EXPECT_FLOAT_EQ(max(hf[3].second).item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(max(hf[4].second).item<float>(), 0.6f);  // mlp_multipliers[1]
  // in_proj's rows: gate (32) 0.4, x (32) 0.3, B (32) 0.6, C (32) 0.5, dt (4) 0.7, times 1.25.
  const std::vector<float> rows = slice(hf[5].second, {0, 0}, {132, 1}).to_vector<float>();
  const std::pair<int, float> want[] = {
      {0, 0.5f}, {32, 0.375f}, {64, 0.75f}, {96, 0.625f}, {128, 0.875f}};
  for (const auto& [row, value] : want) EXPECT_FLOAT_EQ(rows[row], value) << row;
  nn::Parameters mlx = model->sanitize(weights(0));
  EXPECT_FLOAT_EQ(max(mlx[1].second).item<float>(), 1.0f);
  EXPECT_EQ(mlx[0].second.shape(), (Shape{96, 4, 1}));
  EXPECT_FLOAT_EQ(args.embedding_multiplier, 2.0f);
}

TEST(FalconH1ArgsTest, ConfigsAreReadAsMlxLmReadsThem) {
  // mlx-lm's defaults (Falcon-H1-0.5B's).
  const ModelArgs defaults = ModelArgs::from_json(R"({"model_type": "falcon_h1"})");
  EXPECT_EQ(defaults.hidden_size, 1024);
  EXPECT_EQ(defaults.num_hidden_layers, 36);
  EXPECT_EQ(defaults.num_attention_heads, 8);
  EXPECT_EQ(defaults.num_key_value_heads, 2);
  EXPECT_EQ(defaults.head_dim, 64);
  EXPECT_EQ(defaults.vocab_size, 32784);
  EXPECT_EQ(defaults.mamba_n_heads, 24);
  EXPECT_EQ(defaults.mamba_d_head, 64);
  EXPECT_EQ(defaults.mamba_d_state, 128);
  EXPECT_TRUE(defaults.mamba_conv_bias);
  EXPECT_FALSE(defaults.mamba_rms_norm);
  EXPECT_EQ(defaults.projectors_bias, false);
  EXPECT_EQ(defaults.mamba_chunk_size, 256);  // mlx-lm's scan step, whatever the config says
  EXPECT_EQ(defaults.time_step_limit,
            (std::pair<float, float>{0.0f, std::numeric_limits<float>::infinity()}));
  EXPECT_FLOAT_EQ(defaults.rope_theta, 1e11f);
  EXPECT_TRUE(defaults.tie_word_embeddings);
  EXPECT_FLOAT_EQ(defaults.embedding_multiplier, 5.656854249492381f);
  EXPECT_FLOAT_EQ(defaults.lm_head_multiplier, 0.0390625f);
  EXPECT_FLOAT_EQ(defaults.attention_out_multiplier, 0.9375f);
  EXPECT_EQ(defaults.mlp_multipliers, (std::vector<float>{0.8838834764831844f, 0.5859375f}));
  EXPECT_EQ(defaults.ssm_multipliers.size(), 5u);
  const ModelArgs norm = ModelArgs::from_directory(TestData("falcon_h1_norm"));
  EXPECT_TRUE(norm.mamba_rms_norm);
  EXPECT_TRUE(norm.mamba_norm_before_gate);
  EXPECT_TRUE(norm.mamba_proj_bias);
  EXPECT_EQ(norm.projectors_bias, true);
  EXPECT_TRUE(norm.attention_bias);
  EXPECT_TRUE(norm.output_bias);
  EXPECT_TRUE(norm.mlp_bias);
  EXPECT_FALSE(norm.tie_word_embeddings);
  EXPECT_FLOAT_EQ(norm.rope_theta, 10000.0f);
}

TEST(FalconH1ArgsTest, InconsistentFieldsAreNamed) {
  auto error = [](const nlohmann::json& edit) {
    nlohmann::json config = {{"model_type", "falcon_h1"}};
    config.merge_patch(edit);
    return Failure([&] { ModelArgs::from_json(config.dump()); });
  };
  auto invalid = [](const std::string& message) {
    return std::make_pair(ErrorCode::kInvalidArgument, "[ModelArgs] " + message);
  };
  EXPECT_EQ(error({{"mamba_d_ssm", 1024}}),
            invalid("config.json's mamba_d_ssm (1024) must be mamba_n_heads (24) times "
                    "mamba_d_head (64): the scan's width."));
  EXPECT_EQ(error({{"mlp_multipliers", {1.0, 2.0, 3.0}}}),
            invalid("config.json's mlp_multipliers (3 numbers) must be 2 (gate_proj's, "
                    "down_proj's) and ssm_multipliers (5) 5 (in_proj's gate, x, B, C and dt)."));
  EXPECT_EQ(error({{"embedding_multiplier", 0}}),
            invalid("config.json's embedding_multiplier must not be 0: tied logits are divided "
                    "by it."));
  EXPECT_EQ(error({{"mamba_n_groups", 5}}).first, ErrorCode::kInvalidArgument);
  EXPECT_EQ(error({{"num_key_value_heads", 3}}).first, ErrorCode::kInvalidArgument);
  EXPECT_EQ(error({{"rope_scaling", {{"rope_type", "dynamic"}, {"factor", 2.0}}}}).first,
            ErrorCode::kUnimplemented);
}

}  // namespace
}  // namespace ferry::lm
