// ferry::lm on a real ferryd: a model loaded onto the daemon generates mlx-lm's tokens; each
// token costs one Execute naming a graph the daemon already holds, the previous step's
// outputs its inputs, nothing uploaded; a sampled generation draws the local device's
// tokens; loading the same checkpoint again sends no weights.

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/lm/batch_generate.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "client/lm/speculative_generate.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry::lm {
namespace {

std::string TestData(const std::string& name) {
  return ::ferry::testing::Runfile("client/lm/testdata/" + name);
}

std::vector<int32_t> Generate(Model& model, const std::vector<int32_t>& prompt,
                              GenerateOptions options) {
  TokenGenerator generator(model, prompt, std::move(options));
  std::vector<int32_t> tokens;
  while (std::optional<GenerationStep> step = generator.next()) tokens.push_back(step->token);
  return tokens;
}

// Each of `names` (a model directory in testdata), loaded onto `remote`, generates the
// greedy tokens `fixture` (what a testdata/lm_*_mlx.py recorded) holds for it.
void ExpectMlxLmsTokensOn(const Device& remote, const std::string& fixture,
                          const std::vector<std::string>& names) {
  const auto recorded = load_safetensors(TestData(fixture)).first;
  for (const std::string& name : names) {
    std::unique_ptr<Model> model = load_model(TestData(name), remote);
    EXPECT_EQ(model->parameters().front().second.device(), remote);
    Array prompt = recorded.at(name + ".prompt"), greedy = recorded.at(name + ".greedy");
    GenerateOptions options;
    options.max_tokens = static_cast<int>(greedy.shape(0));
    EXPECT_EQ(Generate(*model, prompt.to_vector<int32_t>(), options), greedy.to_vector<int32_t>())
        << name;
  }
}

// After 3 steps, 30 more of `generator` on `remote`: one Execute each, of a graph the daemon
// holds, nothing uploaded. Returns what they cost (after minus before).
DeviceStats ExpectOneExecuteAStep(TokenGenerator& generator, const Device& remote) {
  for (int i = 0; i < 3; ++i) generator.next();
  const DeviceStats before = remote.stats();
  for (int i = 0; i < 30; ++i) EXPECT_TRUE(generator.next().has_value());
  const DeviceStats after = remote.stats();
  EXPECT_EQ(after.executes - before.executes, 30);
  EXPECT_EQ(after.graphs_sent - before.graphs_sent, 0);
  EXPECT_EQ(after.uploads - before.uploads, 0);
  DeviceStats used;
  used.bytes_sent = after.bytes_sent - before.bytes_sent;
  used.bytes_received = after.bytes_received - before.bytes_received;
  return used;
}

TEST(ClientLmRemoteTest, AModelOnTheDaemonGeneratesMlxLmsTokens) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_mlx.safetensors", {"llama", "llama_4bit"});
}

// Mixtures of experts generate mlx-lm's tokens on the daemon too, and a batch of prompts
// generated together there gives each the tokens the local device gives, one Execute a step.
TEST(ClientLmRemoteTest, MixturesOfExpertsAndBatchesRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_moe_mlx.safetensors", {"mixtral", "qwen3_moe_4bit"});
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  const std::vector<std::vector<int32_t>> prompts = {{5, 17, 2, 40}, {9}, {31, 3, 77, 12, 8, 1}};
  GenerateOptions options;
  options.max_tokens = 12;
  std::unique_ptr<Model> local_model = load_model(TestData("mixtral"), local());
  const BatchResponse here = batch_generate(*local_model, tokenizer, prompts, options, {-1});
  std::unique_ptr<Model> model = load_model(TestData("mixtral"), remote);
  const int64_t executes = remote.stats().executes;
  const BatchResponse there = batch_generate(*model, tokenizer, prompts, options, {-1});
  EXPECT_EQ(there.tokens, here.tokens);
  // The prefill (one chunk) and a step per token.
  EXPECT_EQ(remote.stats().executes - executes, 1 + 12);
}

// Gemma 2 (soft-capped attention composed of ops), Phi-3 and gpt-oss (sinks, sliding layers,
// OpenAI's mxfp4 layout sanitized on the daemon) generate mlx-lm's tokens there.
TEST(ClientLmRemoteTest, Gemma2Phi3AndGptOssRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_more_mlx.safetensors", {"gemma2", "phi3", "gpt_oss_mxfp4"});
}

// DeepSeek V3 (the latent in the cache; its Hugging Face layout, and a quantized kv_b_proj,
// split, dequantized and quantized again on the daemon), V2, GLM-4.5 (its router),
// SmolLM3 (layers without positions) and OLMo 2 and 3 (sliding layers' rings) generate
// mlx-lm's tokens there.
TEST(ClientLmRemoteTest, DeepseekGlm45SmolLM3AndOlmoRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_deepseek_mlx.safetensors",
                       {"deepseek_v3", "deepseek_v3_4bit", "deepseek_v2"});
  ExpectMlxLmsTokensOn(remote, "lm_glm4_moe_mlx.safetensors", {"glm4_moe", "glm4_moe_4bit"});
  ExpectMlxLmsTokensOn(remote, "lm_smollm3_mlx.safetensors", {"smollm3_layers"});
  ExpectMlxLmsTokensOn(remote, "lm_olmo_mlx.safetensors", {"olmo2", "olmo3"});
}

// Granite (its multipliers) and Granite-MoE (Hugging Face's fused experts split on the
// daemon), Cohere 2 (sliding layers' rings, global ones without RoPE) and StarCoder 2
// (LayerNorms, biased projections), 4-bit ones too, generate mlx-lm's tokens there; Cohere 2
// a token per Execute of a graph the daemon holds, its rings full.
TEST(ClientLmRemoteTest, GraniteCohere2AndStarcoder2RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(
      remote, "lm_more_families_mlx.safetensors",
      {"granite", "granitemoe", "granitemoe_4bit", "cohere2", "cohere2_4bit", "starcoder2_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("cohere2"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Gemma 4 (KV-shared layers attending over an earlier layer's cache, per-layer inputs,
// proportional RoPE, experts; Hugging Face's checkpoints sanitized on the daemon), 4-bit too,
// generates mlx-lm's tokens there; a token per Execute of a graph the daemon holds, its rings
// full.
TEST(ClientLmRemoteTest, Gemma4RunsOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_gemma4_mlx.safetensors",
                       {"gemma4", "gemma4_text", "gemma4_moe", "gemma4_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("gemma4"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Gemma 3n (AltUp, Laurel, per-layer inputs, KV-shared layers, activation sparsity; Hugging
// Face's checkpoint sanitized on the daemon), 4-bit too, generates mlx-lm's tokens there; a
// token per Execute of a graph the daemon holds, its rings full.
TEST(ClientLmRemoteTest, Gemma3nRunsOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_gemma3n_mlx.safetensors",
                       {"gemma3n", "gemma3n_mlx", "gemma3n_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("gemma3n"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// DeepSeek V3.2 (each layer's indexer choosing 8 keys from its own cache beside the latent's;
// Hugging Face's layout sanitized on the daemon) and GLM-4.7-Flash, 4-bit too, generate
// mlx-lm's tokens there; V3.2 past index_topk a token per Execute of a graph the daemon holds.
TEST(ClientLmRemoteTest, DeepseekV32AndGlm47FlashRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_deepseek_v32_mlx.safetensors",
                       {"deepseek_v32", "deepseek_v32_4bit"});
  ExpectMlxLmsTokensOn(remote, "lm_glm4_moe_lite_mlx.safetensors",
                       {"glm4_moe_lite", "glm4_moe_lite_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("deepseek_v32"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9, 31, 3, 77, 12, 8}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// GLM-4 (partial RoPE, sandwich norms), EXAONE 4 (sliding layers' rings, global ones without
// RoPE), ERNIE 4.5-MoE (Hugging Face's experts stacked on the daemon, shared experts) and OLMoE,
// 4-bit ones too, generate mlx-lm's tokens there; EXAONE 4 a token per Execute of a graph the
// daemon holds, its rings full.
TEST(ClientLmRemoteTest, Glm4Exaone4Ernie45AndOlmoeRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_families_2_mlx.safetensors",
                       {"glm4", "glm4_4bit", "exaone4", "ernie4_5", "ernie4_5_moe",
                        "ernie4_5_moe_4bit", "olmoe", "olmoe_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("exaone4"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// MiniMax-M2 (its sigmoid router and correction bias, q/k norms over the whole projections,
// partial rotary), dots.llm1 (grouped experts beside shared ones) and Bailing MoE (fused q/k/v,
// norm_head), Hugging Face's experts stacked on the daemon, 4-bit ones too, generate mlx-lm's
// tokens there; MiniMax a token per Execute of a graph the daemon holds.
TEST(ClientLmRemoteTest, MinimaxDots1AndBailingMoeRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(
      remote, "lm_moe_families_mlx.safetensors",
      {"minimax", "minimax_4bit", "dots1", "dots1_4bit", "bailing_moe", "bailing_moe_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("minimax"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Hunyuan (q/k norms after RoPE; the mixture's cross-layer attention, experts beside a shared
// MLP, Hugging Face's experts and Hunyuan-Large's fused projections split on the daemon),
// Seed-OSS, Apertus (xIELU), Helium and InternLM3, 4-bit ones too, generate mlx-lm's tokens
// there; Hunyuan's mixture a token per Execute of a graph the daemon holds.
TEST(ClientLmRemoteTest, HunyuanSeedOssApertusHeliumAndInternlm3RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_families_3_mlx.safetensors",
                       {"hunyuan_v1_dense", "hunyuan", "hunyuan_fused", "hunyuan_4bit", "seed_oss",
                        "seed_oss_4bit", "apertus", "helium", "internlm3"});
  std::unique_ptr<Model> model = load_model(TestData("hunyuan"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// GPT-2 (Hugging Face's Conv1D weights transposed on the daemon), GPT-NeoX (partial rotary,
// per-head fused q/k/v) and GPT-BigCode (multi-query attention), 4-bit ones too, generate
// mlx-lm's tokens there; GPT-2 a token per Execute of a graph the daemon holds, its learned
// positions read from the step's offset.
TEST(ClientLmRemoteTest, Gpt2GptNeoxAndGptBigCodeRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(
      remote, "lm_gpt_mlx.safetensors",
      {"gpt2", "gpt2_4bit", "gpt_neox", "gpt_neox_4bit", "gpt_bigcode", "gpt_bigcode_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("gpt2"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Gemma (1), Cohere (per-head LayerNorms of q and k), Phi (partial rotary, every Linear
// biased) and StableLM (per-head q/k LayerNorms; 4-bit its parallel residual), 4-bit ones too,
// generate mlx-lm's tokens there; Phi a token per Execute of a graph the daemon holds.
TEST(ClientLmRemoteTest, GemmaCoherePhiAndStablelmRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_families_4_mlx.safetensors",
                       {"gemma", "gemma_4bit", "cohere", "cohere_4bit", "phi", "phi_4bit",
                        "stablelm", "stablelm_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("phi"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// PhiMoE (sparsemixer, SuScaledRoPE), DBRX (clipped fused q/k/v, experts), Mamba and
// Falcon-Mamba (the selective scan a step at a time, its arrays caches) and MiMo, 4-bit ones
// too, generate mlx-lm's tokens there.
TEST(ClientLmRemoteTest, PhimoeDbrxMambaAndMimoRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_families_6_mlx.safetensors",
                       {"phimoe", "phimoe_4bit", "dbrx", "dbrx_4bit", "mamba", "falcon_mamba",
                        "mamba_4bit", "mimo", "mimo_4bit"});
}

// InternLM2 (fused wqkv), MiniCPM (its scales), MiniCPM3 (latent attention), Nemotron
// (LayerNorm1P, relu2, partial rotary) and EXAONE 3, 4-bit ones too, generate mlx-lm's tokens
// there.
TEST(ClientLmRemoteTest, Internlm2MinicpmNemotronAndExaoneRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_families_5_mlx.safetensors",
                       {"internlm2", "internlm2_4bit", "minicpm", "minicpm_4bit", "minicpm3",
                        "minicpm3_4bit", "nemotron", "nemotron_4bit", "exaone", "exaone_4bit"});
}

// Youtu-LLM (latent attention), Nanbeige (looped layers), TeleChat3, Klear (experts mixed
// with a shared MLP) and Baichuan-M1 (convolved keys and values, caches lists of an arrays
// cache and a plain or rotating one), 4-bit ones too, generate mlx-lm's tokens there;
// Nanbeige a token per Execute of a graph the daemon holds.
TEST(ClientLmRemoteTest, YoutuNanbeigeTelechat3KlearAndBaichuanM1RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(
      remote, "lm_families_7_mlx.safetensors",
      {"youtu_llm", "youtu_llm_4bit", "nanbeige", "nanbeige_4bit", "telechat3", "telechat3_4bit",
       "klear", "klear_4bit", "baichuan_m1", "baichuan_m1_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("nanbeige"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// OpenELM (heads per layer), OLMo hybrid (gated delta nets, their arrays caches) and PLaMo 2
// (Mamba mixers beside attention), 4-bit ones too, generate mlx-lm's tokens there.
TEST(ClientLmRemoteTest, OpenelmOlmoHybridAndPlamo2RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(
      remote, "lm_families_9_mlx.safetensors",
      {"openelm", "openelm_4bit", "olmo_hybrid", "olmo_hybrid_4bit", "plamo2", "plamo2_4bit"});
}

// EXAONE MoE, AFM MoE and Step-3.5 (sliding layers beside global ones, gated attention,
// grouped and biased experts, clamped SwiGLUs), 4-bit ones too, generate mlx-lm's tokens there.
TEST(ClientLmRemoteTest, ExaoneMoeAfmoeAndStep3p5RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(
      remote, "lm_families_8_mlx.safetensors",
      {"exaone_moe", "exaone_moe_4bit", "afmoe", "afmoe_4bit", "step3p5", "step3p5_4bit"});
}

// Ministral 3 (sliding layers' rings, Llama 4's scaling of the queries by position),
// mistral3 (Hugging Face's layout sanitized on the daemon; 4-bit) and Mistral 4 (Hugging
// Face's fused experts and kv_b_proj split there; 4-bit) generate mlx-lm's tokens there;
// Ministral 3 a token per Execute of a graph the daemon holds, its rings full.
TEST(ClientLmRemoteTest, Ministral3Mistral3AndMistral4RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_mistral3_mlx.safetensors",
                       {"ministral3", "mistral3", "mistral3_4bit", "mistral4", "mistral4_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("ministral3"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// MiMo-V2-Flash (sinks, rotating caches), Laguna (its original layout sanitized on the daemon)
// and LongCat-Flash (caches lists of two latent caches), 4-bit ones too, generate mlx-lm's
// tokens there.
TEST(ClientLmRemoteTest, MimoV2FlashLagunaAndLongcatFlashRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_families_10_mlx.safetensors",
                       {"mimo_v2_flash", "mimo_v2_flash_4bit", "laguna", "laguna_4bit",
                        "longcat_flash", "longcat_flash_4bit"});
}

// The text models of mlx-lm's vision-language wrappers (Qwen2-VL's and Qwen3-VL-MoE's
// Hugging Face layouts sanitized on the daemon, Qwen3-VL 4-bit, LFM2-VL's arrays caches,
// Kimi K2.5's DeepSeek V3) generate mlx-lm's tokens there; Qwen2-VL a token per Execute of a
// graph the daemon holds.
TEST(ClientLmRemoteTest, VisionLanguageWrappersRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_vl_mlx.safetensors",
                       {"qwen2_vl", "qwen3_vl_4bit", "qwen3_vl_moe", "lfm2_vl", "kimi_k25"});
  std::unique_ptr<Model> model = load_model(TestData("qwen2_vl"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Qwen3-Next and Qwen3.5 (gated delta nets: the conv and recurrent state carried in arrays
// caches, the recurrence composed of ops) generate mlx-lm's tokens there, each token one
// Execute of a graph the daemon holds: the states keep their shapes from step to step.
TEST(ClientLmRemoteTest, Qwen3NextAndQwen35RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_qwen3_next_mlx.safetensors",
                       {"qwen3_next", "qwen3_5", "qwen3_5_moe", "qwen3_next_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("qwen3_next"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Llama 4 (chunked layers' rings, its experts, both config shapes) generates mlx-lm's tokens
// there, and through its chunks (6 positions, crossed again and again) each token is one
// Execute of a graph the daemon holds: the slot and the chunk are computed from the position.
TEST(ClientLmRemoteTest, Llama4RunsOnTheDaemonOneGraphAStep) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_llama4_mlx.safetensors",
                       {"llama4", "llama4_4bit", "llama4_text"});
  std::unique_ptr<Model> model = load_model(TestData("llama4"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9, 31, 3, 77}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// LFM2 and LFM2-MoE (short convolutions whose state an arrays cache carries, attention
// layers between) generate mlx-lm's tokens there, each token one Execute of a graph the
// daemon holds.
TEST(ClientLmRemoteTest, Lfm2AndLfm2MoeRunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_lfm2_mlx.safetensors",
                       {"lfm2", "lfm2_idxs", "lfm2_moe", "lfm2_4bit", "lfm2_moe_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("lfm2_moe"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Mamba-2 and Granite 4.0 (the conv and scan states carried in arrays caches, the SSD scan
// composed of ops; Granite's attention layers and experts between) generate mlx-lm's tokens
// there, each token one Execute of a graph the daemon holds.
TEST(ClientLmRemoteTest, Mamba2AndGranite4RunOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_mamba2_mlx.safetensors",
                       {"mamba2", "mamba2_4bit", "granitemoehybrid", "granitemoehybrid_dense",
                        "granitemoehybrid_4bit"});
  for (const char* name : {"mamba2", "granitemoehybrid"}) {
    std::unique_ptr<Model> model = load_model(TestData(name), remote);
    GenerateOptions options;
    options.max_tokens = 40;
    TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
    ExpectOneExecuteAStep(steady, remote);
  }
}

// Falcon-H1 (a Mamba-2 mixer beside attention in every layer, each layer's caches a list of
// an arrays cache and a KV cache) generates mlx-lm's tokens there, each token one Execute of
// a graph the daemon holds.
TEST(ClientLmRemoteTest, FalconH1RunsOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_falcon_h1_mlx.safetensors",
                       {"falcon_h1", "falcon_h1_norm", "falcon_h1_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("falcon_h1"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Kimi Linear (KDA layers: three short convs' states and the recurrent one, a decay per key
// feature, in arrays caches; latent attention between; Hugging Face's checkpoint sanitized on
// the daemon, a 4-bit one) generates mlx-lm's tokens there, each token one Execute of a graph
// the daemon holds.
TEST(ClientLmRemoteTest, KimiLinearRunsOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_kimi_linear_mlx.safetensors",
                       {"kimi_linear", "kimi_linear_tied", "kimi_linear_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("kimi_linear"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

// Nemotron-H (Mamba-2 mixers with a gated norm per group, attention without positions, relu2
// MLPs and experts, only the mixers and attention cached; Hugging Face's checkpoints sanitized
// on the daemon, a 4-bit one) generates mlx-lm's tokens there, each token one Execute of a
// graph the daemon holds.
TEST(ClientLmRemoteTest, NemotronHRunsOnTheDaemon) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  ExpectMlxLmsTokensOn(remote, "lm_nemotron_h_mlx.safetensors",
                       {"nemotron_h", "nemotron_h_moe", "nemotron_h_4bit"});
  std::unique_ptr<Model> model = load_model(TestData("nemotron_h_moe"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  TokenGenerator steady(*model, {5, 17, 2, 40, 9}, options);
  ExpectOneExecuteAStep(steady, remote);
}

TEST(ClientLmRemoteTest, EachTokenIsOneExecuteOfAGraphTheDaemonHolds) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  std::unique_ptr<Model> model = load_model(TestData("qwen2"), remote);
  GenerateOptions options;
  options.max_tokens = 40;
  options.sampler = make_sampler(0.7f, 0.95f);
  options.logits_processors = make_logits_processors({}, 1.1f, 8);
  TokenGenerator generator(*model, {5, 17, 2, 40, 40, 9, 31, 3, 77, 12}, options);
  // Past the first steps (the processors' history fills up to 64 tokens: 10 + 54) every
  // step is the same graph.
  for (int i = 0; i < 56; ++i) ASSERT_TRUE(generator.next() || i >= 40);
  random::seed(1);
  TokenGenerator steady(*model, std::vector<int32_t>(70, 4), options);
  const DeviceStats used = ExpectOneExecuteAStep(steady, remote);
  // The position and the sampler's key (12 bytes) go with each step; the token comes back,
  // and the 96 log-probabilities no one reads within the 4 KiB that unread results may take.
  EXPECT_LT(used.bytes_sent, 30 * 400);
  EXPECT_LT(used.bytes_received, 30 * 1024);
}

// Through rotating caches (max_kv_size 16, wrapped twice over), each token is still one
// Execute of a graph the daemon holds: the slot is computed there from the position.
TEST(ClientLmRemoteTest, ARotatingCacheDecodesOneGraphAStep) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  std::unique_ptr<Model> model = load_model(TestData("qwen2"), remote);
  std::unique_ptr<Model> local_model = load_model(TestData("qwen2"), local());
  GenerateOptions options;
  options.max_tokens = 40;
  options.max_kv_size = 16;
  const std::vector<int32_t> prompt(30, 4);
  EXPECT_EQ(Generate(*model, prompt, options), Generate(*local_model, prompt, options));
  TokenGenerator steady(*model, prompt, options);
  ExpectOneExecuteAStep(steady, remote);
}

// A batch of Gemma 3 prompts through rings of its window of 8 (wrapped over and over, the
// rows right-aligned): the local tokens, one Execute a step, and every decode step the same
// graph, named by its fingerprint after the first.
TEST(ClientLmRemoteTest, ARotatingBatchDecodesOneGraphAStep) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  const Tokenizer tokenizer = Tokenizer::from_file(TestData("tokenizer_llama3.json"));
  const std::vector<std::vector<int32_t>> prompts = {{5, 17, 2, 40}, {9}, {31, 3, 77, 12, 8, 1}};
  GenerateOptions options;
  options.max_tokens = 30;
  std::unique_ptr<Model> local_model = load_model(TestData("gemma3_text"), local());
  const BatchResponse here = batch_generate(*local_model, tokenizer, prompts, options, {-1});
  std::unique_ptr<Model> model = load_model(TestData("gemma3_text"), remote);
  const DeviceStats before = remote.stats();
  const BatchResponse there = batch_generate(*model, tokenizer, prompts, options, {-1});
  EXPECT_EQ(there.tokens, here.tokens);
  const DeviceStats after = remote.stats();
  EXPECT_EQ(after.executes - before.executes, 1 + 30);  // the prefill, then a step a token
  // The prefill's graph and one decode step's: the slots and the rows' padding are arrays
  // bound to the step.
  EXPECT_EQ(after.graphs_sent - before.graphs_sent, 2);
}

TEST(ClientLmRemoteTest, ASeededSampledGenerationDrawsTheLocalTokens) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  GenerateOptions options;
  options.max_tokens = 16;
  options.sampler = make_sampler(1.0f, 0.0f, 0.05f, 1, 20);
  options.logits_processors = make_logits_processors({{3, 2.0f}}, 1.3f, 20, 0.2f, 20, 0.1f);
  std::vector<std::vector<int32_t>> runs;
  for (const Device& device : {local(), remote}) {
    std::unique_ptr<Model> model = load_model(TestData("qwen3"), device);
    random::seed(2026);
    runs.push_back(Generate(*model, {1, 2, 3, 4, 5, 6}, options));
  }
  EXPECT_EQ(runs[1], runs[0]);
  EXPECT_EQ(runs[0].size(), 16u);
}

// Speculative decoding on the daemon: the local device's tokens and accepted proposals; a
// round (the draft's steps and the model's pass over them) is one Execute of a graph the
// daemon holds and one read.
TEST(ClientLmRemoteTest, SpeculativeDecodingIsOneExecuteARound) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  const std::vector<int32_t> prompt = {5, 17, 2, 40, 40, 9, 31, 3, 77, 12};
  GenerateOptions options;
  options.max_tokens = 30;
  options.num_draft_tokens = 3;
  std::vector<std::vector<int32_t>> tokens, from_draft;
  for (const Device& device : {local(), remote}) {
    std::unique_ptr<Model> model = load_model(TestData("llama"), device);
    std::unique_ptr<Model> draft = load_model(TestData("llama_4bit"), device);
    options.draft_model = draft.get();
    SpeculativeGenerator generator(*model, prompt, options);
    tokens.emplace_back();
    from_draft.emplace_back();
    while (std::optional<GenerationStep> step = generator.next()) {
      tokens.back().push_back(step->token);
      from_draft.back().push_back(step->from_draft);
    }
  }
  EXPECT_EQ(tokens[1], tokens[0]);
  EXPECT_EQ(from_draft[1], from_draft[0]);
  EXPECT_EQ(tokens[0].size(), 30u);

  std::unique_ptr<Model> model = load_model(TestData("llama"), remote);
  std::unique_ptr<Model> draft = load_model(TestData("llama_4bit"), remote);
  options.draft_model = draft.get();
  options.max_tokens = -1;
  SpeculativeGenerator generator(*model, prompt, options);
  // Past the first rounds (the draft starting from one token and from two) every round is
  // one of two graphs the daemon holds.
  std::vector<int32_t> unbounded;
  while (unbounded.size() < 15) unbounded.push_back(generator.next()->token);
  const DeviceStats before = remote.stats();
  const int rounds = generator.rounds();
  while (unbounded.size() < 60) unbounded.push_back(generator.next()->token);
  const DeviceStats after = remote.stats();
  const int64_t ran = generator.rounds() - rounds;
  EXPECT_GE(ran, 45 / 4);
  EXPECT_EQ(after.executes - before.executes, ran);
  EXPECT_EQ(after.round_trips - before.round_trips, ran);
  EXPECT_EQ(after.graphs_sent - before.graphs_sent, 0);
  EXPECT_EQ(after.uploads - before.uploads, 0);
  EXPECT_EQ(std::vector<int32_t>(unbounded.begin(), unbounded.begin() + 30), tokens[0]);
  std::printf(
      "speculative on the daemon: %lld rounds for 45 tokens, %lld bytes sent and %lld "
      "received a round\n",
      static_cast<long long>(ran),
      static_cast<long long>((after.bytes_sent - before.bytes_sent) / ran),
      static_cast<long long>((after.bytes_received - before.bytes_received) / ran));

  // The draft's tokens feed the model's pass on its device: a draft elsewhere is refused.
  std::unique_ptr<Model> here = load_model(TestData("llama"), local());
  const std::string error = ferry::testing::BuildError([&] {
    SpeculativeGenerator(*here, {1, 2}, options);
  });
  EXPECT_NE(error.find("load both on one device"), std::string::npos) << error;
}

TEST(ClientLmRemoteTest, LoadingACheckpointAgainSendsNoWeights) {
  // A model with a 2 MiB embedding (the upload cache holds arrays of 1 MiB or more).
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string folder = std::string(tmp ? tmp : "/tmp") + "/wide_llama";
  std::filesystem::create_directories(folder);
  const std::string config = R"({"model_type": "llama", "hidden_size": 64,
    "num_hidden_layers": 1, "intermediate_size": 64, "num_attention_heads": 4,
    "rms_norm_eps": 1e-5, "vocab_size": 8192})";
  std::ofstream(folder + "/config.json") << config;
  make_model(ModelArgs::from_json(config), local())->save_weights(folder + "/model.safetensors");

  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  const DeviceStats start = remote.stats();
  load_model(folder, remote);
  EXPECT_GE(remote.stats().upload_bytes - start.upload_bytes, 8192 * 64 * 4);
  // The daemon keeps the bytes once it has checked them, off the upload's path.
  ASSERT_TRUE(testing::WaitUntil([&] {
    const int64_t cached = remote.stats().cached_uploads;
    load_model(folder, remote);
    return remote.stats().cached_uploads > cached;
  }));
  const DeviceStats first = remote.stats();
  load_model(folder, remote);
  const DeviceStats second = remote.stats();
  EXPECT_EQ(second.cached_uploads - first.cached_uploads, 1);
  EXPECT_EQ(second.cached_upload_bytes - first.cached_upload_bytes, 8192 * 64 * 4);
  EXPECT_LT(second.bytes_sent - first.bytes_sent, 8192 * 64 * 4 / 10);
}

}  // namespace
}  // namespace ferry::lm
