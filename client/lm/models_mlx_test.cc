// ferry::lm's models against mlx-lm 0.32.2 on MLX 0.32.4: the same checkpoints (random
// weights, saved by mlx-lm's layout; the mixtures of experts also in Hugging Face's
// per-expert one) give the same logits, and generation from the same prompt the same tokens
// and log-probabilities. testdata/lm_mlx.py, lm_moe_mlx.py, lm_gemma3_mlx.py,
// lm_more_mlx.py (Gemma 2, Phi-3, gpt-oss), lm_deepseek_mlx.py (DeepSeek V3, V2),
// lm_glm4_moe_mlx.py (GLM-4.5), lm_smollm3_mlx.py (SmolLM3), lm_olmo_mlx.py (OLMo 2, 3) and
// lm_llama4_mlx.py (Llama 4) and lm_more_families_mlx.py (Granite, Granite-MoE, Cohere 2,
// StarCoder 2), lm_families_2_mlx.py (GLM-4, EXAONE 4, ERNIE 4.5, OLMoE), lm_families_3_mlx.py
// (Hunyuan dense and MoE, Seed-OSS, Apertus, Helium, InternLM3), lm_mistral3_mlx.py
// (Ministral 3, mistral3, Mistral 4), lm_gemma4_mlx.py (Gemma 4; gemma4_test checks its
// caches), lm_gemma3n_mlx.py (Gemma 3n; gemma3n_test checks its caches),
// lm_moe_families_mlx.py (MiniMax-M2, dots.llm1, Bailing MoE), lm_deepseek_v32_mlx.py
// (DeepSeek V3.2), lm_vl_mlx.py (mlx-lm's vision-language wrappers' text models),
// lm_glm4_moe_lite_mlx.py (GLM-4.7-Flash) and lm_gpt_mlx.py (GPT-2,
// GPT-NeoX, GPT-BigCode) and lm_families_4_mlx.py (Gemma, Cohere, Phi, StableLM) write them;
// lm_families_7_mlx.py (Youtu-LLM, Nanbeige, TeleChat3, Klear, Baichuan-M1) too, and
// lm_families_9_mlx.py (OpenELM, OLMo hybrid, PLaMo 2).
// lm_families_8_mlx.py (EXAONE MoE, AFM MoE, Step-3.5) too.

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_map>

#include "client/error.h"
#include "client/io.h"
#include "client/lm/generate.h"
#include "client/lm/kv_cache.h"
#include "client/lm/lm_testing.h"
#include "client/lm/load.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"
#include "client/testing.h"
#include "gtest/gtest.h"

namespace ferry::lm {
namespace {

using ::ferry::lm::testing::TestData;

using ::ferry::testing::ExpectAllClose;

class ModelsMlxTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    arrays_ = new std::unordered_map<std::string, Array>(
        load_safetensors(TestData("lm_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_moe_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_gemma3_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_more_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_deepseek_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_glm4_moe_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_smollm3_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_olmo_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_llama4_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_more_families_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_2_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_3_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_mistral3_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_gemma4_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_deepseek_v32_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_glm4_moe_lite_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_gemma3n_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_moe_families_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_4_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_5_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_6_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_vl_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_gpt_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_7_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_9_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_10_mlx.safetensors")).first);
    arrays_->merge(load_safetensors(TestData("lm_families_8_mlx.safetensors")).first);
  }
  static void TearDownTestSuite() { delete arrays_; }
  static Array At(const std::string& name) { return arrays_->at(name); }

  // bfloat16 weights (qwen2_bf16) round every op's result to 8 bits of mantissa, as MLX's
  // do, but not at the same places: MLX's own bfloat16 logits of this model are up to 0.19
  // from its float32 ones (logits up to 6.9), and ferry's as far (BFloat16IsAsAccurate...).
  double Rtol() const { return bfloat16() ? 0 : 2e-4; }
  double Atol() const { return bfloat16() ? 0.3 : 2e-4; }
  bool bfloat16() const { return GetParam() == "qwen2_bf16"; }

  static std::unordered_map<std::string, Array>* arrays_;
};
std::unordered_map<std::string, Array>* ModelsMlxTest::arrays_ = nullptr;

TEST_P(ModelsMlxTest, LogitsOfAWholePromptAreMlxLms) {
  const std::string name = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(name));
  const Array logits = astype((*model)(expand_dims(At(name + ".prompt"), 0)), float32);
  ExpectAllClose(logits, At(name + ".logits"), Rtol(), Atol(), name);
  // The README's family entries quote these.
  std::printf("%s: logits at most %.2g from mlx-lm's\n", name.c_str(),
              max(abs(logits - At(name + ".logits"))).item<float>());
}

TEST_P(ModelsMlxTest, GreedyGenerationWithACacheIsMlxLms) {
  const std::string name = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(name));
  const std::vector<int32_t> prompt = At(name + ".prompt").to_vector<int32_t>();
  const std::vector<int32_t> want = At(name + ".greedy").to_vector<int32_t>();
  const Array want_logprobs = At(name + ".logprobs");
  GenerateOptions options;
  options.max_tokens = static_cast<int>(want.size());
  TokenGenerator generator(*model, prompt, options);
  std::vector<int32_t> got;
  while (std::optional<GenerationStep> step = generator.next()) {
    const int64_t i = static_cast<int64_t>(got.size());
    ExpectAllClose(astype(step->logprobs, float32),
                   reshape(slice(want_logprobs, {i, 0}, {i + 1, want_logprobs.shape(1)}), {-1}),
                   Rtol(), Atol(), name + " step " + std::to_string(i));
    got.push_back(step->token);
  }
  EXPECT_EQ(got, want);
}

// bfloat16 rounds differently here and in MLX, so the two are compared by how far each
// departs from the same weights computed in float32: ferry's error may not exceed MLX's by
// more than a quarter.
TEST_F(ModelsMlxTest, BFloat16IsAsAccurateAsMlxs) {
  std::unique_ptr<Model> model = load_model(TestData("qwen2_bf16"));
  const Array prompt = expand_dims(At("qwen2_bf16.prompt"), 0);
  const Array exact = At("qwen2_bf16.logits_f32");
  const Array ours = astype((*model)(prompt), float32);
  const double mlx_error = max(abs(At("qwen2_bf16.logits") - exact)).item<float>();
  const double our_error = max(abs(ours - exact)).item<float>();
  std::printf("bfloat16 logits from float32's: MLX %.4f, ferry %.4f at most\n", mlx_error,
              our_error);
  EXPECT_GT(mlx_error, 0.01);  // bfloat16 did round
  EXPECT_LE(our_error, 1.25 * mlx_error) << "MLX's error " << mlx_error;
  // In float32 the same weights give MLX's float32 logits.
  model->set_dtype(float32);
  ExpectAllClose((*model)(prompt), exact, 2e-4, 2e-4, "qwen2_bf16 in float32");
}

// Hugging Face's per-expert layout is the same model once stacked: mixtral_hf holds mixtral's
// weights.
TEST_F(ModelsMlxTest, PerExpertCheckpointsAreStackedAsMlxLmDoes) {
  std::unique_ptr<Model> stacked = load_model(TestData("mixtral"));
  std::unique_ptr<Model> per_expert = load_model(TestData("mixtral_hf"));
  const Array prompt = expand_dims(At("mixtral.prompt"), 0);
  ExpectAllClose((*per_expert)(prompt), (*stacked)(prompt), 0, 0, "mixtral_hf");
}

TEST(StackExpertsTest, AnExpertMissingFromALayerIsNamed) {
  const Array w = zeros({4, 2});
  nn::Parameters weights = {{"model.layers.0.mlp.experts.0.up_proj.weight", w},
                            {"model.layers.0.mlp.experts.2.up_proj.weight", w},
                            {"model.layers.0.mlp.shared_expert.up_proj.weight", w}};
  try {
    stack_experts(weights, 3, "mlp.experts", "mlp.switch_mlp", {{"up_proj", "up_proj"}});
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(std::string(e.what()),
              "[load_model] the checkpoint lacks model.layers.0.mlp.experts.1.up_proj.weight.");
  }
  weights.erase(weights.begin() + 1);
  const nn::Parameters stacked =
      stack_experts(weights, 1, "mlp.experts", "mlp.switch_mlp", {{"up_proj", "up_proj"}});
  ASSERT_EQ(stacked.size(), 2u);
  EXPECT_EQ(stacked[0].first, "model.layers.0.mlp.shared_expert.up_proj.weight");
  EXPECT_EQ(stacked[1].first, "model.layers.0.mlp.switch_mlp.up_proj.weight");
  EXPECT_EQ(stacked[1].second.shape(), (Shape{1, 4, 2}));
}

// The routers of qwen3_moe_4bit are 8-bit, as config.json names them; the experts 4-bit.
TEST_F(ModelsMlxTest, QuantizedExpertsAndRoutersKeepTheirBits) {
  std::unique_ptr<Model> model = load_model(TestData("qwen3_moe_4bit"));
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [name, array] : model->parameters()) shapes[name] = array.shape();
  // 32 inputs in 32-bit words: 4 of 4 bits, 8 of 8.
  EXPECT_EQ(shapes.at("model.layers.0.mlp.switch_mlp.gate_proj.weight"), (Shape{8, 32, 4}));
  EXPECT_EQ(shapes.at("model.layers.0.mlp.gate.weight"), (Shape{8, 8}));
  EXPECT_EQ(shapes.at("model.layers.1.mlp.gate_proj.weight"), (Shape{64, 4}));
}

// The prompt a token at a time through make_prompt_cache's caches: every step's logits are
// mlx-lm's, past Cohere 2's and EXAONE 4's windows of 6 on their rings (StarCoder 2's config
// names a window mlx-lm does not read: its plain caches keep every position).
class DecodingMlxTest : public ModelsMlxTest {};

TEST_P(DecodingMlxTest, LogitsATokenAtATimeThroughThePromptCacheAreMlxLms) {
  const std::string name = GetParam();
  std::unique_ptr<Model> model = load_model(TestData(name));
  const Array prompt = At(name + ".prompt");
  const Array want = At(name + ".steps");
  std::vector<KVCache> cache = make_prompt_cache(*model);
  const int64_t n = prompt.shape(0), vocab = want.shape(1);
  float worst = 0;
  for (int64_t i = 0; i < n; ++i) {
    const Array logits = (*model)(reshape(slice(prompt, {i}, {i + 1}), {1, 1}), &cache);
    eval(CacheState(cache));
    const Array expected = reshape(slice(want, {i, 0}, {i + 1, vocab}), {-1});
    ExpectAllClose(reshape(logits, {-1}), expected, Rtol(), Atol(),
                   name + " step " + std::to_string(i));
    worst =
        std::max(worst, max(abs(astype(reshape(logits, {-1}), float32) - expected)).item<float>());
  }
  std::printf("%s: logits at most %.2g from mlx-lm's a token at a time\n", name.c_str(), worst);
  for (int layer = 0; layer < static_cast<int>(cache.size()); ++layer) {
    EXPECT_EQ(cache[layer].max_size(), model->sliding_window(layer)) << name << " layer " << layer;
  }
}

INSTANTIATE_TEST_SUITE_P(MoreFamilies, DecodingMlxTest,
                         ::testing::Values("granite", "granite_4bit", "granitemoe",
                                           "granitemoe_4bit", "cohere2", "cohere2_4bit",
                                           "starcoder2", "starcoder2_4bit", "glm4", "glm4_4bit",
                                           "exaone4", "exaone4_4bit", "ernie4_5", "ernie4_5_moe",
                                           "ernie4_5_moe_4bit", "olmoe", "olmoe_4bit"),
                         [](const auto& info) { return info.param; });

INSTANTIATE_TEST_SUITE_P(
    Models, ModelsMlxTest,
    ::testing::Values("llama", "qwen2", "qwen3", "qwen2_bf16", "llama_4bit", "mistral_mxfp4",
                      "mixtral", "mixtral_hf", "qwen2_moe_hf", "qwen3_moe", "qwen3_moe_4bit",
                      "gemma3_text", "gemma3", "gemma3_text_4bit", "gemma2", "phi3", "phi3_4bit",
                      "gpt_oss", "gpt_oss_mxfp4", "deepseek_v3", "deepseek_v3_4bit", "deepseek_v2",
                      "glm4_moe", "glm4_moe_4bit", "smollm3", "smollm3_layers", "olmo2", "olmo3",
                      "llama4", "llama4_4bit", "llama4_text", "granite", "granite_4bit",
                      "granitemoe", "granitemoe_4bit", "cohere2", "cohere2_4bit", "starcoder2",
                      "starcoder2_4bit", "glm4", "glm4_4bit", "exaone4", "exaone4_4bit", "ernie4_5",
                      "ernie4_5_moe", "ernie4_5_moe_4bit", "olmoe", "olmoe_4bit"),
    [](const auto& info) { return info.param; });

// lm_mistral3_mlx.py's: Ministral 3 past its window (rings) and past three steps of Llama 4's
// scaling; mlx-lm's mistral3 wrapper (its plain caches, the sliding layer masked over them)
// over ministral3 in Hugging Face's layout, over llama, and 4-bit; Mistral 4's latent
// attention and softmax-routed experts, from Hugging Face's layout and 4-bit.
INSTANTIATE_TEST_SUITE_P(Mistral3, ModelsMlxTest,
                         ::testing::Values("ministral3", "mistral3", "mistral3_llama",
                                           "mistral3_4bit", "mistral4", "mistral4_4bit"),
                         [](const auto& info) { return info.param; });
// lm_deepseek_v32_mlx.py's: DeepSeek V3.2's indexer choosing 8 of up to 28 keys, whole and
// a token at a time through its CacheLists, from Hugging Face's layout and 4-bit;
// lm_glm4_moe_lite_mlx.py's: GLM-4.7-Flash's, from Hugging Face's layout and 4-bit.
INSTANTIATE_TEST_SUITE_P(DeepseekV32, ModelsMlxTest,
                         ::testing::Values("deepseek_v32", "deepseek_v32_4bit", "glm4_moe_lite",
                                           "glm4_moe_lite_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(DeepseekV32, DecodingMlxTest,
                         ::testing::Values("deepseek_v32", "deepseek_v32_4bit", "glm4_moe_lite",
                                           "glm4_moe_lite_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Gemma4, ModelsMlxTest,
                         ::testing::Values("gemma4", "gemma4_text", "gemma4_moe", "gemma4_4bit"),
                         [](const auto& info) { return info.param; });
// lm_gemma3n_mlx.py's: Gemma 3n from Hugging Face's layout (KV sharing, activation sparsity,
// AltUp's clipped coefficients), as mlx-lm saves it (widths per layer) and 4-bit; whole, the
// KV-shared layers on their own keys, and greedily through the caches, on their sources'.
INSTANTIATE_TEST_SUITE_P(Gemma3n, ModelsMlxTest,
                         ::testing::Values("gemma3n", "gemma3n_mlx", "gemma3n_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Mistral3, DecodingMlxTest,
                         ::testing::Values("ministral3", "mistral3", "mistral3_llama",
                                           "mistral3_4bit", "mistral4", "mistral4_4bit"),
                         [](const auto& info) { return info.param; });

// lm_vl_mlx.py's: the text models of mlx-lm's vision-language wrappers, their towers dropped
// by each one's sanitize: Qwen2-VL from Hugging Face's newer and (qwen2_5_vl, flat, tied)
// older layouts, Qwen3-VL and 4-bit, Qwen3-VL-MoE's fused experts and 4-bit, LFM2-VL (its
// arrays caches), pixtral (Llama), Kimi-VL's per-expert and Kimi K2.5's DeepSeek V3.
INSTANTIATE_TEST_SUITE_P(VisionLanguage, ModelsMlxTest,
                         ::testing::Values("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_4bit",
                                           "qwen3_vl_moe", "qwen3_vl_moe_4bit", "lfm2_vl",
                                           "pixtral", "kimi_vl", "kimi_k25"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(VisionLanguage, DecodingMlxTest,
                         ::testing::Values("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_4bit",
                                           "qwen3_vl_moe", "qwen3_vl_moe_4bit", "lfm2_vl",
                                           "pixtral", "kimi_vl", "kimi_k25"),
                         [](const auto& info) { return info.param; });

// lm_moe_families_mlx.py's: MiniMax-M2 (sigmoid router with its correction bias, q/k norms
// over the whole projections, partial rotary), dots.llm1 (DeepSeek V3's grouped experts over
// Qwen3's attention) and Bailing MoE (fused q/k/v, grouped sigmoid or softmax routing,
// norm_head), each from Hugging Face's per-expert layout and 4-bit.
INSTANTIATE_TEST_SUITE_P(MoeFamilies, ModelsMlxTest,
                         ::testing::Values("minimax", "minimax_4bit", "dots1", "dots1_4bit",
                                           "bailing_moe", "bailing_moe_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(MoeFamilies, DecodingMlxTest,
                         ::testing::Values("minimax", "minimax_4bit", "dots1", "dots1_4bit",
                                           "bailing_moe", "bailing_moe_4bit"),
                         [](const auto& info) { return info.param; });

// lm_families_3_mlx.py's: Hunyuan dense and MoE (q/k norms after RoPE, NTK-alpha RoPE,
// cross-layer attention, its experts beside a shared MLP, Hunyuan-Large's fused layout),
// Seed-OSS, Apertus (xIELU), Helium and InternLM3, from Hugging Face's layout and 4-bit.
INSTANTIATE_TEST_SUITE_P(Families3, ModelsMlxTest,
                         ::testing::Values("hunyuan_v1_dense", "hunyuan", "hunyuan_fused",
                                           "hunyuan_4bit", "seed_oss", "seed_oss_4bit", "apertus",
                                           "helium", "internlm3"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families3, DecodingMlxTest,
                         ::testing::Values("hunyuan_v1_dense", "hunyuan", "hunyuan_fused",
                                           "hunyuan_4bit", "seed_oss", "seed_oss_4bit", "apertus",
                                           "helium", "internlm3"),
                         [](const auto& info) { return info.param; });

// lm_gpt_mlx.py's: GPT-2 (learned positions, Hugging Face's Conv1D layout), GPT-NeoX (partial
// rotary, per-head fused q/k/v, parallel and sequential residuals) and GPT-BigCode
// (multi-query attention, learned positions), from Hugging Face's layout and 4-bit; a token
// at a time, the learned positions from the cache's offset.
INSTANTIATE_TEST_SUITE_P(Gpt, ModelsMlxTest,
                         ::testing::Values("gpt2", "gpt2_4bit", "gpt_neox", "gpt_neox_4bit",
                                           "gpt_bigcode", "gpt_bigcode_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Gpt, DecodingMlxTest,
                         ::testing::Values("gpt2", "gpt2_4bit", "gpt_neox", "gpt_neox_4bit",
                                           "gpt_bigcode", "gpt_bigcode_4bit"),
                         [](const auto& info) { return info.param; });

// lm_families_4_mlx.py's: Gemma (1) (its norms of 1 + weight, exact gelu, head_dim apart from
// hidden_size), Cohere (LayerNorm2D q/k norms, logit_scale), Phi (partial rotary, biased
// everything, a biased lm_head) and StableLM (per-head q/k LayerNorms, parallel residual), each
// from Hugging Face's layout (mlx-lm's names) and 4-bit.
INSTANTIATE_TEST_SUITE_P(Families4, ModelsMlxTest,
                         ::testing::Values("gemma", "gemma_4bit", "cohere", "cohere_4bit", "phi",
                                           "phi_4bit", "stablelm", "stablelm_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families4, DecodingMlxTest,
                         ::testing::Values("gemma", "gemma_4bit", "cohere", "cohere_4bit", "phi",
                                           "phi_4bit", "stablelm", "stablelm_4bit"),
                         [](const auto& info) { return info.param; });

// lm_families_6_mlx.py's: PhiMoE (sparsemixer's router, SuScaledRoPE with its long_mscale,
// LayerNorms, biased attention and lm_head; Hugging Face's per-expert layout), DBRX (fused
// Wqkv clipped, experts Hugging Face fuses across experts), MiMo (Qwen2's layers, Hugging
// Face's multi-token-prediction weights dropped), each also 4-bit; Mamba and Falcon-Mamba a
// token at a time (their whole and cached logits in arrays_models_mlx_test).
INSTANTIATE_TEST_SUITE_P(Families6, ModelsMlxTest,
                         ::testing::Values("phimoe", "phimoe_4bit", "dbrx", "dbrx_4bit", "mimo",
                                           "mimo_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families6, DecodingMlxTest,
                         ::testing::Values("phimoe", "phimoe_4bit", "dbrx", "dbrx_4bit", "mimo",
                                           "mimo_4bit", "mamba", "falcon_mamba", "mamba_4bit"),
                         [](const auto& info) { return info.param; });

// lm_families_7_mlx.py's: Youtu-LLM (DeepSeek V2's latent attention, tied), Nanbeige (layers
// looped, each pass its caches), TeleChat3 (Llama's, llama3 RoPE), Klear (q/k norms, experts
// mixed with a shared MLP by a coefficient; Hugging Face's per-expert layout) and Baichuan-M1
// (W_pack, conv of keys and values, sliding layers of their own heads, caches lists of an
// arrays cache and a plain or rotating one), each also 4-bit.
INSTANTIATE_TEST_SUITE_P(Families7, ModelsMlxTest,
                         ::testing::Values("youtu_llm", "youtu_llm_4bit", "nanbeige",
                                           "nanbeige_4bit", "telechat3", "telechat3_4bit", "klear",
                                           "klear_4bit", "baichuan_m1", "baichuan_m1_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families7, DecodingMlxTest,
                         ::testing::Values("youtu_llm", "youtu_llm_4bit", "nanbeige",
                                           "nanbeige_4bit", "telechat3", "telechat3_4bit", "klear",
                                           "klear_4bit", "baichuan_m1", "baichuan_m1_4bit"),
                         [](const auto& info) { return info.param; });

// lm_families_5_mlx.py's: InternLM2 (wqkv fused per key/value head; Hugging Face's rotary
// table sanitized away), MiniCPM (scale_emb, scale_depth, dim_model_base; lm_head from the
// embedding by sanitize), MiniCPM3 (DeepSeek V2's latent attention, SuScaledRoPE), Nemotron
// (LayerNorm1P, relu2, partial rotary) and EXAONE 3 (GPT-2's names), each also 4-bit.
INSTANTIATE_TEST_SUITE_P(Families5, ModelsMlxTest,
                         ::testing::Values("internlm2", "internlm2_4bit", "minicpm", "minicpm_4bit",
                                           "minicpm3", "minicpm3_4bit", "nemotron", "nemotron_4bit",
                                           "exaone", "exaone_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families5, DecodingMlxTest,
                         ::testing::Values("internlm2", "internlm2_4bit", "minicpm", "minicpm_4bit",
                                           "minicpm3", "minicpm3_4bit", "nemotron", "nemotron_4bit",
                                           "exaone", "exaone_4bit"),
                         [](const auto& info) { return info.param; });

// lm_families_10_mlx.py's: MiMo-V2-Flash (sliding and full layers of their own heads, head
// and value sizes, sinks, scaled values; DeepSeek V3's grouped experts), Laguna (heads per
// layer, the softplus gate per head, RoPE per layer type, soft-capped sigmoid router; the
// original layout) and LongCat-Flash (two latent attentions and MLPs a layer, the shortcut
// mixture with identity experts, caches lists of two), each also 4-bit.
INSTANTIATE_TEST_SUITE_P(Families10, ModelsMlxTest,
                         ::testing::Values("mimo_v2_flash", "mimo_v2_flash_4bit", "laguna",
                                           "laguna_4bit", "longcat_flash", "longcat_flash_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families10, DecodingMlxTest,
                         ::testing::Values("mimo_v2_flash", "mimo_v2_flash_4bit", "laguna",
                                           "laguna_4bit", "longcat_flash", "longcat_flash_4bit"),
                         [](const auto& info) { return info.param; });
// lm_families_9_mlx.py's: OpenELM (heads and MLP widths per layer, fused qkv_proj, q/k norms
// per head), also 4-bit; OLMo hybrid's and PLaMo 2's a token at a time (their whole and
// cached logits in arrays_models_mlx_test).
INSTANTIATE_TEST_SUITE_P(Families9, ModelsMlxTest, ::testing::Values("openelm", "openelm_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families9, DecodingMlxTest,
                         ::testing::Values("openelm", "openelm_4bit", "olmo_hybrid",
                                           "olmo_hybrid_4bit", "plamo2", "plamo2_4bit"),
                         [](const auto& info) { return info.param; });

// lm_families_8_mlx.py's: EXAONE MoE (EXAONE 4's attention, DeepSeek V3's grouped experts;
// Hugging Face's per-expert layout), AFM MoE (gated attention, RoPE in the sliding layers
// only, norms around attention and the MLP, biased experts; Hugging Face's per-expert layout)
// and Step-3.5 (per-layer RoPE and heads, a gate per head, clamped SwiGLUs; Hugging Face's
// zero-centred norms), each also 4-bit; past their windows of 6.
INSTANTIATE_TEST_SUITE_P(Families8, ModelsMlxTest,
                         ::testing::Values("exaone_moe", "exaone_moe_4bit", "afmoe", "afmoe_4bit",
                                           "step3p5", "step3p5_4bit"),
                         [](const auto& info) { return info.param; });
INSTANTIATE_TEST_SUITE_P(Families8, DecodingMlxTest,
                         ::testing::Values("exaone_moe", "exaone_moe_4bit", "afmoe", "afmoe_4bit",
                                           "step3p5", "step3p5_4bit"),
                         [](const auto& info) { return info.param; });
}  // namespace
}  // namespace ferry::lm
