// Youtu-LLM, Nanbeige, TeleChat3, Klear and Baichuan-M1 as mlx-lm 0.32.2 builds them
// (testdata/lm_families_7_mlx.py writes the models and what mlx-lm computes; models_mlx_test.cc
// holds their logits, a token at a time too, and greedy runs): their configs read as mlx-lm
// reads them, what is missing or inconsistent named, the layers and caches each config asks
// for, sanitize, and stream_generate through them.

#include <cmath>
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
    "vocab_size": 50, "rms_norm_eps": 1e-6)";

const char* const kModels[] = {"youtu_llm",   "youtu_llm_4bit",  "nanbeige", "nanbeige_4bit",
                               "telechat3",   "telechat3_4bit",  "klear",    "klear_4bit",
                               "baichuan_m1", "baichuan_m1_4bit"};

TEST(Families7ArgsTest, YoutuLlmHasMlxLmsDefaults) {
  const ModelArgs args = Config("youtu_llm", "");
  EXPECT_EQ(args.vocab_size, 128256);
  EXPECT_EQ(args.hidden_size, 2048);
  EXPECT_EQ(args.intermediate_size, 6144);
  EXPECT_EQ(args.num_hidden_layers, 32);
  EXPECT_EQ(args.num_attention_heads, 16);
  EXPECT_EQ(args.kv_lora_rank, 512);
  EXPECT_EQ(args.q_lora_rank, 1536);
  EXPECT_EQ(args.qk_rope_head_dim, 64);
  EXPECT_EQ(args.v_head_dim, 128);
  EXPECT_EQ(args.qk_nope_head_dim, 128);
  EXPECT_EQ(args.head_dim, 192);
  EXPECT_EQ(args.max_position_embeddings, 131072);
  EXPECT_EQ(args.rms_norm_eps, 1e-6f);
  EXPECT_EQ(args.rope_theta, 1600000.0f);
  EXPECT_TRUE(args.rope_traditional);
  EXPECT_FALSE(args.attention_bias || args.output_bias || args.mlp_bias);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_EQ(Config("youtu_llm", R"("q_lora_rank": null)").q_lora_rank, 0);
  EXPECT_EQ(Refusal([] { Config("youtu_llm", R"("qk_rope_head_dim": 7)"); }),
            "[ModelArgs] config.json's kv_lora_rank, qk_nope_head_dim, v_head_dim and an even "
            "qk_rope_head_dim must be positive, q_lora_rank not negative.");
}

// Tied: the directory's lm_head.weight dropped as mlx-lm's sanitize drops it. Without
// q_lora_rank one q_proj; attention_bias biases q_a_proj, kv_a_proj_with_mqa and o_proj.
TEST(Families7ArgsTest, YoutuLlmBuildsTheLayersItsConfigAsks) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("youtu_llm");
  EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_a_proj.weight"), (Shape{24, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.kv_b_proj.weight"), (Shape{4 * (16 + 16), 16}));
  EXPECT_EQ(shapes.count("model.layers.0.self_attn.o_proj.bias"), 0u);
  const std::unordered_map<std::string, Shape> biased = ParameterShapes("youtu_llm_4bit");
  EXPECT_EQ(biased.count("model.layers.0.self_attn.q_a_proj.weight"), 0u);
  EXPECT_EQ(biased.count("model.layers.0.self_attn.q_proj.bias"), 0u);
  EXPECT_EQ(biased.at("model.layers.0.self_attn.kv_a_proj_with_mqa.bias"), (Shape{16 + 8}));
  EXPECT_EQ(biased.at("model.layers.0.self_attn.o_proj.bias"), (Shape{64}));
  EXPECT_EQ(biased.at("model.layers.1.mlp.down_proj.bias"), (Shape{64}));
  EXPECT_EQ(biased.count("lm_head.scales"), 1u);
}

TEST(Families7ArgsTest, NanbeigeLoopsAsMlxLm) {
  const ModelArgs args = Config("nanbeige", kSizes);
  EXPECT_EQ(args.num_loops, 1);
  EXPECT_FALSE(args.skip_loop_final_norm);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_FALSE(args.rope_traditional);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(Config("nanbeige", std::string(kSizes) + R"(, "num_loops": 3)").num_loops, 3);
  // One pass more than loop_loss_weights has entries, whatever num_loops says.
  EXPECT_EQ(Config("nanbeige",
                   std::string(kSizes) + R"(, "num_loops": 3, "loop_loss_weights": [0.5, 0.25])")
                .num_loops,
            3);
  EXPECT_EQ(
      Config("nanbeige", std::string(kSizes) + R"(, "num_loops": 5, "loop_loss_weights": [1])")
          .num_loops,
      2);
  for (const std::string key :
       {"enable_double_loop_split", "loop_share_kv", "enable_depth_attention"}) {
    EXPECT_EQ(
        Refusal([&] { Config("nanbeige", std::string(kSizes) + R"(, ")" + key + R"(": true)"); },
                ErrorCode::kUnimplemented),
        "[ModelArgs] config.json's \"" + key + "\" is not built by ferry::lm (nor by mlx-lm).");
  }
  EXPECT_EQ(Refusal([] { Config("nanbeige", std::string(kSizes) + R"(, "num_loops": 0)"); }),
            "[ModelArgs] config.json's num_loops must be positive.");
  EXPECT_EQ(Refusal([] { Config("nanbeige", R"("hidden_size": 32)"); }),
            "[ModelArgs] config.json lacks \"num_hidden_layers\".");
}

// A plain cache per layer per pass; Hugging Face's rotary_emb.inv_freq left out.
TEST(Families7ArgsTest, NanbeigeCachesEachPass) {
  std::unique_ptr<Model> model = load_model(TestData("nanbeige"));
  EXPECT_EQ(model->make_cache().size(), 4u);
  EXPECT_EQ(make_prompt_cache(*model).size(), 4u);
  for (const auto& [name, array] : model->parameters()) {
    EXPECT_EQ(name.find("inv_freq"), std::string::npos) << name;
  }
  EXPECT_EQ(load_model(TestData("nanbeige_4bit"))->make_cache().size(), 4u);
}

TEST(Families7ArgsTest, Telechat3ReadsAsMlxLm) {
  const std::string sizes =
      std::string(kSizes) + R"(, "rope_theta": 500000.0, "max_position_embeddings": 4096)";
  const ModelArgs args = Config("telechat3", sizes);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.rope_theta, 500000.0f);
  EXPECT_FALSE(args.rope_traditional);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_FALSE(args.attention_bias || args.output_bias || args.mlp_bias);
  EXPECT_EQ(Config("telechat3", sizes + R"(, "head_dim": 0)").head_dim, 8);  // `or`
  EXPECT_EQ(Config("telechat3", sizes + R"(, "head_dim": 16)").head_dim, 16);
  const ModelArgs biased = Config("telechat3", sizes + R"(, "attention_bias": true)");
  EXPECT_TRUE(biased.attention_bias && biased.output_bias);
  EXPECT_EQ(Refusal([] { Config("telechat3", std::string(kSizes) + R"(, "rope_theta": 1e4)"); }),
            "[ModelArgs] config.json lacks \"max_position_embeddings\".");
  EXPECT_EQ(Refusal([] {
              Config("telechat3", std::string(kSizes) + R"(, "max_position_embeddings": 4096)");
            }),
            "[ModelArgs] config.json lacks \"rope_theta\".");
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("telechat3");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.q_proj.weight"), (Shape{64, 32}));
  EXPECT_EQ(shapes.at("lm_head.weight"), (Shape{96, 32}));
  EXPECT_EQ(ParameterShapes("telechat3_4bit").count("lm_head.weight"), 0u);
}

constexpr char kKlear[] = R"("hidden_size": 32, "num_hidden_layers": 3,
    "intermediate_size": 64, "num_attention_heads": 4, "attention_bias": false,
    "mlp_only_layers": [0], "num_experts": 4, "num_experts_per_tok": 2,
    "decoder_sparse_step": 1, "n_shared_experts": 1, "moe_intermediate_size": 16,
    "rms_norm_eps": 1e-6, "vocab_size": 50, "num_key_value_heads": 2, "rope_theta": 1e4,
    "max_position_embeddings": 4096, "norm_topk_prob": true)";

TEST(Families7ArgsTest, KlearReadsAsMlxLm) {
  const ModelArgs args = Config("Klear", kKlear);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_TRUE(args.qk_norm);
  EXPECT_EQ(args.mlp_only_layers, std::vector<int>{0});
  EXPECT_EQ(args.n_shared_experts, 1);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_FALSE(args.rope_traditional);
  // mlx-lm's module is "Klear": its lower-case name is no model_type of mlx-lm's.
  EXPECT_EQ(Refusal([] { Config("klear", kKlear); }, ErrorCode::kUnimplemented)
                .rfind("[ModelArgs] model_type \"klear\" is not built by ferry::lm", 0),
            0u);
  std::string missing = kKlear;
  missing.replace(missing.find(R"("norm_topk_prob": true)"), 22, R"("unused": 0)");
  EXPECT_EQ(Refusal([&] { Config("Klear", missing); }),
            "[ModelArgs] config.json lacks \"norm_topk_prob\".");
  std::string over = kKlear;
  over.replace(over.find(R"("num_experts_per_tok": 2)"), 24, R"("num_experts_per_tok": 5)");
  EXPECT_EQ(Refusal([&] { Config("Klear", over); }),
            "[ModelArgs] config.json's num_experts (4), num_experts_per_tok (5), "
            "decoder_sparse_step, n_shared_experts and moe_intermediate_size must be positive, "
            "and num_experts_per_tok at most num_experts.");
}

// Hugging Face's experts one per expert stacked by sanitize; the dense first layer, the shared
// MLP, the coefficient's bias, the float32 expert bias; the 4-bit router in 8 bits.
TEST(Families7ArgsTest, KlearSanitizesAndBuildsItsExperts) {
  std::unique_ptr<Model> model = load_model(TestData("klear"));
  std::unordered_map<std::string, Array> params;
  for (const auto& [name, array] : model->parameters()) params.emplace(name, array);
  EXPECT_EQ(params.at("model.layers.1.mlp.experts.gate_proj.weight").shape(), (Shape{4, 16, 32}));
  EXPECT_EQ(params.at("model.layers.2.mlp.experts.down_proj.weight").shape(), (Shape{4, 32, 16}));
  EXPECT_EQ(params.at("model.layers.1.mlp.shared_experts.up_proj.weight").shape(), (Shape{32, 32}));
  EXPECT_EQ(params.at("model.layers.1.mlp.coefficient.bias").shape(), (Shape{2}));
  EXPECT_EQ(params.at("model.layers.1.mlp.expert_bias").dtype(), float32);
  EXPECT_EQ(params.at("model.layers.0.mlp.gate_proj.weight").shape(), (Shape{64, 32}));
  EXPECT_EQ(params.count("model.layers.0.mlp.experts.gate_proj.weight"), 0u);
  EXPECT_EQ(params.at("model.layers.0.self_attn.q_norm.weight").shape(), (Shape{8}));
  EXPECT_EQ(params.at("model.layers.0.self_attn.o_proj.bias").shape(), (Shape{32}));
  EXPECT_FALSE(model->casts("model.layers.1.mlp.expert_bias"));
  EXPECT_TRUE(model->casts("model.layers.1.mlp.gate.weight"));
  EXPECT_EQ(model->own_quantization("model.layers.1.mlp.gate"), kRouterQuantization);
  EXPECT_EQ(model->own_quantization("model.layers.1.mlp.coefficient"), std::nullopt);
  // decoder_sparse_step 2: layer 0 dense, layer 1 sparse; the router's scales of 8 bits.
  const std::unordered_map<std::string, Shape> quantized = ParameterShapes("klear_4bit");
  EXPECT_EQ(quantized.count("model.layers.0.mlp.experts.gate_proj.weight"), 0u);
  EXPECT_EQ(quantized.at("model.layers.1.mlp.gate.weight"), (Shape{4, 64 * 8 / 32}));
}

constexpr char kBaichuan[] = R"("vocab_size": 50, "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 4, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rope_theta": 1e4, "sliding_window": 6, "sliding_window_layers": [1, 3],
    "conv_window": 2, "rms_norm_eps": 1e-6)";

TEST(Families7ArgsTest, BaichuanM1ReadsAsMlxLm) {
  const ModelArgs args = Config("baichuan_m1", kBaichuan);
  EXPECT_EQ(args.layer_types, (std::vector<std::string>{"full_attention", "sliding_attention",
                                                        "full_attention", "sliding_attention"}));
  EXPECT_EQ(args.sliding_window, 6);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.num_swa_attention_heads, 0);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(
      Refusal([] { Config("baichuan_m1", std::string(kBaichuan) + R"(, "conv_window": 3)"); }),
      "[ModelArgs] config.json's conv_window is 3; Baichuan-M1's is 2.");
  EXPECT_EQ(Refusal([] {
              Config("baichuan_m1", std::string(kBaichuan) + R"(, "tie_word_embeddings": true)");
            }),
            "[ModelArgs] config.json's tie_word_embeddings is true: mlx-lm's baichuan_m1 then "
            "has no lm_head to compute its logits with.");
  EXPECT_EQ(Refusal([] {
              Config("baichuan_m1", std::string(kBaichuan) + R"(, "num_swa_attention_heads": 3)");
            }),
            "[ModelArgs] config.json's hidden_size (32) must be a multiple of the heads (3, "
            "num_attention_heads or num_swa_attention_heads), and they of the key/value heads "
            "(2).");
  std::string missing = kBaichuan;
  missing.replace(missing.find(R"("sliding_window_layers")"), 23, R"("unused")");
  EXPECT_EQ(Refusal([&] { Config("baichuan_m1", missing); }),
            "[ModelArgs] config.json lacks \"sliding_window_layers\".");
}

// The sliding layers' own heads in W_pack and o_proj, per-head conv weights; each layer's cache a
// list of an arrays cache and a plain or rotating one; lm_head's rows normalized by sanitize
// (not the quantized one's).
TEST(Families7ArgsTest, BaichuanM1BuildsCachesAndNormalizesItsHead) {
  std::unique_ptr<Model> model = load_model(TestData("baichuan_m1"));
  std::unordered_map<std::string, Array> params;
  for (const auto& [name, array] : model->parameters()) params.emplace(name, array);
  EXPECT_EQ(params.at("model.layers.0.self_attn.W_pack.weight").shape(), (Shape{32 + 2 * 16, 32}));
  EXPECT_EQ(params.at("model.layers.1.self_attn.W_pack.weight").shape(), (Shape{32 + 2 * 16, 32}));
  EXPECT_EQ(params.at("model.layers.0.self_attn.conv_k").shape(), (Shape{1, 1, 2, 1, 2}));
  EXPECT_EQ(params.at("model.layers.1.self_attn.conv_v").shape(), (Shape{1, 1, 1, 1, 2}));
  const std::vector<KVCache> cache = make_prompt_cache(*model);
  ASSERT_EQ(cache.size(), 4u);
  for (size_t i = 0; i < cache.size(); ++i) {
    ASSERT_TRUE(cache[i].is_list());
    EXPECT_TRUE(cache[i].part(0).is_arrays());
    EXPECT_EQ(cache[i].part(1).max_size(), i % 2 == 1 ? std::optional<int64_t>(6) : std::nullopt);
  }
  const Array saved =
      load_safetensors(TestData("baichuan_m1/model.safetensors")).first.at("lm_head.weight");
  const Array want = saved / (sqrt(sum(square(saved), -1, /*keepdims=*/true)) + 1e-7f);
  EXPECT_LE(max(abs(params.at("lm_head.weight") - want)).item<float>(), 1e-6f);
  EXPECT_GT(max(abs(saved - want)).item<float>(), 0.1f);  // the checkpoint's is not normalized
  // Quantized: kept as saved.
  const nn::Parameters quantized = {{"lm_head.weight", ones({4, 4})},
                                    {"lm_head.scales", ones({4, 1})}};
  const nn::Parameters kept = model->sanitize(quantized);
  EXPECT_EQ(max(abs(kept.front().second - ones({4, 4}))).item<float>(), 0.0f);
}

// stream_generate gives mlx-lm's greedy tokens for each family, with a prefill in pieces of 4.
TEST(Families7Test, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm("lm_families_7_mlx.safetensors",
                              {std::begin(kModels), std::end(kModels)});
}

}  // namespace
}  // namespace ferry::lm
