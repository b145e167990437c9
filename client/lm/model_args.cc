#include "client/lm/model_args.h"

#include <algorithm>
#include <limits>
#include <set>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/error.h"
#include "client/lm/config_json.h"
#include "client/lm/model_args_internal.h"
#include "core/read_file.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace internal {

// rope_scaling's type and numbers (initialize_rope's); gpt-oss's also "yarn".
void ReadRopeScaling(const json& scaling, ModelArgs& args, bool yarn) {
  // initialize_rope's `scaling.get("type") or scaling.get("rope_type", "default")`.
  args.rope_type = Optional<std::string>(scaling, "type", "");
  if (args.rope_type.empty()) {
    args.rope_type = Optional<std::string>(scaling, "rope_type", "default");
  }
  if (yarn && args.rope_type == "deepseek_yarn") args.rope_type = "yarn";  // initialize_rope's
  for (const auto& [key, value] : scaling.items()) {
    if (value.is_number()) args.rope_scaling[key] = value.get<double>();
  }
  static const std::set<std::string> kRopes = {"default", "linear", "llama3"};
  if (!kRopes.count(args.rope_type) && !(yarn && args.rope_type == "yarn")) {
    Fail(ErrorCode::kUnimplemented,
         absl::StrCat("rope_type \"", args.rope_type,
                      "\" is not built by ferry::lm (default, linear",
                      yarn ? ", llama3 and yarn are)." : " and llama3 are)."));
  }
  if (args.rope_type != "default" && !args.rope_scaling.count("factor")) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("rope_type \"", args.rope_type, "\" needs a \"factor\"."));
  }
}

// The sizes every model needs, positive, and whole groups of query heads.
void CheckSizes(const ModelArgs& args) {
  if (args.hidden_size <= 0 || args.num_hidden_layers <= 0 || args.intermediate_size <= 0 ||
      args.num_attention_heads <= 0 || args.vocab_size <= 0 || args.num_key_value_heads <= 0 ||
      args.head_dim <= 0 || args.num_attention_heads % args.num_key_value_heads != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sizes must be positive and num_attention_heads (",
                      args.num_attention_heads, ") a multiple of num_key_value_heads (",
                      args.num_key_value_heads, ")."));
  }
}

// layer_types as given, else layer i "full_attention" where i % full_every == full_at and
// "sliding_attention" elsewhere (gpt-oss's and OLMo 3's defaults); one of the two for every
// layer.
void ReadLayerTypes(const json& config, ModelArgs& args, int full_every, int full_at) {
  args.layer_types.clear();
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    args.layer_types.push_back(i % full_every == full_at ? "full_attention" : "sliding_attention");
  }
  args.layer_types = Optional<std::vector<std::string>>(config, "layer_types", args.layer_types);
  if (static_cast<int>(args.layer_types.size()) != args.num_hidden_layers) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's layer_types has ", args.layer_types.size(),
                      " entries, not num_hidden_layers (", args.num_hidden_layers, ")."));
  }
  for (const std::string& type : args.layer_types) {
    if (type != "sliding_attention" && type != "full_attention") {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's layer_types holds \"", type,
                        "\", neither sliding_attention nor full_attention."));
    }
  }
}

// The experts of a grouped router (DeepSeek's, GLM-4.5's): n_group groups of at least
// group_least, topk_group of them chosen, num_experts_per_tok experts of those.
void CheckGroupedRouting(const ModelArgs& args, int group_least) {
  if (args.moe_intermediate_size <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts || args.n_group <= 0 ||
      args.num_experts % args.n_group != 0 ||
      (args.n_group > 1 && args.num_experts / args.n_group < group_least) || args.topk_group <= 0 ||
      args.topk_group > args.n_group) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's n_routed_experts (", args.num_experts, ") must be n_group (",
                      args.n_group, ") groups of ", group_least, " or more, topk_group (",
                      args.topk_group, ") from 1 to n_group, num_experts_per_tok (",
                      args.num_experts_per_tok,
                      ") from 1 to n_routed_experts, moe_intermediate_size positive."));
  }
}

// hidden_size, num_hidden_layers, intermediate_size, num_attention_heads, rms_norm_eps and
// vocab_size, required; num_key_value_heads too, or where `kv_required` is false the query
// heads' when the config omits it.
void ReadLlamaSizes(const json& config, ModelArgs& args, bool kv_required) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_key_value_heads =
      kv_required ? Required<int>(config, "num_key_value_heads")
                  : Optional<int>(config, "num_key_value_heads", args.num_attention_heads);
}

// config.json's rope_scaling, or an empty object where it is absent or null.
json RopeScalingOf(const json& config) {
  return config.contains("rope_scaling") && config["rope_scaling"].is_object()
             ? config["rope_scaling"]
             : json::object();
}

namespace {

Quantization ReadQuantization(const json& q) {
  Quantization out;
  out.group_size = Optional<int>(q, "group_size", out.group_size);
  out.bits = Optional<int>(q, "bits", out.bits);
  out.mode = Optional<std::string>(q, "mode", out.mode);
  return out;
}

std::vector<int32_t> ReadEos(const json& config) {
  if (!config.contains("eos_token_id") || config["eos_token_id"].is_null()) return {};
  const json& eos = config["eos_token_id"];
  if (eos.is_array()) return eos.get<std::vector<int32_t>>();
  return {eos.get<int32_t>()};
}

// The quantization mlx-lm's convert writes, and the end tokens.
void ReadQuantizationAndEos(const json& config, ModelArgs& args) {
  if (config.contains("quantization") && config["quantization"].is_object()) {
    const json& q = config["quantization"];
    args.quantization = ReadQuantization(q);
    for (const auto& [key, value] : q.items()) {
      if (value.is_object()) args.layer_quantization[key] = ReadQuantization(value);
      if (value.is_boolean() && !value.get<bool>()) args.layer_quantization[key] = std::nullopt;
    }
  } else if (config.contains("quantization_config") && config["quantization_config"].is_object()) {
    // Hugging Face's, in the formats MLX holds as they are (gpt-oss as OpenAI published it):
    // mlx-lm's load_model reads these two so.
    const std::string method =
        Optional<std::string>(config["quantization_config"], "quant_method", "");
    if (method == "mxfp4") args.quantization = Quantization{32, 4, "mxfp4"};
    if (method == "mxfp8") args.quantization = Quantization{32, 8, "mxfp8"};
  }
  args.eos_token_ids = ReadEos(config);
}

// Reads config.json with the reader of its model_type, refusing the types not built.
void ReadByModelType(const json& config, ModelArgs& args) {
  // In the order the refusal names them (a table: clang-format would put one a line).
  // clang-format off
  static const std::vector<std::string> kTypes = {
      "llama", "mistral", "qwen2", "qwen3", "mixtral", "qwen2_moe", "qwen3_moe", "gemma3_text",
      "gemma3", "gemma2", "phi3", "gpt_oss", "deepseek_v2", "deepseek_v3", "kimi_k2", "glm4_moe",
      "smollm3", "olmo2", "olmo3", "qwen3_next", "qwen3_5", "qwen3_5_moe", "lfm2", "lfm2_moe",
      "llama4", "llama4_text", "granite", "granitemoe", "cohere2", "starcoder2", "mamba2",
      "granitemoehybrid", "falcon_h1", "glm4", "exaone4", "ernie4_5", "ernie4_5_moe", "olmoe",
      "ministral3", "mistral3", "mistral4", "gemma4_text", "gemma4", "kimi_linear", "nemotron_h",
      "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "lfm2-vl", "pixtral", "kimi_vl",
      "kimi_k25", "llava", "solar_open", "glm_moe_dsa", "joyai_llm_flash", "minimax_m2",
      "iquestcoder", "xverse", "gemma4_unified",
      "gpt2", "gpt_neox", "gpt_bigcode",
      "minimax", "dots1", "deepseek_v32", "gemma3n", "glm4_moe_lite", "hunyuan_v1_dense",
      "hunyuan", "seed_oss", "apertus", "helium", "internlm3", "bailing_moe", "gemma", "cohere",
      "phi", "stablelm",
      "youtu_llm", "nanbeige", "telechat3", "Klear", "baichuan_m1",
      "phimoe", "dbrx", "mamba", "falcon_mamba", "mimo",
      "internlm2", "minicpm", "minicpm3", "nemotron", "exaone",
      "openelm", "olmo_hybrid", "plamo2",
      "exaone_moe", "afmoe", "step3p5",
      "mimo_v2_flash", "laguna", "longcat_flash"};
  // clang-format on
  if (std::find(kTypes.begin(), kTypes.end(), args.model_type) == kTypes.end()) {
    Fail(ErrorCode::kUnimplemented,
         absl::StrCat("model_type \"", args.model_type, "\" is not built by ferry::lm (",
                      absl::StrJoin(kTypes.begin(), kTypes.end() - 1, ", "), " and ", kTypes.back(),
                      " are)."));
  }
  using Reader = void (*)(const json&, ModelArgs&);
  static const std::map<std::string, Reader> kReaders = {
      {"gemma2", ReadGemma2},
      {"phi3", ReadPhi3},
      {"gpt_oss", ReadGptOss},
      {"deepseek_v2", ReadDeepseek},
      {"deepseek_v3", ReadDeepseek},
      {"kimi_k2", ReadDeepseek},  // mlx-lm's MODEL_REMAPPING: the same model
      {"deepseek_v32", ReadDeepseekV32},
      {"glm_moe_dsa", ReadGlmMoeDsa},
      {"glm4_moe_lite", ReadGlm4MoeLite},
      {"glm4_moe", ReadGlm4Moe},
      {"solar_open", ReadSolarOpen},
      {"qwen3_next", ReadQwen3Next},
      {"qwen3_5", ReadQwen35},
      {"qwen3_5_moe", ReadQwen35},
      {"lfm2", ReadLfm2},
      {"lfm2_moe", ReadLfm2},
      {"llama4", ReadLlama4},
      {"llama4_text", ReadLlama4},
      {"granite", ReadGranite},
      {"granitemoe", ReadGranite},
      {"mamba2", ReadMamba2},
      {"granitemoehybrid", ReadGraniteMoeHybrid},
      {"falcon_h1", ReadFalconH1},
      {"cohere2", ReadCohere2},
      {"starcoder2", ReadStarcoder2},
      {"gpt2", ReadGpt2},
      {"gpt_neox", ReadGptNeox},
      {"gpt_bigcode", ReadGptBigCode},
      {"glm4", ReadGlm4},
      {"exaone4", ReadExaone4},
      {"ernie4_5", ReadErnie45},
      {"ernie4_5_moe", ReadErnie45},
      {"olmoe", ReadOlmoe},
      {"ministral3", ReadMinistral3},
      {"mistral3", ReadMistral3},
      // mlx-lm's vision-language wrappers and MODEL_REMAPPING (model_args_vl.cc).
      {"qwen2_vl", ReadVisionLanguage},
      {"qwen3_vl", ReadVisionLanguage},
      {"qwen3_vl_moe", ReadVisionLanguage},
      {"lfm2-vl", ReadVisionLanguage},
      {"pixtral", ReadVisionLanguage},
      {"kimi_vl", ReadVisionLanguage},
      {"kimi_k25", ReadVisionLanguage},
      {"llava", ReadRemapped},
      {"joyai_llm_flash", ReadRemapped},
      {"qwen2_5_vl", ReadRemapped},
      {"minimax_m2", ReadRemapped},
      {"iquestcoder", ReadRemapped},
      {"xverse", ReadRemapped},
      {"gemma4_unified", ReadRemapped},
      {"mistral4", ReadMistral4},
      {"gemma4_text", ReadGemma4},
      {"gemma4", ReadGemma4},
      {"kimi_linear", ReadKimiLinear},
      {"nemotron_h", ReadNemotronH},
      {"minimax", ReadMinimax},
      {"dots1", ReadDots1},
      {"bailing_moe", ReadBailingMoe},
      {"gemma3n", ReadGemma3n},
      {"hunyuan_v1_dense", ReadHunyuan},
      {"hunyuan", ReadHunyuan},
      {"seed_oss", ReadSeedOss},
      {"apertus", ReadApertus},
      {"helium", ReadHelium},
      {"internlm3", ReadInternlm3},
      {"gemma", ReadGemma},
      {"cohere", ReadCohere},
      {"phi", ReadPhi},
      {"stablelm", ReadStablelm},
      {"phimoe", ReadPhimoe},
      {"dbrx", ReadDbrx},
      {"mamba", ReadMamba},
      {"falcon_mamba", ReadMamba},  // mlx-lm's MODEL_REMAPPING: mamba
      {"mimo", ReadMimo},
      {"internlm2", ReadInternlm2},
      {"minicpm", ReadMinicpm},
      {"minicpm3", ReadMinicpm3},
      {"nemotron", ReadNemotron},
      {"exaone", ReadExaone},
      {"openelm", ReadOpenelm},
      {"olmo_hybrid", ReadOlmoHybrid},
      {"plamo2", ReadPlamo2},
      {"gemma3_text", ReadGemma3},
      {"gemma3", ReadGemma3},
      {"youtu_llm", ReadYoutuLlm},
      {"nanbeige", ReadNanbeige},
      {"telechat3", ReadTelechat3},
      {"Klear", ReadKlear},
      {"baichuan_m1", ReadBaichuanM1},
      {"exaone_moe", ReadExaoneMoe},
      {"afmoe", ReadAfmoe},
      {"step3p5", ReadStep3p5},
      {"mimo_v2_flash", ReadMimoV2Flash},
      {"laguna", ReadLaguna},
      {"longcat_flash", ReadLongcatFlash}};
  // Llama's reader serves the types with no reader of their own (llama.cc's models).
  const auto reader = kReaders.find(args.model_type);
  (reader != kReaders.end() ? reader->second : ReadLlama)(config, args);
}

}  // namespace
}  // namespace internal

using internal::Fail;
using internal::Required;
using nlohmann::json;

ModelArgs ModelArgs::from_json(const std::string& json_text) {
  json config = parse_config_json(json_text);
  if (config.is_discarded() || !config.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "config.json is not a JSON object.");
  }
  ModelArgs args;
  args.model_type = Required<std::string>(config, "model_type");
  internal::ReadByModelType(config, args);
  internal::ReadQuantizationAndEos(config, args);
  return args;
}

ModelArgs ModelArgs::from_directory(const std::string& model_path) {
  const std::string path = absl::StrCat(model_path, "/config.json");
  const absl::StatusOr<std::string> text = core::ReadFile(path);
  if (!text.ok()) Fail(ErrorCode::kNotFound, absl::StrCat("cannot open ", path, "."));
  ModelArgs args = from_json(*text);
  // generation_config.json, where present, says which tokens end a reply.
  if (const absl::StatusOr<std::string> generation =
          core::ReadFile(absl::StrCat(model_path, "/generation_config.json"));
      generation.ok()) {
    const json config = parse_config_json(*generation);
    if (config.is_object()) {
      for (int32_t id : internal::ReadEos(config)) {
        if (std::find(args.eos_token_ids.begin(), args.eos_token_ids.end(), id) ==
            args.eos_token_ids.end()) {
          args.eos_token_ids.push_back(id);
        }
      }
    }
  }
  return args;
}

}  // namespace ferry::lm
