// Gemma (1), Cohere (Command-R), Phi (Phi-2) and StableLM as mlx-lm 0.32.2 builds them
// (testdata/lm_families_4_mlx.py writes the models and what mlx-lm computes; models_mlx_test.cc
// holds their logits, a token at a time too, and greedy runs): their configs read as mlx-lm
// reads them, what is missing or inconsistent named, the layers each config asks for, and
// stream_generate through them.

#include <cstdio>
#include <functional>
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
#include "client/lm/tokenizer.h"
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

constexpr char kSizes[] = R"("hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
    "vocab_size": 50)";

TEST(Families4ArgsTest, GemmaReadsAsMlxLm) {
  const ModelArgs args =
      Config("gemma", std::string(kSizes) + R"(, "rms_norm_eps": 1e-6, "head_dim": 16,
          "hidden_activation": "gelu_pytorch_tanh")");
  EXPECT_EQ(args.head_dim, 16);  // not hidden_size / heads
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_FALSE(args.rope_traditional);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([] { Config("gemma", std::string(kSizes) + R"(, "rms_norm_eps": 1e-6)"); }),
            "[ModelArgs] config.json lacks \"head_dim\".");
  // Gemma's norms and its MLP, and no lm_head: the embedding is the output.
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("gemma");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_proj.weight"), (Shape{64, 32}));
  EXPECT_EQ(shapes.at("model.layers.2.post_attention_layernorm.weight"), (Shape{32}));
  EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
}

TEST(Families4ArgsTest, CohereHasMlxLmsDefaults) {
  const ModelArgs args = Config("cohere", "");
  EXPECT_EQ(args.hidden_size, 8192);
  EXPECT_EQ(args.num_hidden_layers, 40);
  EXPECT_EQ(args.intermediate_size, 22528);
  EXPECT_EQ(args.num_attention_heads, 64);
  EXPECT_EQ(args.num_key_value_heads, 64);
  EXPECT_EQ(args.head_dim, 128);
  EXPECT_EQ(args.rope_theta, 8000000.0f);
  EXPECT_EQ(args.vocab_size, 256000);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);  // layer_norm_eps
  EXPECT_EQ(args.logit_scale, 0.0625f);
  EXPECT_TRUE(args.layer_norm);
  EXPECT_FALSE(args.layer_norm_bias);
  EXPECT_FALSE(args.attention_bias || args.output_bias);
  EXPECT_FALSE(args.qk_norm);
  EXPECT_TRUE(args.rope_traditional);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(args.sliding_window, 0);  // every layer sees every position
  EXPECT_TRUE(Config("cohere", R"("use_qk_norm": true)").qk_norm);
  const ModelArgs biased = Config("cohere", R"("attention_bias": true)");
  EXPECT_TRUE(biased.attention_bias && biased.output_bias);
}

// use_qk_norm's LayerNorm2D: one weight (heads, head_dim) for the queries, one for the keys.
TEST(Families4ArgsTest, CohereNormsEachHeadWhereAsked) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("cohere");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_norm.weight"), (Shape{4, 8}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.k_norm.weight"), (Shape{2, 8}));
  EXPECT_EQ(shapes.count("model.layers.0.input_layernorm.bias"), 0u);
  const std::unordered_map<std::string, Shape> biased = ParameterShapes("cohere_4bit");
  EXPECT_EQ(biased.count("model.layers.0.self_attn.q_norm.weight"), 0u);
  EXPECT_EQ(biased.at("model.layers.0.self_attn.o_proj.bias"), (Shape{64}));
  EXPECT_EQ(biased.at("model.norm.bias"), (Shape{64}));
}

TEST(Families4ArgsTest, PhiHasMlxLmsDefaults) {
  const ModelArgs args = Config("phi", "");
  EXPECT_EQ(args.hidden_size, 2560);
  EXPECT_EQ(args.num_hidden_layers, 32);
  EXPECT_EQ(args.num_attention_heads, 32);
  EXPECT_EQ(args.num_key_value_heads, 32);
  EXPECT_EQ(args.head_dim, 80);
  EXPECT_EQ(args.partial_rotary_factor, 0.4f);
  EXPECT_EQ(args.intermediate_size, 10240);
  EXPECT_EQ(args.vocab_size, 51200);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);  // layer_norm_eps
  EXPECT_TRUE(args.attention_bias && args.output_bias && args.mlp_bias);
  EXPECT_TRUE(args.layer_norm && args.layer_norm_bias);
  EXPECT_FALSE(args.tie_word_embeddings);
  // Phi-2's config says null: the query heads'. Absent, mlx-lm's default (32).
  EXPECT_EQ(Config("phi", R"("num_attention_heads": 16, "num_key_value_heads": null)")
                .num_key_value_heads,
            16);
}

TEST(Families4ArgsTest, PhiInconsistenciesAreNamed) {
  EXPECT_EQ(Refusal([] { Config("phi", R"("hidden_size": 30, "num_attention_heads": 4)"); }),
            "[ModelArgs] config.json's hidden_size (30) must be a multiple of "
            "num_attention_heads (4).");
  EXPECT_EQ(Refusal([] { Config("phi", R"("partial_rotary_factor": 0.01)"); }),
            "[ModelArgs] config.json's partial_rotary_factor gives 0 rotated features of "
            "head_dim 80; they must be even, 2 or more, at most head_dim.");
}

// Every Linear biased, lm_head too; the attention's output "dense", the last norm
// "final_layernorm".
TEST(Families4ArgsTest, PhiIsBiasedEverywhere) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("phi");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.dense.bias"), (Shape{64}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.fc1.bias"), (Shape{96}));
  EXPECT_EQ(shapes.at("model.final_layernorm.bias"), (Shape{64}));
  EXPECT_EQ(shapes.at("lm_head.bias"), (Shape{96}));
  EXPECT_EQ(ParameterShapes("phi_4bit").at("lm_head.bias"), (Shape{96}));
}

TEST(Families4ArgsTest, StablelmReadsAsMlxLm) {
  const std::string stablelm = std::string(kSizes) + R"(, "rope_theta": 10000.0,
      "partial_rotary_factor": 0.25, "layer_norm_eps": 1e-5)";
  const ModelArgs args = Config("stablelm", stablelm + R"(, "use_qkv_bias": true)");
  EXPECT_TRUE(args.attention_bias);
  EXPECT_FALSE(args.output_bias);  // o_proj never
  EXPECT_FALSE(args.parallel_residual);
  EXPECT_FALSE(args.qk_norm);
  EXPECT_TRUE(args.layer_norm && args.layer_norm_bias);
  EXPECT_FALSE(args.tie_word_embeddings);
  const ModelArgs parallel = Config(
      "stablelm",
      stablelm + R"(, "use_qkv_bias": false, "use_parallel_residual": true, "qk_layernorm": true)");
  EXPECT_TRUE(parallel.parallel_residual && parallel.qk_norm);
  EXPECT_EQ(Refusal([=] { Config("stablelm", stablelm); }),
            "[ModelArgs] config.json lacks \"use_qkv_bias\".");
  EXPECT_EQ(Refusal([=] {
              Config("stablelm", stablelm + R"(, "use_qkv_bias": false,
                  "partial_rotary_factor": 0.1)");
            }),
            "[ModelArgs] config.json's partial_rotary_factor gives 0 rotated features of "
            "head_dim 8; they must be even, 2 or more, at most head_dim.");
}

// qk_layernorm's LayerNorm per head ("norms.N"), and use_parallel_residual's single norm.
TEST(Families4ArgsTest, StablelmBuildsTheLayersItsConfigAsks) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("stablelm");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_layernorm.norms.3.weight"), (Shape{8}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.k_layernorm.norms.1.weight"), (Shape{8}));
  EXPECT_EQ(shapes.count("model.layers.0.self_attn.k_layernorm.norms.2.weight"), 0u);
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_proj.bias"), (Shape{32}));
  EXPECT_EQ(shapes.count("model.layers.0.self_attn.o_proj.bias"), 0u);
  EXPECT_EQ(shapes.at("model.layers.0.post_attention_layernorm.bias"), (Shape{32}));
  const std::unordered_map<std::string, Shape> parallel = ParameterShapes("stablelm_4bit");
  EXPECT_EQ(parallel.count("model.layers.0.post_attention_layernorm.weight"), 0u);
  EXPECT_EQ(parallel.count("model.layers.0.self_attn.q_proj.bias"), 0u);
}

// stream_generate gives mlx-lm's greedy tokens for each family, with a prefill in pieces of 4.
TEST(Families4Test, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm("lm_families_4_mlx.safetensors",
                              {"gemma", "gemma_4bit", "cohere", "cohere_4bit", "phi", "phi_4bit",
                               "stablelm", "stablelm_4bit"});
}

}  // namespace
}  // namespace ferry::lm
