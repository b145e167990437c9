// PhiMoE, DBRX, Mamba (and Falcon-Mamba) and MiMo as mlx-lm 0.32.2 builds them
// (testdata/lm_families_6_mlx.py writes the models and what mlx-lm computes; models_mlx_test.cc
// and arrays_models_mlx_test.cc hold their logits, a token at a time too, and greedy runs):
// their configs read as mlx-lm reads them, what is missing or inconsistent named, the layers
// each config asks for, and each sanitize.

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/error.h"
#include "client/io.h"
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
using ::ferry::lm::testing::ParameterShapes;
using ::ferry::lm::testing::Refusal;
using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;

// The names of `weights`, in order.
std::vector<std::string> Names(const nn::Parameters& weights) {
  std::vector<std::string> names;
  for (const auto& [name, array] : weights) names.push_back(name);
  return names;
}

TEST(Families6ArgsTest, PhimoeHasMlxLmsDefaults) {
  const ModelArgs args = Config("phimoe", "");
  EXPECT_EQ(args.vocab_size, 32064);
  EXPECT_EQ(args.hidden_size, 4096);
  EXPECT_EQ(args.intermediate_size, 6400);
  EXPECT_EQ(args.num_hidden_layers, 32);
  EXPECT_EQ(args.num_attention_heads, 32);
  EXPECT_EQ(args.num_key_value_heads, 8);
  EXPECT_EQ(args.head_dim, 128);
  EXPECT_EQ(args.num_experts, 16);
  EXPECT_EQ(args.num_experts_per_tok, 2);
  EXPECT_EQ(args.rms_norm_eps, 1e-6f);
  EXPECT_EQ(args.router_jitter_noise, 0.01f);
  EXPECT_EQ(args.rope_type, "default");  // no rope_scaling: plain RoPE
  EXPECT_TRUE(args.attention_bias && args.output_bias);
  EXPECT_TRUE(args.layer_norm && args.layer_norm_bias);
  EXPECT_FALSE(args.tie_word_embeddings);
}

TEST(Families6ArgsTest, PhimoeReadsSuScaledRope) {
  const ModelArgs args =
      Config("phimoe", R"("hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
      "original_max_position_embeddings": 1024, "rope_scaling": {"type": "longrope",
      "short_factor": 1.0, "long_factor": 2.0, "short_mscale": 1.1, "long_mscale": 1.3})");
  EXPECT_EQ(args.rope_type, "longrope");
  EXPECT_EQ(args.rope_long_factor, std::vector<float>(8, 2.0f));  // one per pair of 16
  EXPECT_EQ(args.rope_scaling.at("original_max_position_embeddings"), 1024);
  EXPECT_FLOAT_EQ(args.rope_scaling.at("long_mscale"), 1.3);
  EXPECT_EQ(Refusal([] {
              Config("phimoe", R"("rope_scaling": {"short_factor": 1.0, "long_factor": 1.0,
                  "short_mscale": 1.0})");
            }),
            "[ModelArgs] config.json's rope_scaling lacks \"long_mscale\" (PhiMoE's "
            "SuScaledRoPE).");
  EXPECT_EQ(
      Refusal([] { Config("phimoe", R"("num_local_experts": 2, "num_experts_per_tok": 3)"); }),
      "[ModelArgs] config.json's num_experts_per_tok (3) must be from 1 to "
      "num_local_experts (2).");
}

// Hugging Face's experts stacked; biased attention, LayerNorms and lm_head.
TEST(Families6ArgsTest, PhimoeStacksHuggingFacesExperts) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("phimoe");
  EXPECT_EQ(shapes.at("model.layers.0.block_sparse_moe.switch_mlp.gate_proj.weight"),
            (Shape{4, 48, 32}));
  EXPECT_EQ(shapes.at("model.layers.1.block_sparse_moe.switch_mlp.down_proj.weight"),
            (Shape{4, 32, 48}));
  EXPECT_EQ(shapes.at("model.layers.0.block_sparse_moe.gate.weight"), (Shape{4, 32}));
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.o_proj.bias"), (Shape{32}));
  EXPECT_EQ(shapes.at("model.layers.0.input_layernorm.bias"), (Shape{32}));
  EXPECT_EQ(shapes.at("model.norm.bias"), (Shape{32}));
  EXPECT_EQ(shapes.at("lm_head.bias"), (Shape{96}));
}

constexpr char kDbrx[] = R"("vocab_size": 96, "d_model": 32, "n_layers": 2, "n_heads": 4)";

TEST(Families6ArgsTest, DbrxReadsItsNestedConfigs) {
  const ModelArgs args = Config("dbrx", std::string(kDbrx) + R"(,
      "attn_config": {"kv_n_heads": 2, "clip_qkv": 8, "rope_theta": 500000},
      "ffn_config": {"ffn_hidden_size": 48, "moe_num_experts": 4, "moe_top_k": 2})");
  EXPECT_EQ(args.hidden_size, 32);
  EXPECT_EQ(args.num_hidden_layers, 2);
  EXPECT_EQ(args.num_key_value_heads, 2);
  EXPECT_EQ(args.head_dim, 8);
  EXPECT_EQ(args.clip_qkv, 8.0f);
  EXPECT_EQ(args.rope_theta, 500000.0f);
  EXPECT_EQ(args.intermediate_size, 48);
  EXPECT_EQ(args.num_experts, 4);
  EXPECT_EQ(args.num_experts_per_tok, 2);
  EXPECT_EQ(args.rms_norm_eps, 1e-5f);  // nn.LayerNorm's default
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([] {
              Config("dbrx", std::string(kDbrx) + R"(, "ffn_config": {"ffn_hidden_size": 48,
                  "moe_num_experts": 4, "moe_top_k": 2})");
            }),
            "[ModelArgs] config.json lacks \"attn_config\".");
  EXPECT_EQ(Refusal([] {
              Config("dbrx", std::string(kDbrx) + R"(,
                  "attn_config": {"kv_n_heads": 2, "rope_theta": 500000},
                  "ffn_config": {"ffn_hidden_size": 48, "moe_num_experts": 4, "moe_top_k": 2})");
            }),
            "[ModelArgs] config.json lacks \"clip_qkv\".");
  EXPECT_EQ(Refusal([] { Config("dbrx", R"("vocab_size": 96, "d_model": 32, "n_layers": 2)"); }),
            "[ModelArgs] config.json lacks \"n_heads\".");
}

// Hugging Face's experts fused across experts (w2 each transposed) and mlx-lm's one MLP per
// expert (dbrx_4bit's, quantized) both become ffn.switch_mlp's.
TEST(Families6ArgsTest, DbrxSanitizeStacksBothLayouts) {
  std::unique_ptr<Model> model = load_model(TestData("dbrx"));
  const int64_t experts = 4, ffn = 32, dims = 32;
  const Array w2 = reshape(arange(0, experts * ffn * dims, float32), {experts * ffn, dims});
  const nn::Parameters sanitized =
      model->sanitize({{"transformer.blocks.0.ffn.experts.mlp.w2", w2},
                       {"transformer.blocks.0.ffn.experts.mlp.v1", w2},
                       {"transformer.blocks.0.ffn.router.layer.weight", zeros({4, 32})}});
  EXPECT_EQ(Names(sanitized),
            (std::vector<std::string>{"transformer.blocks.0.ffn.switch_mlp.down_proj.weight",
                                      "transformer.blocks.0.ffn.switch_mlp.up_proj.weight",
                                      "transformer.blocks.0.ffn.router.layer.weight"}));
  // Expert 1's down_proj is rows 32..63 of w2, transposed; its up_proj those rows as they are.
  const Array down = sanitized[0].second, up = sanitized[1].second;
  EXPECT_EQ(down.shape(), (Shape{experts, dims, ffn}));
  const Array rows = slice(w2, {ffn, 0}, {2 * ffn, dims});
  ExpectAllClose(reshape(slice(down, {1, 0, 0}, {2, dims, ffn}), {dims, ffn}), transpose(rows), 0,
                 0, "down_proj");
  ExpectAllClose(reshape(slice(up, {1, 0, 0}, {2, ffn, dims}), {ffn, dims}), rows, 0, 0, "up_proj");
  const std::unordered_map<std::string, Shape> quantized = ParameterShapes("dbrx_4bit");
  // 64 inputs in 32-bit words of 4 bits each: 8; one scale per group of 32.
  EXPECT_EQ(quantized.at("transformer.blocks.0.ffn.switch_mlp.gate_proj.weight"),
            (Shape{4, 64, 8}));
  EXPECT_EQ(quantized.at("transformer.blocks.0.ffn.switch_mlp.down_proj.scales"),
            (Shape{4, 64, 2}));
  EXPECT_EQ(quantized.at("transformer.blocks.1.norm_attn_norm.attn.Wqkv.weight"), (Shape{128, 8}));
  EXPECT_EQ(quantized.count("transformer.blocks.0.norm_attn_norm.norm_1.bias"), 0u);
}

constexpr char kMamba[] = R"("vocab_size": 96, "hidden_size": 40, "intermediate_size": 80,
    "state_size": 8, "num_hidden_layers": 2, "conv_kernel": 4, "use_bias": false,
    "use_conv_bias": true)";

TEST(Families6ArgsTest, MambaReadsAsMlxLm) {
  const ModelArgs args = Config("mamba", std::string(kMamba) + R"(, "time_step_rank": "auto")");
  EXPECT_EQ(args.time_step_rank, 3);  // ceil(40 / 16)
  EXPECT_EQ(args.mamba_d_state, 8);
  EXPECT_EQ(args.mamba_d_conv, 4);
  EXPECT_FALSE(args.mamba_proj_bias);
  EXPECT_TRUE(args.mamba_conv_bias);
  EXPECT_TRUE(args.tie_word_embeddings);
  EXPECT_FALSE(args.use_bcdt_rms);
  EXPECT_EQ(args.mixer_rms_eps, 1e-6f);
  // Falcon-Mamba, mamba through MODEL_REMAPPING, normalizes dt, B and C whatever it says.
  const ModelArgs falcon = Config("falcon_mamba", std::string(kMamba) + R"(,
      "time_step_rank": 5, "use_bcdt_rms": false, "mixer_rms_eps": 1e-5)");
  EXPECT_TRUE(falcon.use_bcdt_rms);
  EXPECT_EQ(falcon.time_step_rank, 5);
  EXPECT_EQ(falcon.mixer_rms_eps, 1e-5f);
  EXPECT_EQ(Refusal([] { Config("mamba", kMamba); }),
            "[ModelArgs] config.json lacks \"time_step_rank\".");
  EXPECT_EQ(Refusal([] { Config("mamba", std::string(kMamba) + R"(, "time_step_rank": "half")"); }),
            "[ModelArgs] config.json's \"time_step_rank\" is \"half\", not a number or "
            "\"auto\".");
  // mlx-lm's dataclass requires state_size before __post_init__ could read d_state.
  EXPECT_EQ(Refusal([] {
              Config("mamba", R"("vocab_size": 96, "hidden_size": 40, "intermediate_size": 80,
                  "d_state": 8)");
            }),
            "[ModelArgs] config.json lacks \"state_size\".");
}

// Hugging Face's conv weights (C, 1, K) moved to (C, K, 1); tied, so no lm_head; untied
// Falcon-Mamba's own, its in_proj and out_proj biased.
TEST(Families6ArgsTest, MambaSanitizesHuggingFacesConv) {
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("mamba");
  EXPECT_EQ(shapes.at("backbone.layers.0.mixer.conv1d.weight"), (Shape{64, 4, 1}));
  EXPECT_EQ(shapes.at("backbone.layers.1.mixer.A_log"), (Shape{64, 8}));
  EXPECT_EQ(shapes.at("backbone.layers.0.mixer.x_proj.weight"), (Shape{2 + 16, 64}));
  EXPECT_EQ(shapes.at("backbone.layers.0.mixer.dt_proj.bias"), (Shape{64}));
  EXPECT_EQ(shapes.count("lm_head.weight"), 0u);
  EXPECT_EQ(shapes.count("backbone.layers.0.mixer.in_proj.bias"), 0u);
  const std::unordered_map<std::string, Shape> falcon = ParameterShapes("falcon_mamba");
  EXPECT_EQ(falcon.at("lm_head.weight"), (Shape{96, 32}));
  EXPECT_EQ(falcon.at("backbone.layers.0.mixer.in_proj.bias"), (Shape{128}));
  EXPECT_EQ(falcon.at("backbone.layers.0.mixer.x_proj.weight"), (Shape{3 + 16, 64}));
}

TEST(Families6ArgsTest, MimoReadsAsMlxLm) {
  const ModelArgs args = Config("mimo", R"("hidden_size": 32, "num_hidden_layers": 2,
      "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
      "rms_norm_eps": 1e-6, "vocab_size": 50, "head_dim": 16)");
  EXPECT_EQ(args.head_dim, 8);  // hidden_size / heads, whatever head_dim says
  EXPECT_EQ(args.max_position_embeddings, 32768);
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_TRUE(args.attention_bias);
  EXPECT_FALSE(args.output_bias || args.mlp_bias);
  EXPECT_FALSE(args.tie_word_embeddings);
  EXPECT_EQ(Refusal([] {
              Config("mimo", R"("hidden_size": 32, "num_hidden_layers": 2,
                  "intermediate_size": 64, "num_attention_heads": 4, "rms_norm_eps": 1e-6,
                  "vocab_size": 50)");
            }),
            "[ModelArgs] config.json lacks \"num_key_value_heads\".");
}

// sanitize drops the multi-token-prediction layers, RoPE's buffers, and lm_head.weight where
// tied (mimo_4bit), keeps it where not (mimo).
TEST(Families6ArgsTest, MimoSanitizeDropsWhatMlxLmDrops) {
  const Array w = zeros({2, 2});
  const nn::Parameters weights = {{"model.mtp_layers.0.input_layernorm.weight", w},
                                  {"model.layers.0.self_attn.rotary_emb.inv_freq", w},
                                  {"model.norm.weight", w},
                                  {"lm_head.weight", w}};
  EXPECT_EQ(Names(load_model(TestData("mimo"))->sanitize(weights)),
            (std::vector<std::string>{"model.norm.weight", "lm_head.weight"}));
  EXPECT_EQ(Names(load_model(TestData("mimo_4bit"))->sanitize(weights)),
            (std::vector<std::string>{"model.norm.weight"}));
  const std::unordered_map<std::string, Shape> shapes = ParameterShapes("mimo");
  EXPECT_EQ(shapes.at("model.layers.0.self_attn.k_proj.bias"), (Shape{16}));
  EXPECT_EQ(shapes.count("model.layers.0.self_attn.o_proj.bias"), 0u);
  EXPECT_EQ(shapes.at("lm_head.weight"), (Shape{96, 32}));
}

}  // namespace
}  // namespace ferry::lm
