// GPT-2, GPT-NeoX (Pythia) and GPT-BigCode (StarCoder 1, SantaCoder) as mlx-lm 0.32.2 builds
// them (testdata/lm_gpt_mlx.py writes the models and what mlx-lm computes; models_mlx_test.cc
// holds their logits, a token at a time too, and greedy runs; batch_generator_test.cc
// mlx-lm's BatchGenerator's tokens): their configs read as mlx-lm reads them, what is missing
// or inconsistent named, Hugging Face's checkpoints sanitized as mlx-lm's sanitize does,
// stream_generate through them, and GPT-BigCode's batches (which mlx-lm cannot run) as each
// row alone.

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/batch_generate.h"
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

using ::ferry::lm::testing::Config;
using ::ferry::lm::testing::ExpectStreamedTokensAsMlxLm;
using ::ferry::lm::testing::Refusal;
using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;

constexpr char kGpt2[] = R"("n_ctx": 64, "n_embd": 32, "n_head": 4, "n_layer": 2,
    "n_positions": 64, "layer_norm_epsilon": 1e-5, "vocab_size": 50)";
constexpr char kNeox[] = R"("max_position_embeddings": 64, "hidden_size": 32,
    "num_attention_heads": 4, "num_hidden_layers": 2, "layer_norm_eps": 1e-5,
    "vocab_size": 50, "rotary_emb_base": 10000, "rotary_pct": 0.25)";
constexpr char kBigCode[] = R"("n_embd": 32, "n_layer": 2, "n_inner": 48, "n_head": 4,
    "n_positions": 64, "layer_norm_epsilon": 1e-5, "vocab_size": 50)";

TEST(GptFamiliesArgsTest, Gpt2ReadsAsMlxLm) {
  const ModelArgs args = Config("gpt2", std::string(kGpt2) + R"(, "num_key_value_heads": 2,
      "n_inner": 7, "tie_word_embeddings": false)");
  EXPECT_EQ(args.hidden_size, 32);
  EXPECT_EQ(args.num_hidden_layers, 2);
  EXPECT_EQ(args.num_attention_heads, 4);
  EXPECT_EQ(args.num_key_value_heads, 4);  // whatever num_key_value_heads says
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.intermediate_size, 128);  // 4 * n_embd whatever n_inner says
  EXPECT_EQ(args.max_position_embeddings, 64);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);
  EXPECT_TRUE(args.attention_bias && args.output_bias && args.mlp_bias);
  EXPECT_TRUE(args.layer_norm && args.layer_norm_bias);
  EXPECT_TRUE(args.tie_word_embeddings);  // wte is the output whatever the config says
  EXPECT_EQ(Refusal([] {
              Config("gpt2", R"("n_embd": 32, "n_head": 4, "n_layer": 2, "n_positions": 64,
                  "layer_norm_epsilon": 1e-5, "vocab_size": 50)");
            }),
            "[ModelArgs] config.json lacks \"n_ctx\".");
  EXPECT_EQ(Refusal([] { Config("gpt2", R"("hidden_size": 32)"); }),
            "[ModelArgs] config.json lacks \"n_embd\".");
  EXPECT_EQ(Refusal([] {
              Config("gpt2", R"("n_ctx": 64, "n_embd": 30, "n_head": 4, "n_layer": 2,
                  "n_positions": 64, "layer_norm_epsilon": 1e-5, "vocab_size": 50)");
            }),
            "[ModelArgs] config.json's hidden size (30) is not a multiple of its attention "
            "heads (4).");
}

TEST(GptFamiliesArgsTest, GptNeoxReadsAsMlxLm) {
  const ModelArgs args = Config("gpt_neox", std::string(kNeox) + R"(, "intermediate_size": 7,
      "num_key_value_heads": 2, "tie_word_embeddings": true)");
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.num_key_value_heads, 4);
  EXPECT_EQ(args.intermediate_size, 128);  // 4 * hidden_size whatever intermediate_size says
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_EQ(args.partial_rotary_factor, 0.25f);
  EXPECT_FALSE(args.rope_traditional);
  EXPECT_TRUE(args.parallel_residual);     // mlx-lm's default
  EXPECT_FALSE(args.tie_word_embeddings);  // embed_out always
  EXPECT_TRUE(args.layer_norm && args.layer_norm_bias);
  EXPECT_FALSE(Config("gpt_neox", std::string(kNeox) + R"(, "use_parallel_residual": false)")
                   .parallel_residual);
  EXPECT_EQ(Refusal([] {
              Config("gpt_neox", R"("max_position_embeddings": 64, "hidden_size": 32,
                  "num_attention_heads": 4, "num_hidden_layers": 2, "layer_norm_eps": 1e-5,
                  "vocab_size": 50, "rotary_pct": 0.25)");
            }),
            "[ModelArgs] config.json lacks \"rotary_emb_base\".");
  EXPECT_EQ(Refusal([] {
              Config("gpt_neox", R"("max_position_embeddings": 64, "hidden_size": 32,
                  "num_attention_heads": 4, "num_hidden_layers": 2, "layer_norm_eps": 1e-5,
                  "vocab_size": 50, "rotary_emb_base": 10000, "rotary_pct": 0.125)");
            }),
            "[ModelArgs] config.json's rotary_pct gives 1 rotated features of head_dim 8; they "
            "must be even, 2 or more, at most head_dim.");
}

TEST(GptFamiliesArgsTest, GptBigCodeReadsAsMlxLm) {
  const ModelArgs args =
      Config("gpt_bigcode", std::string(kBigCode) + R"(, "num_key_value_heads": 4)");
  EXPECT_EQ(args.num_key_value_heads, 1);  // multi_query's default, whatever the config says
  EXPECT_EQ(args.intermediate_size, 48);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_TRUE(args.attention_bias && args.output_bias && args.mlp_bias);
  EXPECT_TRUE(args.tie_word_embeddings);
  const ModelArgs multi_head =
      Config("gpt_bigcode", std::string(kBigCode) + R"(, "multi_query": false,
          "attention_bias": false, "mlp_bias": false, "tie_word_embeddings": false)");
  EXPECT_EQ(multi_head.num_key_value_heads, 4);
  EXPECT_FALSE(multi_head.attention_bias || multi_head.output_bias || multi_head.mlp_bias);
  EXPECT_FALSE(multi_head.tie_word_embeddings);
  EXPECT_EQ(Refusal([] {
              Config("gpt_bigcode", R"("n_embd": 32, "n_layer": 2, "n_inner": null,
                  "n_head": 4, "n_positions": 64, "layer_norm_epsilon": 1e-5,
                  "vocab_size": 50)");
            }),
            "[ModelArgs] config.json lacks \"n_inner\".");
}

// Hugging Face's GPT-2: Conv1D weights (in, out) transposed, the causal-mask buffers dropped,
// every name put under "model." (an mlx-lm checkpoint's names kept, not transposed).
TEST(GptFamiliesTest, Gpt2SanitizeTransposesConv1dAndDropsBuffers) {
  std::unique_ptr<Model> model = make_model(Config("gpt2", kGpt2));
  const Array conv = reshape(arange(0, 6, float32), {2, 3});
  const nn::Parameters sanitized = model->sanitize({{"h.1.attn.c_attn.weight", conv},
                                                    {"h.0.attn.bias", ones({1, 1, 4, 4})},
                                                    {"h.0.mlp.c_fc.bias", ones({3})},
                                                    {"wpe.weight", ones({2, 2})},
                                                    {"model.h.0.mlp.c_proj.weight", conv}});
  std::unordered_map<std::string, Array> got(sanitized.begin(), sanitized.end());
  ASSERT_EQ(got.size(), 4u);
  ExpectAllClose(got.at("model.h.1.attn.c_attn.weight"), transpose(conv), 0, 0, "c_attn");
  ExpectAllClose(got.at("model.h.0.mlp.c_proj.weight"), conv, 0, 0, "mlx-lm's c_proj");
  EXPECT_TRUE(got.count("model.h.0.mlp.c_fc.bias"));
  EXPECT_TRUE(got.count("model.wpe.weight"));
}

// Hugging Face's GPT-NeoX: gpt_neox.layers.N as model.h.N, gpt_neox. dropped, embed_out under
// model., the attention's bias, masked_bias and rotary_emb.inv_freq buffers dropped.
TEST(GptFamiliesTest, GptNeoxSanitizeRenamesAndDropsBuffers) {
  std::unique_ptr<Model> model = make_model(Config("gpt_neox", kNeox));
  const Array w = ones({2});
  const nn::Parameters sanitized =
      model->sanitize({{"gpt_neox.layers.1.attention.query_key_value.weight", w},
                       {"gpt_neox.layers.1.attention.bias", w},
                       {"gpt_neox.layers.1.attention.masked_bias", w},
                       {"gpt_neox.layers.1.attention.rotary_emb.inv_freq", w},
                       {"gpt_neox.layers.0.attention.dense.bias", w},
                       {"gpt_neox.embed_in.weight", w},
                       {"gpt_neox.final_layer_norm.bias", w},
                       {"embed_out.weight", w},
                       {"model.h.0.mlp.dense_h_to_4h.weight", w}});
  std::vector<std::string> names;
  for (const auto& [name, array] : sanitized) names.push_back(name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"model.h.1.attention.query_key_value.weight",
                                      "model.h.0.attention.dense.bias", "model.embed_in.weight",
                                      "model.final_layer_norm.bias", "model.embed_out.weight",
                                      "model.h.0.mlp.dense_h_to_4h.weight"}));
}

// stream_generate gives mlx-lm's greedy tokens, with a prefill in pieces of 4 (the learned
// positions of each piece from the cache's offset).
TEST(GptFamiliesTest, StreamGenerateGivesMlxLmsTokens) {
  ExpectStreamedTokensAsMlxLm(
      "lm_gpt_mlx.safetensors",
      {"gpt2", "gpt2_4bit", "gpt_neox", "gpt_neox_4bit", "gpt_bigcode", "gpt_bigcode_4bit"});
}

// mlx-lm's gpt_bigcode cannot batch (np.arange over a BatchKVCache's offsets); ferry's takes
// each row's learned positions from its own offset, so each row of a batch of prompts of
// different lengths gets the tokens it gets alone.
TEST(GptFamiliesTest, GptBigCodeBatchesAsEachRowAlone) {
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  const std::vector<std::vector<int32_t>> prompts = {{5, 17, 2, 40}, {9}, {31, 3, 77, 12, 8, 1}};
  GenerateOptions options;
  options.max_tokens = 12;
  for (const std::string name : {"gpt_bigcode", "gpt_bigcode_4bit"}) {
    std::unique_ptr<Model> model = load_model(TestData(name));
    const BatchResponse batch = batch_generate(*model, tokenizer, prompts, options, {-1});
    ASSERT_EQ(batch.tokens.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      const BatchResponse alone = batch_generate(*model, tokenizer, {prompts[i]}, options, {-1});
      EXPECT_EQ(batch.tokens[i], alone.tokens[0]) << name << " prompt " << i;
    }
  }
}

}  // namespace
}  // namespace ferry::lm
