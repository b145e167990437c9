#include "client/lm/load.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/io.h"
#include "client/lm/afmoe.h"
#include "client/lm/apertus.h"
#include "client/lm/baichuan_m1.h"
#include "client/lm/bailing_moe.h"
#include "client/lm/cohere.h"
#include "client/lm/cohere2.h"
#include "client/lm/dbrx.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/dots1.h"
#include "client/lm/ernie4_5_moe.h"
#include "client/lm/exaone.h"
#include "client/lm/exaone_moe.h"
#include "client/lm/falcon_h1.h"
#include "client/lm/gemma.h"
#include "client/lm/gemma2.h"
#include "client/lm/gemma3.h"
#include "client/lm/gemma3n.h"
#include "client/lm/gemma4.h"
#include "client/lm/glm4.h"
#include "client/lm/glm4_moe.h"
#include "client/lm/gpt2.h"
#include "client/lm/gpt_bigcode.h"
#include "client/lm/gpt_neox.h"
#include "client/lm/gpt_oss.h"
#include "client/lm/granite.h"
#include "client/lm/granitemoe.h"
#include "client/lm/granitemoehybrid.h"
#include "client/lm/hunyuan.h"
#include "client/lm/internlm2.h"
#include "client/lm/kimi_linear.h"
#include "client/lm/klear.h"
#include "client/lm/laguna.h"
#include "client/lm/lfm2.h"
#include "client/lm/lfm2_moe.h"
#include "client/lm/llama.h"
#include "client/lm/llama4.h"
#include "client/lm/longcat_flash.h"
#include "client/lm/mamba.h"
#include "client/lm/mamba2.h"
#include "client/lm/mimo.h"
#include "client/lm/mimo_v2_flash.h"
#include "client/lm/minicpm.h"
#include "client/lm/minicpm3.h"
#include "client/lm/minimax.h"
#include "client/lm/ministral3.h"
#include "client/lm/mistral3.h"
#include "client/lm/mistral4.h"
#include "client/lm/mixtral.h"
#include "client/lm/nanbeige.h"
#include "client/lm/nemotron.h"
#include "client/lm/nemotron_h.h"
#include "client/lm/olmo2.h"
#include "client/lm/olmo_hybrid.h"
#include "client/lm/olmoe.h"
#include "client/lm/openelm.h"
#include "client/lm/phi.h"
#include "client/lm/phi3.h"
#include "client/lm/phimoe.h"
#include "client/lm/plamo2.h"
#include "client/lm/qwen2_moe.h"
#include "client/lm/qwen3_5.h"
#include "client/lm/qwen3_moe.h"
#include "client/lm/qwen3_next.h"
#include "client/lm/smollm3.h"
#include "client/lm/stablelm.h"
#include "client/lm/starcoder2.h"
#include "client/lm/step3p5.h"
#include "client/lm/tokenizer_config.h"
#include "client/lm/vl.h"
#include "client/lm/youtu_llm.h"
#include "client/nn/quantizable.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

// Makes `device` the default while a model is built, so its parameters are drawn there.
class DefaultDeviceScope {
 public:
  explicit DefaultDeviceScope(const Device& device) : previous_(default_device()) {
    set_default_device(device);
  }
  ~DefaultDeviceScope() { set_default_device(previous_); }

 private:
  Device previous_;
};

// The weight files, in name order (model.safetensors, or model-00001-of-00004.safetensors...).
std::vector<std::string> WeightFiles(const std::string& model_path) {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(model_path, error)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, "model") && absl::EndsWith(name, ".safetensors")) {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    throw Error(ErrorCode::kNotFound,
                absl::StrCat("[load_model] no model*.safetensors in ", model_path, "."));
  }
  return files;
}

// Quantizes the layers the checkpoint holds quantized (mlx-lm's class_predicate): those
// with "<path>.scales", with the layer's own settings where config.json gives them.
void QuantizeAsSaved(Model& model, const ModelArgs& args, const std::set<std::string>& names) {
  model.apply_to_modules([&](const std::string& path, nn::Module& module) {
    auto* layer = dynamic_cast<nn::QuantizableLayer*>(&module);
    if (!layer || layer->quantized() || !names.count(absl::StrCat(path, ".scales"))) return;
    std::optional<Quantization> q = args.quantization;
    if (auto it = args.layer_quantization.find(path); it != args.layer_quantization.end()) {
      q = it->second;
    }
    if (q) layer->quantize(q->group_size, q->bits, q->mode);
  });
}

// The tokenizer, its end tokens those of tokenizer_config.json and `eos_token_ids`.
Tokenizer TokenizerFor(const std::string& model_path, const std::vector<int32_t>& eos_token_ids) {
  Tokenizer tokenizer = Tokenizer::from_file(model_path + "/tokenizer.json");
  const nlohmann::ordered_json special = SpecialTokens(ReadTokenizerConfig(model_path));
  if (special.contains("eos_token")) {
    if (std::optional<int32_t> id = tokenizer.token_to_id(special["eos_token"])) {
      tokenizer.add_eos_token(*id);
    }
  }
  for (int32_t id : eos_token_ids) tokenizer.add_eos_token(id);
  if (std::optional<ChatTemplate> chat_template = ChatTemplate::load(model_path)) {
    tokenizer.set_chat_template(std::move(*chat_template));
  }
  return tokenizer;
}

std::unique_ptr<Model> LoadModel(const std::string& model_path, const ModelArgs& args,
                                 const Device& device) {
  nn::Parameters weights;
  for (const std::string& file : WeightFiles(model_path)) {
    for (auto& [name, array] : load_safetensors(file, device).first) {
      // mlx-lm's sanitize: rotary tables recomputed here, a tied head that is the embedding.
      if (absl::StrContains(name, "self_attn.rotary_emb.inv_freq")) continue;
      if (args.tie_word_embeddings && name == "lm_head.weight") continue;
      weights.emplace_back(name, std::move(array));
    }
  }
  // mlx-lm's gemma3 ties its output layer when the checkpoint has none, whatever the config.
  ModelArgs resolved = args;
  if (absl::StartsWith(args.model_type, "gemma3")) {
    resolved.tie_word_embeddings = std::none_of(weights.begin(), weights.end(), [](const auto& w) {
      return absl::EndsWith(w.first, "lm_head.weight");
    });
  }
  std::unique_ptr<Model> model = make_model(resolved, device);
  weights = model->sanitize(std::move(weights));
  std::set<std::string> names;
  for (const auto& [name, array] : weights) names.insert(name);
  if (args.quantization) QuantizeAsSaved(*model, resolved, names);
  model->load_weights(weights);
  model->eval();
  // Resident before the first step (as mlx_lm.load evaluates them): a step's graph then
  // names the weights rather than carrying them.
  ferry::eval(model->arrays());
  return model;
}

}  // namespace

Tokenizer load_tokenizer(const std::string& model_path) {
  std::error_code error;
  const bool has_config = std::filesystem::exists(model_path + "/config.json", error);
  return TokenizerFor(model_path, has_config ? ModelArgs::from_directory(model_path).eos_token_ids
                                             : std::vector<int32_t>{});
}

std::pair<std::unique_ptr<Model>, Tokenizer> load(const std::string& model_path,
                                                  const Device& device) {
  const ModelArgs args = ModelArgs::from_directory(model_path);  // read once for both
  Tokenizer tokenizer = TokenizerFor(model_path, args.eos_token_ids);
  return {LoadModel(model_path, args, device), std::move(tokenizer)};
}

std::unique_ptr<Model> make_model(const ModelArgs& args, const Device& device) {
  DefaultDeviceScope scope(device);
  if (args.model_type == "mixtral") return std::make_unique<Mixtral>(args);
  if (args.model_type == "qwen2_moe") return std::make_unique<Qwen2Moe>(args);
  if (args.model_type == "qwen3_moe") return std::make_unique<Qwen3Moe>(args);
  if (args.model_type == "qwen3_next") return std::make_unique<Qwen3Next>(args);
  if (args.model_type == "qwen3_5" || args.model_type == "qwen3_5_moe") {
    return std::make_unique<Qwen35>(args);
  }
  if (args.model_type == "gemma3_text") return std::make_unique<Gemma3Text>(args);
  if (args.model_type == "gemma3") return std::make_unique<Gemma3>(args);
  if (args.model_type == "gemma3n") return std::make_unique<Gemma3n>(args);
  if (args.model_type == "gemma4_text") return std::make_unique<Gemma4Text>(args);
  if (args.model_type == "gemma4") return std::make_unique<Gemma4>(args);
  if (args.model_type == "gemma2") return std::make_unique<Gemma2>(args);
  if (args.model_type == "phi3") return std::make_unique<Phi3>(args);
  if (args.model_type == "gpt_oss") return std::make_unique<GptOss>(args);
  if (args.model_type == "glm4_moe") return std::make_unique<Glm4Moe>(args);
  if (args.model_type == "smollm3") return std::make_unique<SmolLM3>(args);
  if (args.model_type == "granite") return std::make_unique<Granite>(args);
  if (args.model_type == "granitemoe") return std::make_unique<GraniteMoe>(args);
  if (args.model_type == "cohere2") return std::make_unique<Cohere2>(args);
  if (args.model_type == "starcoder2") return std::make_unique<Starcoder2>(args);
  if (args.model_type == "gpt2") return std::make_unique<Gpt2>(args);
  if (args.model_type == "gpt_neox") return std::make_unique<GptNeox>(args);
  if (args.model_type == "gpt_bigcode") return std::make_unique<GptBigCode>(args);
  if (args.model_type == "gemma") return std::make_unique<Gemma>(args);
  if (args.model_type == "cohere") return std::make_unique<Cohere>(args);
  if (args.model_type == "phi") return std::make_unique<Phi>(args);
  if (args.model_type == "stablelm") return std::make_unique<StableLm>(args);
  if (args.model_type == "youtu_llm") return std::make_unique<YoutuLlm>(args);
  if (args.model_type == "nanbeige") return std::make_unique<Nanbeige>(args);
  if (args.model_type == "Klear") return std::make_unique<Klear>(args);
  if (args.model_type == "exaone_moe") return std::make_unique<ExaoneMoe>(args);
  if (args.model_type == "afmoe") return std::make_unique<Afmoe>(args);
  if (args.model_type == "step3p5") return std::make_unique<Step3p5>(args);
  if (args.model_type == "baichuan_m1") return std::make_unique<BaichuanM1>(args);
  if (args.model_type == "mimo_v2_flash") return std::make_unique<MimoV2Flash>(args);
  if (args.model_type == "laguna") return std::make_unique<Laguna>(args);
  if (args.model_type == "longcat_flash") return std::make_unique<LongcatFlash>(args);
  if (args.model_type == "internlm2") return std::make_unique<InternLM2>(args);
  if (args.model_type == "minicpm") return std::make_unique<MiniCPM>(args);
  if (args.model_type == "minicpm3") return std::make_unique<MiniCPM3>(args);
  if (args.model_type == "nemotron") return std::make_unique<Nemotron>(args);
  if (args.model_type == "exaone") return std::make_unique<Exaone>(args);
  if (args.model_type == "openelm") return std::make_unique<OpenELM>(args);
  if (args.model_type == "olmo_hybrid") return std::make_unique<OlmoHybrid>(args);
  if (args.model_type == "plamo2") return std::make_unique<Plamo2>(args);
  if (args.model_type == "llama4") return std::make_unique<Llama4>(args);
  if (args.model_type == "llama4_text") return std::make_unique<Llama4Text>(args);
  if (args.model_type == "lfm2") return std::make_unique<Lfm2>(args);
  if (args.model_type == "lfm2_moe") return std::make_unique<Lfm2Moe>(args);
  if (args.model_type == "mamba2") return std::make_unique<Mamba2>(args);
  if (args.model_type == "mamba" || args.model_type == "falcon_mamba") {
    return std::make_unique<Mamba>(args);
  }
  if (args.model_type == "mimo") return std::make_unique<Mimo>(args);
  if (args.model_type == "dbrx") return std::make_unique<Dbrx>(args);
  if (args.model_type == "phimoe") return std::make_unique<Phimoe>(args);
  if (args.model_type == "ministral3") return std::make_unique<Ministral3>(args);
  if (args.model_type == "mistral3") return std::make_unique<Mistral3>(args);
  if (is_vision_language_wrapper(args.model_type)) {
    return std::make_unique<VisionLanguageWrapper>(args);
  }
  if (args.model_type == "mistral4") return std::make_unique<Mistral4>(args);
  if (args.model_type == "granitemoehybrid") return std::make_unique<GraniteMoeHybrid>(args);
  if (args.model_type == "falcon_h1") return std::make_unique<FalconH1>(args);
  if (args.model_type == "nemotron_h") return std::make_unique<NemotronH>(args);
  if (args.model_type == "olmo2" || args.model_type == "olmo3" || args.model_type == "exaone4") {
    return std::make_unique<Olmo2>(args);
  }
  if (args.model_type == "glm4") return std::make_unique<Glm4>(args);
  if (args.model_type == "ernie4_5_moe") return std::make_unique<Ernie45Moe>(args);
  if (args.model_type == "olmoe") return std::make_unique<Olmoe>(args);
  if (args.model_type == "minimax") return std::make_unique<Minimax>(args);
  if (args.model_type == "dots1") return std::make_unique<Dots1>(args);
  if (args.model_type == "bailing_moe") return std::make_unique<BailingMoe>(args);
  if (args.model_type == "kimi_linear") return std::make_unique<KimiLinear>(args);
  if (args.model_type == "hunyuan") return std::make_unique<Hunyuan>(args);
  if (args.model_type == "apertus") return std::make_unique<Apertus>(args);
  if (args.model_type == "deepseek_v3" || args.model_type == "kimi_k2" ||
      args.model_type == "deepseek_v2" || args.model_type == "deepseek_v32" ||
      args.model_type == "glm4_moe_lite") {
    return std::make_unique<DeepseekV3>(args);
  }
  return std::make_unique<Llama>(args);
}

std::unique_ptr<Model> load_model(const std::string& model_path, const Device& device) {
  return LoadModel(model_path, ModelArgs::from_directory(model_path), device);
}

}  // namespace ferry::lm
