// Granite, Granite-MoE, Cohere 2 and StarCoder 2 as mlx-lm 0.32.2 builds them
// (testdata/lm_more_families_mlx.py writes the models and what mlx-lm computes;
// models_mlx_test.cc holds their logits, a token at a time too, and greedy runs): their
// configs read as mlx-lm reads them, what is missing or inconsistent named, Hugging Face's
// Granite-MoE experts split as mlx-lm's sanitize splits them, convert's 8-bit layers, and
// stream_generate through them.

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/model_args.h"
#include "client/lm/tokenizer.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;

constexpr char kGranite[] = R"("hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "vocab_size": 50, "logits_scaling": 8.0,
    "attention_multiplier": 0.015625, "embedding_multiplier": 12.0,
    "residual_multiplier": 0.22, "max_position_embeddings": 4096, "attention_bias": false,
    "rope_theta": 10000000.0)";

ModelArgs Config(const std::string& type, const std::string& fields) {
  return ModelArgs::from_json(R"({"model_type": ")" + type + R"(")" + (fields.empty() ? "" : ", ") +
                              fields + "}");
}

std::string Refusal(const std::function<void()>& read) {
  try {
    read();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "no error";
}

TEST(MoreFamiliesArgsTest, GraniteReadsItsMultipliers) {
  const ModelArgs args = Config("granite", std::string(kGranite) + R"(, "mlp_bias": true,
          "rope_scaling": {"rope_type": "llama3", "factor": 8.0})");
  EXPECT_EQ(args.embedding_multiplier, 12.0f);
  EXPECT_EQ(args.attention_multiplier, 0.015625f);
  EXPECT_EQ(args.residual_multiplier, 0.22f);
  EXPECT_EQ(args.logits_scaling, 8.0f);
  EXPECT_EQ(args.head_dim, 8);  // hidden_size / num_attention_heads, always
  EXPECT_TRUE(args.mlp_bias);
  EXPECT_FALSE(args.attention_bias);
  EXPECT_TRUE(args.tie_word_embeddings);  // mlx-lm's default
  EXPECT_EQ(args.rope_type, "llama3");
  EXPECT_FALSE(args.layer_norm);
}

TEST(MoreFamiliesArgsTest, GraniteRequiresWhatMlxLmRequires) {
  EXPECT_EQ(Refusal([] { Config("granite", kGranite); }),
            "[ModelArgs] config.json lacks \"mlp_bias\".");
  // Every multiplier: mlx-lm's dataclass has no default for them.
  EXPECT_EQ(Refusal([] {
              Config("granite", R"("hidden_size": 32, "num_hidden_layers": 2,
                "intermediate_size": 64, "num_attention_heads": 4, "rms_norm_eps": 1e-6,
                "vocab_size": 50, "attention_multiplier": 0.1)");
            }),
            "[ModelArgs] config.json lacks \"logits_scaling\".");
  EXPECT_EQ(Refusal([] {
              Config("granite",
                     std::string(kGranite) + R"(, "mlp_bias": false, "logits_scaling": 0)");
            }),
            "[ModelArgs] config.json's attention_multiplier (0.015625) must be positive and "
            "logits_scaling (0) not 0.");
}

TEST(MoreFamiliesArgsTest, GraniteMoeReadsItsExperts) {
  const ModelArgs args = Config(
      "granitemoe", std::string(kGranite) + R"(, "num_local_experts": 8, "num_experts_per_tok": 2,
          "tie_word_embeddings": false)");
  EXPECT_EQ(args.num_experts, 8);
  EXPECT_EQ(args.num_experts_per_tok, 2);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([] { Config("granitemoe", kGranite); }),
            "[ModelArgs] config.json lacks \"num_local_experts\".");
  EXPECT_EQ(Refusal([] {
              Config("granitemoe", std::string(kGranite) +
                                       R"(, "num_local_experts": 2, "num_experts_per_tok": 3)");
            }),
            "[ModelArgs] config.json's num_experts_per_tok (3) must be from 1 to "
            "num_local_experts (2).");
}

TEST(MoreFamiliesArgsTest, Cohere2HasMlxLmsDefaults) {
  const ModelArgs args = Config("cohere2", "");
  EXPECT_EQ(args.hidden_size, 4096);
  EXPECT_EQ(args.head_dim, 128);
  EXPECT_EQ(args.num_hidden_layers, 32);
  EXPECT_EQ(args.num_key_value_heads, 8);
  EXPECT_EQ(args.rope_theta, 50000.0f);
  EXPECT_EQ(args.vocab_size, 256000);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);  // layer_norm_eps
  EXPECT_EQ(args.logit_scale, 0.0625f);
  EXPECT_EQ(args.sliding_window, 4096);
  EXPECT_EQ(args.sliding_window_pattern, 4);
  EXPECT_TRUE(args.layer_norm);
  EXPECT_FALSE(args.layer_norm_bias);
  EXPECT_TRUE(args.rope_traditional);
  EXPECT_TRUE(args.tie_word_embeddings);
}

TEST(MoreFamiliesArgsTest, Cohere2InconsistenciesAreNamed) {
  EXPECT_EQ(Refusal([] { Config("cohere2", R"("hidden_size": 64, "head_dim": 8)"); }),
            "[ModelArgs] config.json's head_dim (8) times num_attention_heads (32) is not "
            "hidden_size (64).");
  EXPECT_EQ(Refusal([] {
              Config("cohere2", R"("hidden_size": 32, "head_dim": 8, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "num_hidden_layers": 3)");
            }),
            "[ModelArgs] config.json's sliding_window (4096) must be positive and "
            "sliding_window_pattern (4) from 1 to num_hidden_layers (3).");
}

// The global layers (every fourth) see no window; make_prompt_cache rings the others.
TEST(MoreFamiliesArgsTest, Cohere2SlidesAllButEachPatternthLayer) {
  std::unique_ptr<Model> model = load_model(TestData("cohere2"));
  const std::vector<std::optional<int64_t>> windows = {6, 6, 6, std::nullopt, 6};
  for (int layer = 0; layer < 5; ++layer) {
    EXPECT_EQ(model->sliding_window(layer), windows[layer]) << "layer " << layer;
  }
}

TEST(MoreFamiliesArgsTest, Starcoder2IsBiasedWithLayerNorms) {
  const ModelArgs args = Config("starcoder2", R"("hidden_size": 32, "num_hidden_layers": 2,
      "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
      "sliding_window": 8)");
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);  // norm_epsilon's default
  EXPECT_EQ(args.vocab_size, 49152);
  EXPECT_EQ(args.rope_theta, 100000.0f);
  EXPECT_TRUE(args.attention_bias && args.output_bias);
  EXPECT_TRUE(args.layer_norm && args.layer_norm_bias);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(args.sliding_window, 0);  // mlx-lm reads none
  EXPECT_EQ(Refusal([] { Config("starcoder2", R"("hidden_size": 32)"); }),
            "[ModelArgs] config.json lacks \"num_hidden_layers\".");
}

// Hugging Face's fused input_linear (E, 2 * intermediate, hidden): gate's rows, then up's.
TEST(MoreFamiliesTest, GraniteMoeSanitizeSplitsInputLinear) {
  std::unique_ptr<Model> model =
      make_model(Config("granitemoe", std::string(kGranite) +
                                          R"(, "num_local_experts": 2, "num_experts_per_tok": 1)"));
  const std::string moe = "model.layers.0.block_sparse_moe.";
  const Array fused = reshape(arange(0, 2 * 6 * 3, float32), {2, 6, 3});
  const Array output = ones({2, 3, 3});
  const nn::Parameters sanitized = model->sanitize(
      {{moe + "input_linear.weight", fused}, {moe + "output_linear.weight", output}});
  std::unordered_map<std::string, Array> got(sanitized.begin(), sanitized.end());
  ASSERT_EQ(got.size(), 3u);
  ExpectAllClose(got.at(moe + "switch_mlp.gate_proj.weight"), slice(fused, {0, 0, 0}, {2, 3, 3}), 0,
                 0, "gate_proj");
  ExpectAllClose(got.at(moe + "switch_mlp.up_proj.weight"), slice(fused, {0, 3, 0}, {2, 6, 3}), 0,
                 0, "up_proj");
  ExpectAllClose(got.at(moe + "switch_mlp.down_proj.weight"), output, 0, 0, "down_proj");
}

// mlx-lm's quant_predicate: what convert quantizes at 8 bits in groups of 64.
TEST(MoreFamiliesTest, GraniteKeepsItsSmallLayersAt8Bits) {
  const std::pair<int, int> eight = {64, 8};
  std::unique_ptr<Model> granite =
      make_model(Config("granite", std::string(kGranite) + R"(, "mlp_bias": false)"));
  EXPECT_EQ(granite->own_quantization("model.layers.0.self_attn.o_proj"), eight);
  EXPECT_EQ(granite->own_quantization("model.layers.0.mlp.down_proj"), eight);
  EXPECT_EQ(granite->own_quantization("lm_head"), eight);
  EXPECT_EQ(granite->own_quantization("model.layers.0.self_attn.q_proj"), std::nullopt);
  std::unique_ptr<Model> moe =
      make_model(Config("granitemoe", std::string(kGranite) +
                                          R"(, "num_local_experts": 2, "num_experts_per_tok": 1)"));
  EXPECT_EQ(moe->own_quantization("model.layers.1.block_sparse_moe.router.layer"), eight);
  EXPECT_EQ(moe->own_quantization("model.layers.1.block_sparse_moe.switch_mlp.gate_proj"),
            std::nullopt);
}

// stream_generate gives mlx-lm's greedy tokens for each family, with a prefill in pieces of 4
// (which straddle Cohere 2's window of 6).
TEST(MoreFamiliesTest, StreamGenerateGivesMlxLmsTokens) {
  std::unordered_map<std::string, Array> recorded =
      load_safetensors(TestData("lm_more_families_mlx.safetensors")).first;
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  for (const std::string name : {"granite", "granitemoe", "cohere2", "starcoder2"}) {
    std::unique_ptr<Model> model = load_model(TestData(name));
    const std::vector<int32_t> want = recorded.at(name + ".greedy").to_vector<int32_t>();
    GenerateOptions options;
    options.max_tokens = static_cast<int>(want.size());
    options.prefill_step_size = 4;
    std::vector<int32_t> streamed;
    stream_generate(*model, tokenizer, recorded.at(name + ".prompt").to_vector<int32_t>(), options,
                    [&](const GenerationResponse& response) {
                      streamed.push_back(response.token);
                      return true;
                    });
    EXPECT_EQ(streamed, want) << name;
  }
}

}  // namespace
}  // namespace ferry::lm
