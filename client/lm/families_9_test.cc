// OpenELM, OLMo hybrid and PLaMo 2 as mlx-lm 0.32.2 builds them (testdata/lm_families_9_mlx.py
// writes the models and what mlx-lm computes; models_mlx_test.cc and arrays_models_mlx_test.cc
// hold their logits, whole, cached and a token at a time, and greedy runs): their configs read
// as mlx-lm reads them, what is missing or inconsistent named, the layers and caches each
// config asks for, sanitize, and stream_generate through them.

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::Config;
using ::ferry::lm::testing::ExpectStreamedTokensAsMlxLm;
using ::ferry::lm::testing::ParameterShapes;
using ::ferry::lm::testing::Refusal;
using ::ferry::lm::testing::TestData;

const char* const kModels[] = {"openelm",          "openelm_4bit", "olmo_hybrid",
                               "olmo_hybrid_4bit", "plamo2",       "plamo2_4bit"};

constexpr char kOpenelm[] = R"("head_dim": 8, "num_transformer_layers": 3, "model_dim": 32,
    "vocab_size": 50, "ffn_dim_divisor": 8, "num_query_heads": [2, 4, 6],
    "num_kv_heads": [1, 2, 3], "ffn_multipliers": [0.5, 1.0, 1.75])";

// make_divisible's widths: 16, 32, 56 of 32 (1.75 * 32 = 56 exactly), and one rounded up
// where rounding to the nearest would lose more than a tenth.
TEST(Families9ArgsTest, OpenelmReadsAsMlxLm) {
  const ModelArgs args = Config("openelm", kOpenelm);
  EXPECT_EQ(args.num_hidden_layers, 3);
  EXPECT_EQ(args.hidden_size, 32);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.layer_num_attention_heads, (std::vector<int>{2, 4, 6}));
  EXPECT_EQ(args.layer_num_key_value_heads, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(args.intermediate_sizes, (std::vector<int64_t>{16, 32, 56}));
  EXPECT_TRUE(args.qk_norm);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(args.rms_norm_eps, 1e-6f);
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_FALSE(args.rope_traditional);
  std::string odd = kOpenelm;
  odd.replace(odd.find("[0.5, 1.0, 1.75]"), 16, "[0.1, 0.3, 1.3]");
  odd.replace(odd.find(R"("ffn_dim_divisor": 8)"), 20, R"("ffn_dim_divisor": 16)");
  // 3.2 -> 16 (the divisor at least); 9.6 -> 16; 41.6 -> 48 (not 32, under 90%).
  EXPECT_EQ(Config("openelm", odd).intermediate_sizes, (std::vector<int64_t>{16, 16, 48}));
  const ModelArgs other = Config("openelm", std::string(kOpenelm) +
                                                R"(, "normalize_qk_projections": false,
      "share_input_output_layers": false, "rope_freq_constant": 5000)");
  EXPECT_FALSE(other.qk_norm);
  EXPECT_FALSE(other.tie_word_embeddings);
  EXPECT_EQ(other.rope_theta, 5000.0f);
  std::string short_list = kOpenelm;
  short_list.replace(short_list.find("[1, 2, 3]"), 9, "[1, 2]");
  EXPECT_EQ(Refusal([&] { Config("openelm", short_list); }),
            "[ModelArgs] config.json's num_query_heads (3), num_kv_heads (2) and ffn_multipliers "
            "(3) need an entry for each of num_transformer_layers (3).");
  std::string uneven = kOpenelm;
  uneven.replace(uneven.find("[1, 2, 3]"), 9, "[1, 3, 3]");
  EXPECT_EQ(Refusal([&] { Config("openelm", uneven); }),
            "[ModelArgs] config.json's num_query_heads[1] (4) must be a positive multiple of "
            "num_kv_heads[1] (3).");
  std::string missing = kOpenelm;
  missing.replace(missing.find(R"("ffn_dim_divisor")"), 17, R"("unused")");
  EXPECT_EQ(Refusal([&] { Config("openelm", missing); }),
            "[ModelArgs] config.json lacks \"ffn_dim_divisor\".");
}

// Each layer its own heads in qkv_proj and out_proj and its own MLP width in proj_1 (gate and
// up) and proj_2; the 4-bit model's lm_head and no q/k norms.
TEST(Families9ArgsTest, OpenelmBuildsEachLayersHeadsAndWidths) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("openelm");
  EXPECT_EQ(shapes.at("transformer.layers.0.attn.qkv_proj.weight"), (Shape{(2 + 2) * 8, 32}));
  EXPECT_EQ(shapes.at("transformer.layers.2.attn.qkv_proj.weight"), (Shape{(6 + 6) * 8, 32}));
  EXPECT_EQ(shapes.at("transformer.layers.1.attn.out_proj.weight"), (Shape{32, 4 * 8}));
  EXPECT_EQ(shapes.at("transformer.layers.2.ffn.proj_1.weight"), (Shape{2 * 56, 32}));
  EXPECT_EQ(shapes.at("transformer.layers.0.ffn.proj_2.weight"), (Shape{32, 16}));
  EXPECT_EQ(shapes.at("transformer.layers.0.attn.q_norm.weight"), (Shape{8}));
  EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
  const std::unordered_map<std::string, Shape> quantized = ParameterShapes("openelm_4bit");
  EXPECT_EQ(quantized.count("transformer.layers.0.attn.q_norm.weight"), 0u);
  EXPECT_EQ(quantized.count("lm_head.scales"), 1u);
}

constexpr char kOlmoHybrid[] = R"("hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 5, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "vocab_size": 50, "max_position_embeddings": 4096,
    "linear_num_key_heads": 2, "linear_num_value_heads": 4, "linear_key_head_dim": 8,
    "linear_value_head_dim": 8, "linear_conv_kernel_dim": 4, "linear_allow_neg_eigval": true,
    "tie_word_embeddings": true, "attention_bias": false)";

TEST(Families9ArgsTest, OlmoHybridReadsAsMlxLm) {
  const ModelArgs args = Config("olmo_hybrid", kOlmoHybrid);
  // Every fourth layer full attention, the others gated delta nets.
  EXPECT_EQ(args.layer_types,
            (std::vector<std::string>{"linear_attention", "linear_attention", "linear_attention",
                                      "full_attention", "linear_attention"}));
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_TRUE(args.qk_norm_whole);
  EXPECT_TRUE(args.linear_allow_neg_eigval);
  EXPECT_EQ(args.mixer_rms_eps, 1e-5f);  // layer_norm_epsilon, the gated norm's
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_TRUE(args.rope);
  EXPECT_FALSE(args.attention_bias || args.output_bias);
  // rope_parameters' rope_theta over rope_theta; its default where it has none.
  EXPECT_EQ(
      Config("olmo_hybrid", std::string(kOlmoHybrid) +
                                R"(, "rope_theta": 7.0, "rope_parameters": {"rope_theta": 5e5})")
          .rope_theta,
      5e5f);
  EXPECT_EQ(Config("olmo_hybrid",
                   std::string(kOlmoHybrid) +
                       R"(, "rope_theta": 7.0, "rope_parameters": {"rope_type": "default"})")
                .rope_theta,
            10000.0f);
  EXPECT_FALSE(Config("olmo_hybrid", std::string(kOlmoHybrid) + R"(, "rope_theta": null)").rope);
  const ModelArgs biased = Config("olmo_hybrid", std::string(kOlmoHybrid) +
                                                     R"(, "num_key_value_heads": null,
      "attention_bias": true, "head_dim": 16, "layer_types": ["full_attention", "linear_attention",
      "sliding_attention", "full_attention", "linear_attention"])");
  EXPECT_EQ(biased.num_key_value_heads, 4);
  EXPECT_TRUE(biased.attention_bias && biased.output_bias);
  EXPECT_EQ(biased.head_dim, 16);
  // Any layer not "linear_attention" is a full attention layer, as mlx-lm's.
  EXPECT_EQ(biased.layer_types[2], "full_attention");
  EXPECT_EQ(Refusal([] {
              Config("olmo_hybrid",
                     std::string(kOlmoHybrid) + R"(, "layer_types": ["full_attention"])");
            }),
            "[ModelArgs] config.json's layer_types has 1 entries, not num_hidden_layers (5).");
  for (const std::string key :
       {"num_key_value_heads", "linear_allow_neg_eigval", "tie_word_embeddings", "attention_bias",
        "max_position_embeddings"}) {
    std::string missing = kOlmoHybrid;
    const std::string quoted = "\"" + key + "\"";
    missing.replace(missing.find(quoted), quoted.size(), R"("unused")");
    EXPECT_EQ(Refusal([&] { Config("olmo_hybrid", missing); }),
              "[ModelArgs] config.json lacks \"" + key + "\".")
        << key;
  }
  std::string uneven = kOlmoHybrid;
  uneven.replace(uneven.find(R"("linear_num_value_heads": 4)"), 27,
                 R"("linear_num_value_heads": 3)");
  EXPECT_EQ(Refusal([&] { Config("olmo_hybrid", uneven); }),
            "[ModelArgs] config.json's linear_* sizes must be positive, linear_conv_kernel_dim 2 "
            "or more and linear_num_value_heads (3) a multiple of linear_num_key_heads (2).");
}

// Hugging Face's conv weights (C, 1, K) moved and the tied lm_head dropped by sanitize; the
// linear layers' caches arrays caches of 4, the full layer's a plain one.
TEST(Families9ArgsTest, OlmoHybridSanitizesAndCachesAsMlxLm) {
  const auto saved = load_safetensors(TestData("olmo_hybrid/model.safetensors")).first;
  EXPECT_EQ(saved.at("model.layers.0.linear_attn.q_conv1d.weight").shape(), (Shape{16, 1, 4}));
  EXPECT_EQ(saved.count("lm_head.weight"), 1u);
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("olmo_hybrid");
  EXPECT_EQ(shapes.at("model.layers.0.linear_attn.q_conv1d.weight"), (Shape{16, 4, 1}));
  EXPECT_EQ(shapes.at("model.layers.2.linear_attn.v_conv1d.weight"), (Shape{32, 4, 1}));
  EXPECT_EQ(shapes.at("model.layers.0.linear_attn.o_norm.weight"), (Shape{8}));
  EXPECT_EQ(shapes.at("model.layers.3.self_attn.q_norm.weight"), (Shape{32}));
  EXPECT_EQ(shapes.at("model.layers.3.self_attn.k_norm.weight"), (Shape{16}));
  EXPECT_EQ(shapes.count("model.layers.3.input_layernorm.weight"), 0u);
  EXPECT_EQ(shapes.count("model.layers.0.post_feedforward_layernorm.weight"), 0u);
  EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
  std::unique_ptr<Model> model = load_model(TestData("olmo_hybrid"));
  const std::vector<KVCache> cache = model->make_cache();
  ASSERT_EQ(cache.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(cache[i].is_arrays()) << i;
  EXPECT_FALSE(cache[3].is_arrays());
  const std::unordered_map<std::string, Shape> quantized = ParameterShapes("olmo_hybrid_4bit");
  EXPECT_EQ(quantized.at("model.layers.1.self_attn.o_proj.bias"), (Shape{64}));
  EXPECT_EQ(quantized.count("lm_head.scales"), 1u);
}

TEST(Families9ArgsTest, Plamo2HasMlxLmsDefaults) {
  const ModelArgs args = Config("plamo2", "");
  EXPECT_EQ(args.hidden_size, 4096);
  EXPECT_EQ(args.num_hidden_layers, 32);
  EXPECT_EQ(args.num_attention_heads, 32);
  EXPECT_EQ(args.num_key_value_heads, 4);
  EXPECT_EQ(args.head_dim, 128);
  EXPECT_EQ(args.mamba_d_head, 128);
  EXPECT_EQ(args.mamba_n_heads, 64);
  EXPECT_EQ(args.mamba_d_state, 64);
  EXPECT_EQ(args.mamba_d_conv, 4);
  EXPECT_EQ(args.intermediate_size, 13312);
  EXPECT_EQ(args.vocab_size, 32000);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(args.time_step_limit, (std::pair<float, float>{0.001f, 100.0f}));
  ASSERT_EQ(args.layer_types.size(), 32u);
  EXPECT_EQ(args.layer_types[0], "mamba");
  EXPECT_EQ(args.layer_types[1], "attention");
  EXPECT_EQ(args.layer_types[31], "attention");
  // mamba_step 3: the layer in the middle of each three attends.
  EXPECT_EQ(Config("plamo2", R"("num_hidden_layers": 4, "mamba_step": 3)").layer_types,
            (std::vector<std::string>{"mamba", "attention", "mamba", "mamba"}));
  // No more layers than mamba_step / 2: the last attends.
  EXPECT_EQ(Config("plamo2", R"("num_hidden_layers": 2, "mamba_step": 6)").layer_types,
            (std::vector<std::string>{"mamba", "attention"}));
  EXPECT_EQ(Config("plamo2", R"("num_hidden_layers": 2, "mamba_enabled": false)").layer_types,
            (std::vector<std::string>{"attention", "attention"}));
  EXPECT_EQ(Refusal([] { Config("plamo2", R"("mamba_step": 1)"); }),
            "[ModelArgs] config.json's mamba_step (1) must be 2 or more.");
  EXPECT_EQ(Refusal([] { Config("plamo2", R"("num_key_value_heads": 5)"); }),
            "[ModelArgs] config.json's sizes must be positive and num_attention_heads (32) a "
            "multiple of num_key_value_heads (5).");
}

// Hugging Face's conv weights moved by sanitize; the decoder's layers under
// model.layers.layers; the mixers' dt width max(64, hidden / 16); Mamba layers' caches arrays
// caches of 2, the attention layers' plain ones.
TEST(Families9ArgsTest, Plamo2SanitizesAndCachesAsMlxLm) {
  const auto saved = load_safetensors(TestData("plamo2/model.safetensors")).first;
  EXPECT_EQ(saved.at("model.layers.layers.0.mixer.conv1d.weight").shape(), (Shape{32, 1, 4}));
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("plamo2");
  EXPECT_EQ(shapes.at("model.layers.layers.0.mixer.conv1d.weight"), (Shape{32, 4, 1}));
  EXPECT_EQ(shapes.at("model.layers.layers.0.mixer.bcdt_proj.weight"), (Shape{64 + 2 * 8, 32}));
  EXPECT_EQ(shapes.at("model.layers.layers.2.mixer.dt_proj.weight"), (Shape{4, 64}));
  EXPECT_EQ(shapes.at("model.layers.layers.0.mixer.in_proj.weight"), (Shape{2 * 32, 32}));
  EXPECT_EQ(shapes.at("model.layers.layers.1.mixer.qkv_proj.weight"), (Shape{(4 + 4) * 8, 32}));
  EXPECT_EQ(shapes.at("model.layers.layers.1.mixer.q_weight"), (Shape{4, 8}));
  EXPECT_EQ(shapes.at("model.layers.layers.3.mixer.k_weight"), (Shape{2, 8}));
  EXPECT_EQ(shapes.at("model.layers.layers.3.post_mlp_norm.weight"), (Shape{32}));
  EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
  std::unique_ptr<Model> model = load_model(TestData("plamo2"));
  const std::vector<KVCache> cache = model->make_cache();
  ASSERT_EQ(cache.size(), 4u);
  for (size_t i = 0; i < cache.size(); ++i) EXPECT_EQ(cache[i].is_arrays(), i % 2 == 0) << i;
  const std::unordered_map<std::string, Shape> quantized = ParameterShapes("plamo2_4bit");
  EXPECT_EQ(quantized.count("model.layers.layers.1.mixer.q_weight"), 1u);
  EXPECT_EQ(quantized.count("model.layers.layers.0.mixer.dt_bias"), 1u);
  EXPECT_EQ(quantized.count("lm_head.scales"), 1u);
}

// stream_generate gives mlx-lm's greedy tokens for each family, with a prefill in pieces of 4.
TEST(Families9Test, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm("lm_families_9_mlx.safetensors",
                              {std::begin(kModels), std::end(kModels)});
}

}  // namespace
}  // namespace ferry::lm
