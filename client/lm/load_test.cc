// config.json as mlx-lm reads it (each family's defaults, what ferry::lm does not build),
// and loading a model directory: what is missing or malformed is named.

#include "client/lm/load.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "client/error.h"
#include "client/lm/model_args.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::testing::Failure;

constexpr char kSizes[] = R"("hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 64, "num_attention_heads": 4, "rms_norm_eps": 1e-5,
    "vocab_size": 50)";

ModelArgs Args(const std::string& fields) {
  return ModelArgs::from_json(std::string("{") + kSizes + ", " + fields + "}");
}

std::string TempDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/" + name;
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(ModelArgsTest, EachFamilyHasMlxLmsDefaults) {
  const ModelArgs llama = Args(R"("model_type": "llama")");
  EXPECT_EQ(llama.num_key_value_heads, 4);
  EXPECT_EQ(llama.head_dim, 8);
  EXPECT_FALSE(llama.attention_bias);
  EXPECT_TRUE(llama.tie_word_embeddings);
  EXPECT_EQ(llama.rope_theta, 10000.0f);

  const ModelArgs qwen2 = Args(R"("model_type": "qwen2", "num_key_value_heads": 2)");
  EXPECT_TRUE(qwen2.attention_bias);
  EXPECT_FALSE(qwen2.output_bias);
  EXPECT_EQ(qwen2.rope_theta, 1e6f);
  EXPECT_EQ(qwen2.max_position_embeddings, 32768);

  const ModelArgs qwen3 = Args(R"("model_type": "qwen3", "head_dim": 16,
      "rope_parameters": {"rope_theta": 5e5, "rope_type": "default"}, "eos_token_id": [7, 9])");
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_EQ(qwen3.head_dim, 16);
  EXPECT_EQ(qwen3.rope_theta, 5e5f);  // transformers 5's nesting
  EXPECT_EQ(qwen3.eos_token_ids, (std::vector<int32_t>{7, 9}));

  const ModelArgs quantized = Args(R"("model_type": "mistral", "attention_bias": true,
      "rope_scaling": {"type": "linear", "factor": 2.0},
      "quantization": {"group_size": 32, "bits": 8, "model.embed_tokens": false,
                       "lm_head": {"group_size": 64, "bits": 6}})");
  EXPECT_TRUE(quantized.output_bias);
  EXPECT_EQ(quantized.rope_type, "linear");
  EXPECT_EQ(quantized.quantization->bits, 8);
  EXPECT_EQ(quantized.quantization->mode, "affine");
  EXPECT_FALSE(quantized.layer_quantization.at("model.embed_tokens").has_value());
  EXPECT_EQ(quantized.layer_quantization.at("lm_head")->bits, 6);

  // initialize_rope reads "type" before "rope_type" (an empty or null "type" reads neither).
  EXPECT_EQ(Args(R"("model_type": "llama",
      "rope_scaling": {"type": "linear", "rope_type": "llama3", "factor": 2.0})")
                .rope_type,
            "linear");
  EXPECT_EQ(Args(R"("model_type": "llama",
      "rope_scaling": {"type": "", "rope_type": "linear", "factor": 2.0})")
                .rope_type,
            "linear");
}

TEST(ModelArgsTest, MixturesOfExpertsHaveMlxLmsDefaults) {
  const ModelArgs mixtral = Args(R"("model_type": "mixtral", "head_dim": 4, "attention_bias": true,
      "rope_scaling": {"type": "linear", "factor": 2.0})");
  EXPECT_EQ(mixtral.num_experts, 8);  // num_local_experts
  EXPECT_EQ(mixtral.num_experts_per_tok, 2);
  EXPECT_EQ(mixtral.head_dim, 8);  // hidden_size / heads, whatever the config says
  EXPECT_FALSE(mixtral.attention_bias);
  EXPECT_FALSE(mixtral.tie_word_embeddings);
  EXPECT_EQ(mixtral.rope_theta, 1e6f);
  EXPECT_EQ(mixtral.rope_type, "default");  // mlx-lm's mixtral builds plain RoPE

  const ModelArgs qwen2_moe = Args(R"("model_type": "qwen2_moe", "num_experts": 4,
      "num_experts_per_tok": 2, "moe_intermediate_size": 16,
      "shared_expert_intermediate_size": 32, "tie_word_embeddings": true)");
  EXPECT_TRUE(qwen2_moe.attention_bias);
  EXPECT_FALSE(qwen2_moe.tie_word_embeddings);  // mlx-lm's always has an lm_head
  EXPECT_EQ(qwen2_moe.shared_expert_intermediate_size, 32);

  const ModelArgs qwen3_moe = Args(R"("model_type": "qwen3_moe", "head_dim": 16,
      "num_experts": 8, "num_experts_per_tok": 2, "moe_intermediate_size": 16,
      "norm_topk_prob": true, "decoder_sparse_step": 2, "mlp_only_layers": [0])");
  EXPECT_TRUE(qwen3_moe.qk_norm);
  EXPECT_TRUE(qwen3_moe.norm_topk_prob);
  EXPECT_EQ(qwen3_moe.decoder_sparse_step, 2);
  EXPECT_EQ(qwen3_moe.mlp_only_layers, (std::vector<int>{0}));
  // Layers 0 (mlp_only_layers) and off the sparse step stay dense.
  const auto names = make_model(qwen3_moe)->parameters();
  auto has = [&](const std::string& name) {
    return std::any_of(names.begin(), names.end(), [&](const auto& p) { return p.first == name; });
  };
  EXPECT_TRUE(has("model.layers.0.mlp.gate_proj.weight"));
  EXPECT_TRUE(has("model.layers.1.mlp.switch_mlp.gate_proj.weight"));

  EXPECT_EQ(Failure([] {
              Args(R"("model_type": "qwen2_moe", "num_experts": 4,
      "num_experts_per_tok": 2, "moe_intermediate_size": 16)");
            }).second,
            "[ModelArgs] config.json lacks \"shared_expert_intermediate_size\".");
  EXPECT_EQ(Failure([] {
              Args(R"("model_type": "mixtral", "num_local_experts": 2,
      "num_experts_per_tok": 3)");
            }).second,
            "[ModelArgs] config.json's num_experts (2), num_experts_per_tok (3), "
            "decoder_sparse_step and the experts' sizes must be positive, and "
            "num_experts_per_tok at most num_experts.");
}

// gemma3_text's every field has a default; gemma3 nests it under text_config, with its own
// vocab_size and heads (8 and 4), and mlx-lm reads neither layer_types nor rope_parameters.
TEST(ModelArgsTest, Gemma3HasMlxLmsDefaults) {
  const ModelArgs text = ModelArgs::from_json(R"({"model_type": "gemma3_text",
      "layer_types": ["sliding_attention", "full_attention"],
      "rope_scaling": {"rope_type": "linear", "factor": 8.0}})");
  EXPECT_EQ(text.hidden_size, 1152);
  EXPECT_EQ(text.num_hidden_layers, 26);
  EXPECT_EQ(text.num_attention_heads, 4);
  EXPECT_EQ(text.num_key_value_heads, 1);
  EXPECT_EQ(text.head_dim, 256);
  EXPECT_EQ(text.vocab_size, 262144);
  EXPECT_EQ(text.rope_theta, 1e6f);
  EXPECT_EQ(text.rope_local_base_freq, 1e4f);
  EXPECT_EQ(text.query_pre_attn_scalar, 256);
  EXPECT_EQ(text.sliding_window, 512);
  EXPECT_EQ(text.sliding_window_pattern, 6);
  EXPECT_EQ(text.rope_type, "linear");
  const ModelArgs nested = ModelArgs::from_json(R"({"model_type": "gemma3",
      "text_config": {"hidden_size": 64, "vocab_size": 10}, "eos_token_id": [1, 106]})");
  EXPECT_EQ(nested.model_type, "gemma3");
  EXPECT_EQ(nested.hidden_size, 64);
  EXPECT_EQ(nested.vocab_size, 262208);  // the top level's, whatever text_config says
  EXPECT_EQ(nested.num_attention_heads, 8);
  EXPECT_EQ(nested.num_key_value_heads, 4);
  EXPECT_EQ(nested.eos_token_ids, (std::vector<int32_t>{1, 106}));
  EXPECT_EQ(Failure([] { ModelArgs::from_json(R"({"model_type": "gemma3"})"); }).second,
            "[ModelArgs] config.json lacks \"text_config\".");
  EXPECT_EQ(
      Failure([] {
        ModelArgs::from_json(
            R"({"model_type": "gemma3_text", "rope_scaling": {"rope_type": "yarn", "factor": 2}})");
      }).first,
      ErrorCode::kUnimplemented);
}

// gemma2 requires its sizes and defaults the caps; phi3 computes head_dim and reads
// longrope's long factors, one per rotated pair; gpt_oss defaults everything, layer_types
// alternating from a sliding layer, and takes yarn (which llama does not, above) and OpenAI's
// quantization_config.
TEST(ModelArgsTest, Gemma2Phi3AndGptOssHaveMlxLmsDefaults) {
  const ModelArgs gemma2 = Args(R"("model_type": "gemma2", "head_dim": 16,
      "num_key_value_heads": 2, "sliding_window": 4096)");
  EXPECT_EQ(gemma2.attn_logit_softcapping, 50.0f);
  EXPECT_EQ(gemma2.final_logit_softcapping, 30.0f);
  EXPECT_EQ(gemma2.query_pre_attn_scalar, 144.0f);
  EXPECT_TRUE(gemma2.tie_word_embeddings);
  EXPECT_EQ(Failure([] { Args(R"("model_type": "gemma2", "head_dim": 16)"); }).second,
            "[ModelArgs] config.json lacks \"num_key_value_heads\".");

  const ModelArgs phi3 = Args(R"("model_type": "phi3", "partial_rotary_factor": 0.5,
      "original_max_position_embeddings": 2048,
      "rope_scaling": {"type": "su", "long_factor": [1, 2], "short_factor": [1, 1]})");
  EXPECT_EQ(phi3.head_dim, 8);
  EXPECT_FALSE(phi3.tie_word_embeddings);
  EXPECT_EQ(phi3.max_position_embeddings, 131072);
  EXPECT_EQ(phi3.rope_type, "longrope");
  EXPECT_EQ(phi3.rope_long_factor, (std::vector<float>{1, 2}));
  EXPECT_EQ(phi3.rope_scaling.at("original_max_position_embeddings"), 2048);
  EXPECT_EQ(Args(R"("model_type": "phi3", "rope_scaling": {"type": "dynamic",
                "long_factor": 1})")
                .rope_type,
            "default");  // mlx-lm warns and drops it
  EXPECT_EQ(Failure([] {
              Args(R"("model_type": "phi3", "rope_scaling": {"type": "longrope",
                  "long_factor": [1, 2, 3]})");
            }).second,
            "[ModelArgs] config.json's rope_scaling long_factor has 3 numbers, not one per "
            "rotated pair (4).");

  const ModelArgs gpt_oss = ModelArgs::from_json(R"({"model_type": "gpt_oss",
      "num_hidden_layers": 4, "quantization_config": {"quant_method": "mxfp4"},
      "rope_scaling": {"rope_type": "yarn", "factor": 32.0, "beta_fast": 32.0}})");
  EXPECT_EQ(gpt_oss.hidden_size, 2880);
  EXPECT_EQ(gpt_oss.num_experts, 128);
  EXPECT_EQ(gpt_oss.num_experts_per_tok, 4);
  EXPECT_EQ(gpt_oss.sliding_window, 128);
  EXPECT_EQ(gpt_oss.rope_type, "yarn");
  EXPECT_EQ(gpt_oss.layer_types, (std::vector<std::string>{"sliding_attention", "full_attention",
                                                           "sliding_attention", "full_attention"}));
  ASSERT_TRUE(gpt_oss.quantization.has_value());
  EXPECT_EQ(gpt_oss.quantization->mode, "mxfp4");
  EXPECT_EQ(gpt_oss.quantization->group_size, 32);
  EXPECT_EQ(Failure([] {
              ModelArgs::from_json(R"({"model_type": "gpt_oss", "num_hidden_layers": 3,
                  "layer_types": ["full_attention"]})");
            }).second,
            "[ModelArgs] config.json's layer_types has 1 entries, not num_hidden_layers (3).");
}

TEST(ModelArgsTest, WhatIsNotBuiltIsNamed) {
  EXPECT_EQ(
      Failure([] { Args(R"("model_type": "not_a_model")"); }),
      std::make_pair(ErrorCode::kUnimplemented,
                     std::string("[ModelArgs] model_type \"not_a_model\" is not built by "
                                 "ferry::lm (llama, mistral, qwen2, qwen3, mixtral, qwen2_moe, "
                                 "qwen3_moe, gemma3_text, gemma3, gemma2, phi3, gpt_oss, "
                                 "deepseek_v2, deepseek_v3, kimi_k2, glm4_moe, smollm3, olmo2, "
                                 "olmo3, qwen3_next, qwen3_5, qwen3_5_moe, lfm2, lfm2_moe, "
                                 "llama4, llama4_text, granite, granitemoe, cohere2, starcoder2, "
                                 "mamba2, granitemoehybrid, falcon_h1, glm4, exaone4, ernie4_5, "
                                 "ernie4_5_moe, olmoe, ministral3, mistral3, mistral4, "
                                 "gemma4_text, gemma4, kimi_linear, nemotron_h, qwen2_vl, "
                                 "qwen2_5_vl, qwen3_vl, qwen3_vl_moe, lfm2-vl, pixtral, kimi_vl, "
                                 "kimi_k25, llava, solar_open, glm_moe_dsa, joyai_llm_flash, "
                                 "minimax_m2, iquestcoder, xverse, gemma4_unified, gpt2, gpt_neox, "
                                 "gpt_bigcode, minimax, dots1, "
                                 "deepseek_v32, gemma3n, glm4_moe_lite, hunyuan_v1_dense, "
                                 "hunyuan, seed_oss, apertus, helium, internlm3, bailing_moe, "
                                 "gemma, cohere, phi, stablelm, youtu_llm, nanbeige, telechat3, "
                                 "Klear, baichuan_m1, phimoe, dbrx, mamba, falcon_mamba, mimo, "
                                 "internlm2, minicpm, minicpm3, nemotron, exaone, "
                                 "openelm, olmo_hybrid, plamo2, exaone_moe, afmoe, step3p5, "
                                 "mimo_v2_flash, laguna and longcat_flash are).")));
  EXPECT_EQ(Failure([] {
              Args(R"("model_type": "llama", "rope_scaling": {"rope_type": "yarn",
                                  "factor": 4})");
            }).second,
            "[ModelArgs] rope_type \"yarn\" is not built by ferry::lm (default, linear and "
            "llama3 are).");
  EXPECT_EQ(Failure([] {
              Args(R"("model_type": "llama",
                      "layer_types": ["full_attention", "sliding_attention"])");
            }).first,
            ErrorCode::kUnimplemented);
}

TEST(ModelArgsTest, AMalformedConfigIsNamed) {
  EXPECT_EQ(Failure([] { ModelArgs::from_json(R"({"model_type": "llama"})"); }),
            std::make_pair(ErrorCode::kInvalidArgument,
                           std::string("[ModelArgs] config.json lacks \"hidden_size\".")));
  EXPECT_EQ(Failure([] { Args(R"("model_type": "llama", "num_key_value_heads": 3)"); }).second,
            "[ModelArgs] config.json's sizes must be positive and num_attention_heads (4) a "
            "multiple of num_key_value_heads (3).");
  EXPECT_EQ(Failure([] { Args(R"("model_type": "qwen3")"); }).second,
            "[ModelArgs] config.json lacks \"head_dim\".");
  EXPECT_EQ(Failure([] { ModelArgs::from_json("not json"); }).second,
            "[ModelArgs] config.json is not a JSON object.");
}

TEST(LoadTest, AMissingDirectoryOrWeightIsNamed) {
  EXPECT_EQ(Failure([] { load_model("/nonexistent/model"); }),
            std::make_pair(ErrorCode::kNotFound,
                           std::string("[ModelArgs] cannot open /nonexistent/model/config.json.")));
  const std::string dir = TempDir("no_weights");
  const std::string config = std::string("{") + kSizes + R"(, "model_type": "llama"})";
  std::ofstream(dir + "/config.json") << config;
  EXPECT_EQ(
      Failure([&] { load_model(dir); }),
      std::make_pair(ErrorCode::kNotFound, "[load_model] no model*.safetensors in " + dir + "."));
  // Weights of a model one layer short: strict loading names what is missing.
  const std::string short_dir = TempDir("short");
  make_model(ModelArgs::from_json(std::string("{") + kSizes +
                                  R"(, "model_type": "llama", "num_hidden_layers": 1})"))
      ->save_weights(short_dir + "/model.safetensors");
  std::ofstream(short_dir + "/config.json") << config;
  const auto [code, message] = Failure([&] { load_model(short_dir); });
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(message.find("model.layers.1.self_attn.q_proj.weight"), std::string::npos) << message;
}

TEST(LoadTest, EndTokensComeFromEveryConfig) {
  const std::string dir = TempDir("eos");
  std::ofstream(dir + "/tokenizer.json") << R"({"model": {"type": "BPE",
      "vocab": {"a": 0, "b": 1}, "merges": []},
      "added_tokens": [{"id": 2, "content": "</s>", "special": true},
                       {"id": 3, "content": "<|eot|>", "special": true}]})";
  std::ofstream(dir + "/tokenizer_config.json") << R"({"eos_token": {"content": "</s>"}})";
  std::ofstream(dir + "/config.json")
      << std::string("{") + kSizes + R"(, "model_type": "llama", "eos_token_id": 2})";
  std::ofstream(dir + "/generation_config.json") << R"({"eos_token_id": [2, 3]})";
  EXPECT_EQ(load_tokenizer(dir).eos_token_ids(), (std::vector<int32_t>{2, 3}));
}

}  // namespace
}  // namespace ferry::lm
