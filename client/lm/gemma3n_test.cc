// Gemma 3n against mlx-lm 0.32.2 on MLX 0.32.4 (testdata/lm_gemma3n_mlx.py writes the models
// and what mlx-lm computes): the logits of a prompt through make_cache()'s caches (a prefill
// past the window, a shorter one continuing it, then a token at a time: the KV-shared layers
// reading the earlier layers' caches) for a Hugging Face checkpoint, an mlx-lm one and a 4-bit
// one; the weights sanitize keeps; and the config as mlx-lm reads it. models_mlx_test checks
// their whole-prompt logits (the KV-shared layers on their own keys) and greedy generation.

#include "client/lm/gemma3n.h"

#include <algorithm>
#include <cstdio>
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

using ::ferry::lm::testing::ExpectCachedLogitsAsMlxLm;
using ::ferry::lm::testing::ExpectKvSharedCachesAsMlxLm;
using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;

constexpr double kTolerance = 2e-4;

const std::unordered_map<std::string, Array>& Recorded() {
  static const auto* recorded = new std::unordered_map<std::string, Array>(
      load_safetensors(TestData("lm_gemma3n_mlx.safetensors")).first);
  return *recorded;
}

Array At(const std::string& name) { return Recorded().at(name); }

std::unordered_map<std::string, Shape> Shapes(const Model& model) {
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : model.parameters()) shapes[name] = array.shape();
  return shapes;
}

class Gemma3nMlxTest : public ::testing::TestWithParam<std::string> {};

// mlx-lm's make_cache: a cache per layer before the KV-shared ones, rotating where it slides.
// A prefill of 7 (past the window of 6), one of 5 continuing it, then a token at a time; and
// the prompt whole, without a cache.
TEST_P(Gemma3nMlxTest, LogitsWholeAndThroughMakeCacheCachesAreMlxLms) {
  const std::string name = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(name));
  std::vector<KVCache> cache = make_prompt_cache(*model);
  ASSERT_NO_FATAL_FAILURE(ExpectKvSharedCachesAsMlxLm(*model, cache, name));
  const Array prompt = expand_dims(At(name + ".prompt"), 0);
  const float worst = ExpectCachedLogitsAsMlxLm(*model, cache, prompt, At(name + ".cached_logits"),
                                                kTolerance, name);
  // Whole (models_mlx_test checks it too): the KV-shared layers on their own keys.
  const Array whole = astype((*model)(prompt), float32);
  const float whole_worst = max(abs(whole - At(name + ".logits"))).item<float>();
  ExpectAllClose(whole, At(name + ".logits"), kTolerance, kTolerance, name + " whole");
  std::printf("%s: logits at most %.2e (whole) and %.2e (cached) from mlx-lm's\n", name.c_str(),
              whole_worst, worst);
}

INSTANTIATE_TEST_SUITE_P(Models, Gemma3nMlxTest,
                         ::testing::Values("gemma3n", "gemma3n_mlx", "gemma3n_4bit"),
                         [](const auto& info) { return info.param; });

// sanitize drops the towers and their embedders; the KV-shared layers keep their own
// projections (used without a cache); the MLPs are as wide as each layer's intermediate_size.
TEST(Gemma3nTest, WeightsAreMlxLmsNames) {
  std::unique_ptr<Model> model = load_model(TestData("gemma3n"));
  std::unordered_map<std::string, Shape> shapes = Shapes(*model);
  const std::string layer = "model.language_model.layers.";
  EXPECT_EQ(shapes.at(layer + "5.self_attn.k_proj.weight"), (Shape{16, 32}));
  EXPECT_EQ(shapes.at(layer + "0.altup.prediction_coefs.weight"), (Shape{16, 4}));
  EXPECT_EQ(shapes.at(layer + "0.altup.correct_output_scale"), (Shape{32}));
  EXPECT_EQ(shapes.at(layer + "0.laurel.linear_left.weight"), (Shape{8, 32}));
  EXPECT_EQ(shapes.at("model.language_model.altup_unembed_projections.2.weight"), (Shape{32, 32}));
  EXPECT_EQ(shapes.at("model.language_model.embed_tokens_per_layer.weight"), (Shape{64, 48}));
  for (const auto& [name, shape] : shapes) {
    EXPECT_TRUE(name.rfind("model.language_model.", 0) == 0) << name;
  }
  EXPECT_FALSE(model->reads_quantized_cache());

  std::unique_ptr<Model> widths = load_model(TestData("gemma3n_mlx"));
  shapes = Shapes(*widths);
  EXPECT_EQ(shapes.at(layer + "1.mlp.up_proj.weight"), (Shape{48, 32}));
  EXPECT_EQ(shapes.at(layer + "3.mlp.down_proj.weight"), (Shape{32, 16}));
  EXPECT_TRUE(widths->reads_quantized_cache());

  // 4 bits in groups of 32; AltUp's coefficients (4 inputs) and per_layer_projection (8) not.
  std::unique_ptr<Model> quantized = load_model(TestData("gemma3n_4bit"));
  shapes = Shapes(*quantized);
  EXPECT_EQ(shapes.at(layer + "0.mlp.up_proj.weight"), (Shape{64, 8}));
  EXPECT_EQ(shapes.at(layer + "0.altup.modality_router.weight"), (Shape{4, 8}));
  EXPECT_EQ(shapes.at(layer + "0.altup.correction_coefs.weight"), (Shape{4, 4}));
  EXPECT_EQ(shapes.at(layer + "0.per_layer_projection.weight"), (Shape{64, 8}));
  EXPECT_EQ(shapes.count(layer + "0.per_layer_projection.scales"), 0u);
  EXPECT_EQ(shapes.count(layer + "0.altup.prediction_coefs.scales"), 0u);
  EXPECT_EQ(shapes.count(layer + "0.mlp.up_proj.scales"), 1u);
}

constexpr char kText[] = R"("model_type": "gemma3n_text", "hidden_size": 64,
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 16, "rms_norm_eps": 1e-6, "vocab_size": 100, "num_kv_shared_layers": 2,
    "vocab_size_per_layer_input": 50, "hidden_size_per_layer_input": 8, "sliding_window": 16,
    "max_position_embeddings": 4096, "rope_local_base_freq": 10000.0, "rope_theta": 1000000.0,
    "altup_num_inputs": 4, "altup_correct_scale": true, "altup_active_idx": 0,
    "laurel_rank": 8, "rope_scaling": {"rope_type": "linear", "factor": 8.0})";

ModelArgs Text(const std::string& more) {
  return ModelArgs::from_json(std::string(R"({"model_type": "gemma3n", "text_config": {)") + kText +
                              more + "}}");
}

TEST(Gemma3nTest, ConfigIsReadAsMlxLmReadsIt) {
  const ModelArgs args = Text(R"(, "intermediate_size": [64, 96, 64, 32],
      "final_logit_softcapping": 30.0, "altup_coef_clip": 120.0,
      "activation_sparsity_pattern": [0.95, 0.95, 0.0, 0.0],
      "layer_types": ["sliding_attention", "full_attention", "sliding_attention",
                      "full_attention"])");
  EXPECT_EQ(args.model_type, "gemma3n");
  EXPECT_EQ(args.intermediate_sizes, (std::vector<int64_t>{64, 96, 64, 32}));
  EXPECT_EQ(args.activation_sparsity_pattern, (std::vector<float>{0.95f, 0.95f, 0.0f, 0.0f}));
  EXPECT_FLOAT_EQ(args.final_logit_softcapping, 30.0f);
  EXPECT_FLOAT_EQ(args.altup_coef_clip, 120.0f);
  EXPECT_EQ(args.altup_num_inputs, 4);
  EXPECT_TRUE(args.altup_correct_scale);
  EXPECT_EQ(args.laurel_rank, 8);
  EXPECT_FLOAT_EQ(args.rope_local_base_freq, 1e4f);
  EXPECT_FLOAT_EQ(args.rope_theta, 1e6f);
  EXPECT_EQ(args.rope_type, "default");  // rope_scaling is not read
  EXPECT_TRUE(args.rope_scaling.empty());
  EXPECT_TRUE(args.tie_word_embeddings);

  const ModelArgs nulls = Text(R"(, "intermediate_size": 128,
      "final_logit_softcapping": null, "altup_coef_clip": null,
      "activation_sparsity_pattern": null,
      "layer_types": ["sliding_attention", "full_attention", "sliding_attention",
                      "full_attention"])");
  EXPECT_EQ(nulls.intermediate_size, 128);
  EXPECT_TRUE(nulls.intermediate_sizes.empty());
  EXPECT_TRUE(nulls.activation_sparsity_pattern.empty());
  EXPECT_EQ(nulls.final_logit_softcapping, 0.0f);
  EXPECT_EQ(nulls.altup_coef_clip, 0.0f);
}

TEST(Gemma3nTest, BadConfigsAreNamed) {
  auto message = [](const std::string& json) {
    try {
      ModelArgs::from_json(json);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto text = [&](const std::string& more) {
    return message(std::string(R"({"model_type": "gemma3n", "text_config": {)") + kText + more +
                   "}}");
  };
  const std::string rest = R"(, "final_logit_softcapping": 30.0, "altup_coef_clip": null,
      "activation_sparsity_pattern": null)";
  EXPECT_EQ(message(R"({"model_type": "gemma3n"})"),
            "[ModelArgs] config.json's text_config is missing or not an object.");
  // The full layers are all KV-shared: mlx-lm finds none before them to read.
  EXPECT_EQ(text(R"(, "intermediate_size": 64, "layer_types": ["sliding_attention",
                "sliding_attention", "full_attention", "full_attention"])" +
                 rest),
            "[ModelArgs] config.json's layer_types has no full_attention layer before the "
            "KV-shared ones.");
  EXPECT_EQ(text(R"(, "intermediate_size": [64, 64], "layer_types": ["sliding_attention",
                "full_attention", "sliding_attention", "full_attention"])" +
                 rest),
            "[ModelArgs] config.json's intermediate_size has 2 entries, fewer than "
            "num_hidden_layers (4).");
  EXPECT_EQ(text(R"(, "intermediate_size": 64, "layer_types": ["sliding_attention",
                "full_attention", "sliding_attention", "full_attention"],
                "final_logit_softcapping": 30.0, "altup_coef_clip": null,
                "activation_sparsity_pattern": [0.95, 1.0, 0.0, 0.0])"),
            "[ModelArgs] config.json's activation_sparsity_pattern holds 1, not from 0 up to 1.");
  EXPECT_EQ(text(R"(, "intermediate_size": 64, "final_logit_softcapping": 30.0,
                "altup_coef_clip": null, "activation_sparsity_pattern": null)"),
            "[ModelArgs] config.json lacks \"layer_types\".");
}

}  // namespace
}  // namespace ferry::lm
