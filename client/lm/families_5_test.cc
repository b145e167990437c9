// InternLM2, MiniCPM, MiniCPM3, Nemotron and EXAONE (3, 3.5) as mlx-lm 0.32.2 builds them
// (testdata/lm_families_5_mlx.py writes the models and what mlx-lm computes; models_mlx_test.cc
// holds their logits, a token at a time too, and greedy runs): their configs read as mlx-lm
// reads them, what is missing or inconsistent named, sanitize, and stream_generate through them.

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

TEST(Families5ArgsTest, Internlm2ReadsAsMlxLm) {
  const ModelArgs args = Config("internlm2", R"("hidden_size": 32, "num_hidden_layers": 2,
      "intermediate_size": 64, "num_attention_heads": 4, "rms_norm_eps": 1e-5,
      "vocab_size": 50)");
  EXPECT_EQ(args.num_key_value_heads, 4);  // the query heads' where omitted
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_TRUE(args.attention_bias);  // `bias` defaults to true
  EXPECT_TRUE(args.output_bias);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(args.max_position_embeddings, 32768);
  // Dynamic NTK is plain RoPE within max_position_embeddings; linear divides the positions.
  const std::string sizes = std::string(kSizes) + R"(, "rms_norm_eps": 1e-5)";
  EXPECT_EQ(Config("internlm2", sizes + R"(, "rope_scaling": {"type": "dynamic", "factor": 2.0})")
                .rope_type,
            "default");
  EXPECT_EQ(Config("internlm2", sizes + R"(, "rope_scaling": {"type": "linear", "factor": 2.0})")
                .rope_type,
            "linear");
  EXPECT_EQ(Refusal([&] {
              Config("internlm2", sizes + R"(, "rope_scaling": {"rope_type": "linear",
                                                               "factor": 2.0})");
            }),
            "[ModelArgs] config.json's rope_scaling is {\"factor\":2.0,\"rope_type\":\"linear\"}; "
            "InternLM2's needs a factor and type \"linear\" or \"dynamic\".");
  EXPECT_EQ(Refusal([] { Config("internlm2", kSizes); }),
            "[ModelArgs] config.json lacks \"rms_norm_eps\".");
}

TEST(Families5ArgsTest, Internlm2SanitizesAwayTheRotaryTable) {
  // The checkpoint holds model.layers.0.attention.rope.inv_freq; load would refuse it.
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("internlm2");
  EXPECT_EQ(shapes.at("model.layers.0.attention.wqkv.weight"), (Shape{64, 32}));  // 4 + 2 * 2
  EXPECT_EQ(shapes.at("model.layers.0.attention.wqkv.bias"), (Shape{64}));
  EXPECT_EQ(shapes.at("output.weight"), (Shape{96, 32}));
  EXPECT_EQ(shapes.count("model.layers.0.attention.rope.inv_freq"), 0u);
  EXPECT_EQ(ParameterShapes("internlm2_4bit").count("output.weight"), 0u);  // tied
}

TEST(Families5ArgsTest, MinicpmReadsItsScales) {
  const std::string minicpm = std::string(kSizes) + R"(, "rms_norm_eps": 1e-5,
      "dim_model_base": 8, "scale_depth": 1.4, "scale_emb": 12)";
  const ModelArgs args = Config("minicpm", minicpm);
  EXPECT_FLOAT_EQ(args.embedding_multiplier, 12.0f);
  EXPECT_FLOAT_EQ(args.residual_multiplier, static_cast<float>(1.4 / std::sqrt(2.0)));
  EXPECT_FLOAT_EQ(args.logits_scaling, 4.0f);  // hidden_size / dim_model_base
  EXPECT_EQ(args.rope_theta, 1e6f);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([] {
              Config("minicpm", std::string(kSizes) + R"(, "rms_norm_eps": 1e-5,
                  "dim_model_base": 8, "scale_depth": 1.4)");
            }),
            "[ModelArgs] config.json lacks \"scale_emb\".");
  // The minicpm checkpoint has no lm_head.weight: sanitize gives it the embedding's.
  std::unique_ptr<Model> model = load_model(TestData("minicpm"));
  Array lm_head = model->parameters()[0].second, embed = lm_head;
  for (const auto& [name, array] : model->parameters()) {
    if (name == "lm_head.weight") lm_head = array;
    if (name == "model.embed_tokens.weight") embed = array;
  }
  EXPECT_EQ(max(abs(lm_head - embed)).item<float>(), 0.0f);
  EXPECT_EQ(lm_head.shape(), (Shape{96, 32}));
}

TEST(Families5ArgsTest, Minicpm3ReadsItsLatentAndSuScaledRope) {
  const std::string minicpm3 = std::string(kSizes) + R"(, "rms_norm_eps": 1e-5,
      "dim_model_base": 8, "scale_depth": 1.4, "scale_emb": 12, "q_lora_rank": 16,
      "qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "kv_lora_rank": 16,
      "max_position_embeddings": 64)";
  const ModelArgs args =
      Config("minicpm3", minicpm3 + R"(, "rope_scaling": {"long_factor": 2.0, "short_factor": 1.0,
                                                   "original_max_position_embeddings": 16})");
  EXPECT_EQ(args.v_head_dim, 8);  // hidden_size / heads
  EXPECT_EQ(args.head_dim, 16);   // the queries': nope + rope
  EXPECT_EQ(args.num_key_value_heads, 4);
  EXPECT_EQ(args.rope_type, "longrope");
  EXPECT_EQ(args.rope_long_factor, (std::vector<float>{2, 2, 2, 2}));  // a number, broadcast
  EXPECT_EQ(args.rope_scaling.at("original_max_position_embeddings"), 16);
  EXPECT_EQ(Config("minicpm3", minicpm3 + R"(, "rope_scaling": {})")
                .rope_scaling.at("original_max_position_embeddings"),
            4096);
  EXPECT_EQ(Refusal([&] { Config("minicpm3", minicpm3); }),
            "[ModelArgs] config.json lacks \"rope_scaling\", which MiniCPM3's SuScaledRoPE reads.");
  EXPECT_EQ(Refusal([&] {
              Config("minicpm3", minicpm3 + R"(, "rope_scaling": {"long_factor": [1, 2, 3]})");
            }),
            "[ModelArgs] config.json's rope_scaling long_factor has 3 entries for "
            "qk_rope_head_dim / 2 (4).");
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("minicpm3");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.kv_b_proj.weight"), (Shape{64, 16}));  // 4*(8+8)
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_b_proj.weight"), (Shape{64, 16}));
  EXPECT_EQ(shapes.count("model.layers.0.self_attn.q_a_proj.bias"), 0u);
  EXPECT_EQ(ParameterShapes("minicpm3_4bit").count("model.layers.0.self_attn.q_a_proj.bias"), 1u);
}

TEST(Families5ArgsTest, NemotronReadsAsMlxLm) {
  const std::string nemotron = std::string(kSizes) + R"(, "norm_eps": 1e-5,
      "hidden_act": "relu2")";
  const ModelArgs args = Config("nemotron", nemotron + R"(, "rope_traditional": true)");
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.partial_rotary_factor, 0.5f);
  EXPECT_FALSE(args.rope_traditional);  // nn.RoPE's default, whatever the config says
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(Config("nemotron", nemotron + R"(, "head_dim": 16)").head_dim, 16);
  EXPECT_EQ(Config("nemotron", nemotron + R"(, "rope_scaling": {"type": "linear", "factor": 2.0})")
                .rope_type,
            "linear");
  EXPECT_EQ(Refusal([&] {
              Config("nemotron", nemotron + R"(, "rope_scaling": {"type": "linear", "factor": 2})");
            }),
            "[ModelArgs] config.json's rope_scaling is {\"factor\":2,\"type\":\"linear\"}; "
            "Nemotron's needs type \"linear\" and a float factor.");
  EXPECT_EQ(Refusal([] { Config("nemotron", std::string(kSizes) + R"(, "norm_eps": 1e-5)"); }),
            "[ModelArgs] config.json lacks \"hidden_act\".");
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("nemotron");
  EXPECT_EQ(shapes.at("model.layers.0.input_layernorm.bias"), (Shape{32}));
  EXPECT_EQ(shapes.count("model.layers.0.mlp.gate_proj.weight"), 0u);
  EXPECT_EQ(shapes.at("model.layers.0.mlp.up_proj.weight"), (Shape{64, 32}));
  EXPECT_EQ(ParameterShapes("nemotron_4bit").count("model.layers.0.mlp.up_proj.bias"), 1u);
}

TEST(Families5ArgsTest, ExaoneReadsAsMlxLm) {
  const std::string exaone = R"("hidden_size": 32, "num_layers": 2, "intermediate_size": 64,
      "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 50,
      "rope_theta": 10000.0, "layer_norm_epsilon": 1e-5)";
  const ModelArgs args = Config("exaone", exaone);
  EXPECT_EQ(args.num_hidden_layers, 2);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([&] { Config("exaone", exaone + R"(, "head_dim": 16)"); }),
            "[ModelArgs] config.json's head_dim (16) times num_attention_heads (4) is not "
            "hidden_size (32), as EXAONE's attention needs.");
  EXPECT_EQ(Refusal([] { Config("exaone", kSizes); }),
            "[ModelArgs] config.json lacks \"num_layers\".");
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("exaone");
  EXPECT_EQ(shapes.at("transformer.h.0.attn.attention.out_proj.weight"), (Shape{32, 32}));
  EXPECT_EQ(shapes.at("transformer.h.2.mlp.c_fc_1.weight"), (Shape{64, 32}));
  EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
  EXPECT_EQ(ParameterShapes("exaone_4bit").count("lm_head.weight"), 1u);
}

const std::vector<std::string>& Names() {
  static const std::vector<std::string> names = {
      "internlm2",     "internlm2_4bit", "minicpm",       "minicpm_4bit", "minicpm3",
      "minicpm3_4bit", "nemotron",       "nemotron_4bit", "exaone",       "exaone_4bit"};
  return names;
}

// stream_generate gives mlx-lm's greedy tokens for each family, with a prefill in pieces of 4.
TEST(Families5Test, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm("lm_families_5_mlx.safetensors", Names());
}

}  // namespace
}  // namespace ferry::lm
