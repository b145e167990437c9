// The text models of mlx-lm 0.32.2's vision-language wrappers (qwen2_vl, qwen3_vl,
// qwen3_vl_moe, lfm2-vl, pixtral, kimi_vl, kimi_k25) and its model_type aliases (solar_open,
// glm_moe_dsa, MODEL_REMAPPING's): configs read as mlx-lm reads them, what is missing named,
// and what each wrapper's sanitize drops and renames. testdata/lm_vl_mlx.py writes the
// wrappers' checkpoints, whose logits and greedy runs models_mlx_test.cc checks; the aliases
// load the other fixtures' checkpoints under their names and give the same logits.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <utility>
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
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;
using ::ferry::testing::ExpectAllClose;
using ::ferry::testing::Failure;
using ::nlohmann::json;

constexpr char kQwen2[] = R"({"hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-6, "vocab_size": 50})";
constexpr char kQwen3Moe[] = R"({"hidden_size": 32, "num_hidden_layers": 2,
    "intermediate_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,
    "head_dim": 8, "rms_norm_eps": 1e-6, "vocab_size": 50, "num_experts": 4,
    "num_experts_per_tok": 2, "decoder_sparse_step": 1, "mlp_only_layers": [],
    "moe_intermediate_size": 16, "rope_theta": 1e6, "tie_word_embeddings": false,
    "max_position_embeddings": 64, "norm_topk_prob": true})";
constexpr char kLfm2[] = R"({"vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
    "norm_eps": 1e-5, "conv_bias": false, "conv_L_cache": 3, "block_dim": 32,
    "block_ff_dim": 64, "block_multiple_of": 16, "block_ffn_dim_multiplier": 1.0,
    "block_auto_adjust_ff_dim": false, "full_attn_idxs": [1]})";
constexpr char kDeepseek[] = R"({"vocab_size": 50, "hidden_size": 32,
    "intermediate_size": 64, "moe_intermediate_size": 16, "num_hidden_layers": 2,
    "num_attention_heads": 4, "n_shared_experts": 1, "n_routed_experts": 4,
    "kv_lora_rank": 16, "q_lora_rank": 16, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8,
    "v_head_dim": 8, "num_experts_per_tok": 2, "first_k_dense_replace": 1})";

// config.json of `type`, its text model `text` under text_config, and `top`'s fields.
ModelArgs Wrapped(const std::string& type, const char* text, json top = json::object()) {
  top["model_type"] = type;
  top["text_config"] = json::parse(text);
  return ModelArgs::from_json(top.dump());
}

std::string Refusal(const std::function<void()>& read) {
  const auto [code, message] = Failure(read);
  EXPECT_EQ(code, ErrorCode::kInvalidArgument) << message;
  return message;
}

json ConfigOf(const std::string& model) {
  std::ifstream file(TestData(model) + "/config.json");
  std::stringstream text;
  text << file.rdbuf();
  return json::parse(text.str());
}

// testdata/<model>'s weights beside `config`, in a directory of the test's own.
std::string Retyped(const std::string& model, const std::string& name, const json& config) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/vl_test_" + name;
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(TestData(model) + "/model.safetensors", dir + "/model.safetensors",
                             std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir + "/config.json") << config.dump();
  return dir;
}

// The model in `dir` gives the same logits as testdata/<model>'s.
void ExpectSameModel(const std::string& model, const std::string& dir) {
  const Array prompt = reshape(astype(arange(0, 12), int32), {1, 12});
  std::unique_ptr<Model> want = load_model(TestData(model));
  std::unique_ptr<Model> got = load_model(dir);
  ExpectAllClose((*got)(prompt), (*want)(prompt), 0, 0, dir);
}

std::set<std::string> Names(const nn::Parameters& weights) {
  std::set<std::string> names;
  for (const auto& [name, array] : weights) names.insert(name);
  return names;
}

TEST(VlArgsTest, Qwen2VlReadsItsTextConfigOrItsFlatConfig) {
  json mrope = json::parse(kQwen2);
  mrope["rope_scaling"] = {{"type", "mrope"}, {"mrope_section", {16, 24, 24}}};
  const ModelArgs args = Wrapped("qwen2_vl", mrope.dump().c_str(),
                                 {{"eos_token_id", 7}, {"quantization", {{"bits", 4}}}});
  EXPECT_EQ(args.model_type, "qwen2_vl");
  EXPECT_EQ(args.text_model_type, "qwen2");
  EXPECT_TRUE(args.attention_bias);       // qwen2's
  EXPECT_TRUE(args.tie_word_embeddings);  // qwen2's default
  EXPECT_EQ(args.rope_type, "default");   // mrope: plain RoPE over text positions
  EXPECT_EQ(args.rope_theta, 1e6f);
  EXPECT_EQ(args.eos_token_ids, std::vector<int32_t>{7});
  ASSERT_TRUE(args.quantization.has_value());
  EXPECT_EQ(args.quantization->bits, 4);
  // qwen2_vl's from_dict takes a config without text_config as the text model's.
  json flat = mrope;
  flat["model_type"] = "qwen2_vl";
  const ModelArgs flat_args = ModelArgs::from_json(flat.dump());
  EXPECT_EQ(flat_args.text_model_type, "qwen2");
  EXPECT_EQ(flat_args.hidden_size, 32);
  // MODEL_REMAPPING's qwen2_5_vl is qwen2_vl.
  flat["model_type"] = "qwen2_5_vl";
  EXPECT_EQ(ModelArgs::from_json(flat.dump()).model_type, "qwen2_vl");
  flat["rope_scaling"]["mrope_section"] = {16, 48};
  EXPECT_EQ(Refusal([&] { ModelArgs::from_json(flat.dump()); }),
            "[ModelArgs] config.json's rope_scaling must give \"mrope\" three mrope_section's.");
}

TEST(VlArgsTest, EachWrapperReadsItsTextModelAsMlxLm) {
  json qwen3 = json::parse(kQwen2);
  qwen3["head_dim"] = 16;
  qwen3["rope_parameters"] = {
      {"rope_type", "default"}, {"rope_theta", 5e5}, {"mrope_section", {4, 2, 2}}};
  const ModelArgs qwen3_vl = Wrapped("qwen3_vl", qwen3.dump().c_str());
  EXPECT_EQ(qwen3_vl.text_model_type, "qwen3");
  EXPECT_TRUE(qwen3_vl.qk_norm);
  EXPECT_EQ(qwen3_vl.head_dim, 16);
  EXPECT_EQ(qwen3_vl.rope_theta, 5e5f);
  qwen3["model_type"] = "qwen3_vl";  // flat too, as qwen2_vl's
  EXPECT_EQ(ModelArgs::from_json(qwen3.dump()).text_model_type, "qwen3");

  const ModelArgs moe = Wrapped("qwen3_vl_moe", kQwen3Moe);
  EXPECT_EQ(moe.text_model_type, "qwen3_moe");
  EXPECT_EQ(moe.num_experts, 4);
  EXPECT_FALSE(moe.tie_word_embeddings);
  // qwen3_vl_moe, lfm2-vl, pixtral, kimi_vl and kimi_k25 have no from_dict of their own.
  for (const char* type : {"qwen3_vl_moe", "lfm2-vl", "pixtral", "kimi_vl", "kimi_k25"}) {
    json flat = json::parse(kQwen3Moe);
    flat["model_type"] = type;
    EXPECT_EQ(
        Refusal([&] { ModelArgs::from_json(flat.dump()); }),
        std::string("[ModelArgs] config.json lacks \"text_config\" (") + type + "'s text model).");
  }

  const ModelArgs lfm2 = Wrapped("lfm2-vl", kLfm2);
  EXPECT_EQ(lfm2.model_type, "lfm2-vl");
  EXPECT_EQ(lfm2.text_model_type, "lfm2");
  EXPECT_EQ(lfm2.conv_l_cache, 3);

  // pixtral: untied whatever text_config says, 32 query heads where it names none.
  json pixtral = json::parse(kQwen2);
  pixtral.erase("num_attention_heads");
  pixtral["num_key_value_heads"] = 8;
  pixtral["tie_word_embeddings"] = true;
  const ModelArgs llama = Wrapped("pixtral", pixtral.dump().c_str());
  EXPECT_EQ(llama.text_model_type, "llama");
  EXPECT_EQ(llama.num_attention_heads, 32);
  EXPECT_EQ(llama.head_dim, 1);
  EXPECT_FALSE(llama.tie_word_embeddings);
  EXPECT_FALSE(llama.attention_bias);

  // kimi_vl's TextArgs and kimi_k25's deepseek_v3 ModelArgs: deepseek_v3's defaults.
  for (const char* type : {"kimi_vl", "kimi_k25"}) {
    const ModelArgs kimi = Wrapped(type, kDeepseek);
    EXPECT_EQ(kimi.model_type, type);
    EXPECT_EQ(kimi.text_model_type, "deepseek_v3");
    EXPECT_EQ(kimi.rms_norm_eps, 1e-6f);
    EXPECT_EQ(kimi.rope_theta, 1e4f);
    EXPECT_EQ(kimi.num_experts, 4);
    EXPECT_EQ(kimi.topk_method, "noaux_tc");
    EXPECT_FALSE(kimi.tie_word_embeddings);
  }
}

// MODEL_REMAPPING's aliases read and build as their targets: the same checkpoint under the
// alias gives the target's logits.
TEST(VlArgsTest, RemappedModelTypesAreTheirTargets) {
  const std::vector<std::pair<std::string, std::string>> aliases = {
      {"xverse", "llama"},       {"iquestcoder", "llama"},
      {"minimax_m2", "minimax"}, {"joyai_llm_flash", "deepseek_v3"},
      {"llava", "mistral3"},     {"gemma4_unified", "gemma4"}};
  for (const auto& [alias, target] : aliases) {
    json config = ConfigOf(target);
    config["model_type"] = alias;
    const ModelArgs args = ModelArgs::from_json(config.dump());
    EXPECT_EQ(args.model_type, target) << alias;
    ExpectSameModel(target, Retyped(target, alias, config));
  }
  EXPECT_EQ(ModelArgs::from_json(ConfigOf("mistral3").dump()).text_model_type, "ministral3");
}

// solar_open: glm4_moe's Model, with defaults glm4_moe's ModelArgs lacks.
TEST(VlArgsTest, SolarOpenIsGlm4MoeWithItsOwnDefaults) {
  json config = ConfigOf("glm4_moe");
  config["model_type"] = "solar_open";
  const ModelArgs args = ModelArgs::from_json(config.dump());
  EXPECT_EQ(args.model_type, "glm4_moe");
  EXPECT_TRUE(args.qk_norm);
  EXPECT_EQ(args.n_group, 2);
  ExpectSameModel("glm4_moe", Retyped("glm4_moe", "solar_open", config));
  for (const char* key : {"use_qk_norm", "attention_bias", "n_group", "topk_group"}) {
    config.erase(key);
  }
  const ModelArgs defaults = ModelArgs::from_json(config.dump());
  EXPECT_FALSE(defaults.qk_norm);
  EXPECT_FALSE(defaults.attention_bias);
  EXPECT_EQ(defaults.n_group, 1);
  EXPECT_EQ(defaults.topk_group, 1);
  config.erase("tie_word_embeddings");  // which solar_open's requires
  EXPECT_EQ(Refusal([&] { ModelArgs::from_json(config.dump()); }),
            "[ModelArgs] config.json lacks \"tie_word_embeddings\".");
}

// glm_moe_dsa: deepseek_v32's Model, its RoPE rope_parameters', its indexer's rotation
// interleaved unless the config says not.
TEST(VlArgsTest, GlmMoeDsaIsDeepseekV32WithRopeParameters) {
  json config = ConfigOf("deepseek_v32");
  config["model_type"] = "glm_moe_dsa";
  config["rope_parameters"] = config["rope_scaling"];
  config["rope_parameters"]["rope_theta"] = config["rope_theta"];
  config.erase("rope_scaling");
  config.erase("rope_theta");
  const ModelArgs args = ModelArgs::from_json(config.dump());
  EXPECT_EQ(args.model_type, "deepseek_v32");
  EXPECT_EQ(args.rope_type, "yarn");
  EXPECT_EQ(args.rope_theta, 10000.0f);
  EXPECT_FALSE(args.indexer_rope_interleave);
  ExpectSameModel("deepseek_v32", Retyped("deepseek_v32", "glm_moe_dsa", config));
  config.erase("indexer_rope_interleave");
  EXPECT_TRUE(ModelArgs::from_json(config.dump()).indexer_rope_interleave);
  config["rope_parameters"].erase("rope_theta");
  EXPECT_EQ(Refusal([&] { ModelArgs::from_json(config.dump()); }),
            "[ModelArgs] config.json's rope_parameters lacks \"rope_theta\".");
  config.erase("index_topk");
  EXPECT_EQ(Refusal([&] { ModelArgs::from_json(config.dump()); }),
            "[ModelArgs] config.json lacks \"index_topk\" (glm_moe_dsa's).");
}

TEST(VlSanitizeTest, Qwen2VlReadsBothHuggingFaceLayouts) {
  std::unique_ptr<Model> model = make_model(Wrapped("qwen2_vl", kQwen2));
  const Array w = zeros({2});
  // Newer: both towers under "model", its language_model the text model's.
  EXPECT_EQ(
      Names(model->sanitize({{"model.language_model.norm.weight", w},
                             {"model.visual.blocks.0.weight", w},
                             {"lm_head.weight", w},
                             {"visual.merger.weight", w},
                             {"vision_tower.weight", w}})),
      (std::set<std::string>{"language_model.model.norm.weight", "language_model.lm_head.weight"}));
  // Older: the text model's names at the top; mlx-lm's kept as they are.
  EXPECT_EQ(
      Names(model->sanitize({{"model.norm.weight", w},
                             {"visual.merger.weight", w},
                             {"language_model.lm_head.weight", w}})),
      (std::set<std::string>{"language_model.model.norm.weight", "language_model.lm_head.weight"}));
}

TEST(VlSanitizeTest, Qwen3VlMoeSplitsFusedExpertsAndKeepsOnlyTheTextModel) {
  std::unique_ptr<Model> model = make_model(Wrapped("qwen3_vl_moe", kQwen3Moe));
  // (E, hidden, 2 x moe): gate the first half of the last axis, up the second.
  const Array gate_up = reshape(astype(arange(0, 4 * 32 * 32), float32), {4, 32, 32});
  const Array down = zeros({4, 16, 32});
  const nn::Parameters sanitized =
      model->sanitize({{"model.language_model.layers.0.mlp.experts.gate_up_proj", gate_up},
                       {"model.language_model.layers.0.mlp.experts.down_proj", down},
                       {"model.visual.patch_embed.weight", zeros({2})},
                       {"lm_head.weight", zeros({50, 32})},
                       {"mtp.weight", zeros({2})}});
  std::map<std::string, Array> by_name(sanitized.begin(), sanitized.end());
  EXPECT_EQ(
      Names(sanitized),
      (std::set<std::string>{"language_model.lm_head.weight",
                             "language_model.model.layers.0.mlp.switch_mlp.gate_proj.weight",
                             "language_model.model.layers.0.mlp.switch_mlp.up_proj.weight",
                             "language_model.model.layers.0.mlp.switch_mlp.down_proj.weight"}));
  const std::string experts = "language_model.model.layers.0.mlp.switch_mlp.";
  ExpectAllClose(by_name.at(experts + "gate_proj.weight"),
                 swapaxes(slice(gate_up, {0, 0, 0}, {4, 32, 16}), 1, 2), 0, 0, "gate");
  ExpectAllClose(by_name.at(experts + "up_proj.weight"),
                 swapaxes(slice(gate_up, {0, 0, 16}, {4, 32, 32}), 1, 2), 0, 0, "up");
  EXPECT_EQ(by_name.at(experts + "down_proj.weight").shape(), (Shape{4, 32, 16}));
  // What mlx-lm's sanitize cannot find is named.
  EXPECT_EQ(Refusal([&] {
              model->sanitize({{"model.language_model.norm.weight", down}});
            }),
            "[load_model] the checkpoint lacks lm_head (qwen3_vl_moe's output layer).");
  EXPECT_EQ(Refusal([&] {
              model->sanitize({{"model.norm.weight", down}});
            }),
            "[load_model] the checkpoint holds neither model.language_model.* nor "
            "language_model.model.* (qwen3_vl_moe's text model).");
}

TEST(VlSanitizeTest, TowersAreDroppedAndKimiVlsExpertsStacked) {
  const Array w = zeros({2});
  for (const char* type : {"lfm2-vl", "pixtral"}) {
    std::unique_ptr<Model> model =
        make_model(std::string(type) == "pixtral" ? Wrapped(type, kQwen2) : Wrapped(type, kLfm2));
    EXPECT_EQ(Names(model->sanitize({{"vision_tower.encoder.weight", w},
                                     {"multi_modal_projector.linear.weight", w},
                                     {"language_model.model.norm.weight", w}})),
              (std::set<std::string>{"language_model.model.norm.weight"}))
        << type;
  }
  std::unique_ptr<Model> kimi_vl = make_model(Wrapped("kimi_vl", kDeepseek));
  nn::Parameters weights = {{"vision_tower.weight", w},
                            {"language_model.model.layers.0.self_attn.rotary_emb.inv_freq", w},
                            {"multi_modal_projector.weight", w}};
  for (int e = 0; e < 4; ++e) {
    weights.emplace_back(
        "language_model.model.layers.1.mlp.experts." + std::to_string(e) + ".up_proj.weight",
        zeros({16, 32}));
  }
  const nn::Parameters stacked = kimi_vl->sanitize(weights);
  ASSERT_EQ(stacked.size(), 1u);
  EXPECT_EQ(stacked[0].first, "language_model.model.layers.1.mlp.switch_mlp.up_proj.weight");
  EXPECT_EQ(stacked[0].second.shape(), (Shape{4, 16, 32}));
}

TEST(VlSanitizeTest, KimiK25RunsDeepseekV3sSanitizeUnderLanguageModel) {
  std::unique_ptr<Model> model = make_model(Wrapped("kimi_k25", kDeepseek));
  nn::Parameters weights = {{"vision_model.weight", zeros({2})},
                            {"mm_projector.weight", zeros({2})},
                            {"vision_tower.weight", zeros({2})}};
  for (int e = 0; e < 4; ++e) {
    weights.emplace_back(
        "language_model.model.layers.1.mlp.experts." + std::to_string(e) + ".gate_proj.weight",
        zeros({16, 32}));
  }
  EXPECT_EQ(
      Names(model->sanitize(weights)),
      (std::set<std::string>{"language_model.model.layers.1.mlp.switch_mlp.gate_proj.weight"}));
  EXPECT_EQ(Refusal([&] {
              model->sanitize({{"model.norm.weight", zeros({2})}});
            }),
            "[load_model] the checkpoint holds no language_model weights (kimi_k25's).");
}

// The fixtures' checkpoints load with their towers dropped: only the text model's weights,
// under "language_model.".
TEST(VlLoadTest, CheckpointsLoadAsTheTextModel) {
  for (const char* name : {"qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "lfm2_vl",
                           "pixtral", "kimi_vl", "kimi_k25"}) {
    std::unique_ptr<Model> model = load_model(TestData(name));
    for (const auto& [key, array] : model->parameters()) {
      EXPECT_EQ(key.rfind("language_model.", 0), 0u) << name << ": " << key;
    }
  }
}

}  // namespace
}  // namespace ferry::lm
