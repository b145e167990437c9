// What ModelArgs::from_json (model_args.cc) reads config.json with: the typed lookups every
// reader uses, the pieces several families share, and one reader per mlx-lm ModelArgs,
// grouped by family in model_args_<family>.cc. Each throws a ferry::Error naming the key.
#ifndef FERRY_CLIENT_LM_MODEL_ARGS_INTERNAL_H_
#define FERRY_CLIENT_LM_MODEL_ARGS_INTERNAL_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/lm/model_args.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

using nlohmann::json;

[[noreturn]] inline void Fail(ErrorCode code, const std::string& message) {
  throw Error(code, absl::StrCat("[ModelArgs] ", message));
}

// config[key] as a T; INVALID_ARGUMENT where it is absent, null or not a T.
template <typename T>
T Required(const json& config, const char* key) {
  if (!config.contains(key) || config[key].is_null()) {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json lacks \"", key, "\"."));
  }
  try {
    return config[key].get<T>();
  } catch (const json::exception&) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's \"", key, "\" is ", config[key].dump(), ", not a number."));
  }
}

// config[key] as a T, or `fallback` where it is absent or null.
template <typename T>
T Optional(const json& config, const char* key, T fallback) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  return Required<T>(config, key);
}

// Shared by several families (model_args.cc).

// rope_scaling's type and numbers (initialize_rope's); gpt-oss's also "yarn".
void ReadRopeScaling(const json& scaling, ModelArgs& args, bool yarn = false);

// The sizes every model needs, positive, and whole groups of query heads.
void CheckSizes(const ModelArgs& args);

// layer_types as given, else layer i "full_attention" where i % full_every == full_at and
// "sliding_attention" elsewhere (gpt-oss's and OLMo 3's defaults); one of the two for every
// layer.
void ReadLayerTypes(const json& config, ModelArgs& args, int full_every, int full_at);

// The experts of a grouped router (DeepSeek's, GLM-4.5's): n_group groups of at least
// group_least, topk_group of them chosen, num_experts_per_tok experts of those.
void CheckGroupedRouting(const ModelArgs& args, int group_least);

// hidden_size, num_hidden_layers, intermediate_size, num_attention_heads, rms_norm_eps and
// vocab_size, required; num_key_value_heads too, or where `kv_required` is false the query
// heads' when the config omits it.
void ReadLlamaSizes(const json& config, ModelArgs& args, bool kv_required);

// config.json's rope_scaling, or an empty object where it is absent or null.
json RopeScalingOf(const json& config);

// ModelArgs::from_json's readers, by the file that holds them.
// The readers of model_args_gemma.cc
void ReadGemma3(const json& top, ModelArgs& args);
void ReadGemma2(const json& config, ModelArgs& args);
void ReadGemma4(const json& top, ModelArgs& args);
void ReadGemma3n(const json& top, ModelArgs& args);
void ReadGemma(const json& config, ModelArgs& args);

// The readers of model_args_hybrid.cc
void ReadQwen3Next(const json& config, ModelArgs& args);
void ReadQwen35(const json& top, ModelArgs& args);
void ReadLfm2(const json& config, ModelArgs& args);
void ReadMamba2(const json& config, ModelArgs& args);
void ReadGraniteMoeHybrid(const json& config, ModelArgs& args);
void ReadFalconH1(const json& config, ModelArgs& args);
void ReadKimiLinear(const json& config, ModelArgs& args);
void ReadNemotronH(const json& config, ModelArgs& args);
void ReadMamba(const json& config, ModelArgs& args);
void ReadOlmoHybrid(const json& config, ModelArgs& args);
void ReadPlamo2(const json& config, ModelArgs& args);

// The readers of model_args_mistral.cc
void ReadMinistral3(const json& config, ModelArgs& args);
void ReadMistral4(const json& config, ModelArgs& args);
void ReadMistral3(const json& top, ModelArgs& args);

// The readers of model_args_deepseek.cc
void ReadGlm4Moe(const json& config, ModelArgs& args);
void ReadSolarOpen(const json& config, ModelArgs& args);
void ReadDeepseek(const json& config, ModelArgs& args);
void ReadDeepseekV32(const json& config, ModelArgs& args);
void ReadGlmMoeDsa(const json& config, ModelArgs& args);
void ReadGlm4MoeLite(const json& config, ModelArgs& args);
void ReadDots1(const json& config, ModelArgs& args);
void ReadLongcatFlash(const json& config, ModelArgs& args);

// The readers of model_args_vl.cc: mlx-lm's vision-language wrappers (their text models)
// and MODEL_REMAPPING's aliases
void ReadVisionLanguage(const json& top, ModelArgs& args);
void ReadRemapped(const json& config, ModelArgs& args);

// The readers of model_args_moe.cc
void ReadGptOss(const json& config, ModelArgs& args);
void ReadErnie45(const json& config, ModelArgs& args);
void ReadOlmoe(const json& config, ModelArgs& args);
void ReadMinimax(const json& config, ModelArgs& args);
void ReadHunyuan(const json& config, ModelArgs& args);
void ReadBailingMoe(const json& config, ModelArgs& args);
void ReadPhimoe(const json& config, ModelArgs& args);
void ReadDbrx(const json& config, ModelArgs& args);
void ReadKlear(const json& config, ModelArgs& args);
void ReadMimoV2Flash(const json& config, ModelArgs& args);
void ReadLaguna(const json& config, ModelArgs& args);
void ReadExaoneMoe(const json& config, ModelArgs& args);
void ReadAfmoe(const json& config, ModelArgs& args);
void ReadStep3p5(const json& config, ModelArgs& args);

// The readers of model_args_gpt.cc
void ReadGpt2(const json& config, ModelArgs& args);
void ReadGptNeox(const json& config, ModelArgs& args);
void ReadGptBigCode(const json& config, ModelArgs& args);

// The readers of model_args_llama.cc (ReadLlama: every model_type without a reader of its own)
void ReadLlama(const json& config, ModelArgs& args);
void ReadPhi3(const json& config, ModelArgs& args);
void ReadLlama4(const json& top, ModelArgs& args);
void ReadGranite(const json& config, ModelArgs& args);
void ReadCohere2(const json& config, ModelArgs& args);
void ReadStarcoder2(const json& config, ModelArgs& args);
void ReadGlm4(const json& config, ModelArgs& args);
void ReadExaone4(const json& config, ModelArgs& args);
void ReadSeedOss(const json& config, ModelArgs& args);
void ReadApertus(const json& config, ModelArgs& args);
void ReadHelium(const json& config, ModelArgs& args);
void ReadInternlm3(const json& config, ModelArgs& args);
void ReadCohere(const json& config, ModelArgs& args);
void ReadPhi(const json& config, ModelArgs& args);
void ReadStablelm(const json& config, ModelArgs& args);
void ReadMimo(const json& config, ModelArgs& args);
void ReadYoutuLlm(const json& config, ModelArgs& args);
void ReadNanbeige(const json& config, ModelArgs& args);
void ReadTelechat3(const json& config, ModelArgs& args);
void ReadBaichuanM1(const json& config, ModelArgs& args);

// The readers of model_args_llama.cc: InternLM2, MiniCPM, MiniCPM3, Nemotron, EXAONE 3
void ReadInternlm2(const json& config, ModelArgs& args);
void ReadMinicpm(const json& config, ModelArgs& args);
void ReadMinicpm3(const json& config, ModelArgs& args);
void ReadNemotron(const json& config, ModelArgs& args);
void ReadExaone(const json& config, ModelArgs& args);
void ReadOpenelm(const json& config, ModelArgs& args);

}  // namespace ferry::lm::internal

#endif  // FERRY_CLIENT_LM_MODEL_ARGS_INTERNAL_H_
