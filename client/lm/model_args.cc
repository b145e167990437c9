#include "client/lm/model_args.h"

#include <algorithm>
#include <limits>
#include <set>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/error.h"
#include "client/lm/config_json.h"
#include "core/read_file.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {
namespace {

using nlohmann::json;

[[noreturn]] void Fail(ErrorCode code, const std::string& message) {
  throw Error(code, absl::StrCat("[ModelArgs] ", message));
}

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

template <typename T>
T Optional(const json& config, const char* key, T fallback) {
  if (!config.contains(key) || config[key].is_null()) return fallback;
  return Required<T>(config, key);
}

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

// The experts of mixtral, qwen2_moe or qwen3_moe, with mlx-lm's defaults where it has them.
void ReadExperts(const json& config, ModelArgs& args) {
  const bool mixtral = args.model_type == "mixtral", qwen3 = args.model_type == "qwen3_moe";
  if (mixtral) {
    args.num_experts = Optional<int>(config, "num_local_experts", 8);
    args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 2);
  } else {
    args.num_experts = Required<int>(config, "num_experts");
    args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
    args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  }
  if (args.model_type == "qwen2_moe") {
    args.shared_expert_intermediate_size =
        Required<int64_t>(config, "shared_expert_intermediate_size");
  }
  if (qwen3) {
    args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", false);
    args.decoder_sparse_step = Optional<int>(config, "decoder_sparse_step", 1);
    args.mlp_only_layers = Optional<std::vector<int>>(config, "mlp_only_layers", {});
  }
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts || args.decoder_sparse_step <= 0 ||
      (!mixtral && args.moe_intermediate_size <= 0) ||
      (args.model_type == "qwen2_moe" && args.shared_expert_intermediate_size <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts (", args.num_experts, "), num_experts_per_tok (",
                      args.num_experts_per_tok,
                      "), decoder_sparse_step and the experts' sizes "
                      "must be positive, and num_experts_per_tok at most num_experts."));
  }
}

// rope_scaling's type and numbers (initialize_rope's); gpt-oss's also "yarn".
void ReadRopeScaling(const json& scaling, ModelArgs& args, bool yarn = false) {
  args.rope_type = Optional<std::string>(scaling, "rope_type",
                                         Optional<std::string>(scaling, "type", "default"));
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

// mlx-lm's gemma3_text ModelArgs, every field with its default (gemma3.py's text_config
// takes the top level's vocab_size and defaults the heads to 8 and 4). mlx-lm reads neither
// rope_parameters nor layer_types (its pattern decides), nor the softcaps (Gemma 2's).
void ReadGemma3(const json& top, ModelArgs& args) {
  json config = top;
  if (args.model_type == "gemma3") {
    if (!top.contains("text_config") || !top["text_config"].is_object()) {
      Fail(ErrorCode::kInvalidArgument, "config.json lacks \"text_config\".");
    }
    config = top["text_config"];
    config["vocab_size"] = Optional<int64_t>(top, "vocab_size", 262208);
    config["num_attention_heads"] = Optional<int>(config, "num_attention_heads", 8);
    config["num_key_value_heads"] = Optional<int>(config, "num_key_value_heads", 4);
  }
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 1152);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 26);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 6912);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 4);
  args.head_dim = Optional<int64_t>(config, "head_dim", 256);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 262144);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 1);
  args.rope_theta = Optional<float>(config, "rope_theta", 1e6f);
  args.rope_local_base_freq = Optional<float>(config, "rope_local_base_freq", 1e4f);
  args.query_pre_attn_scalar = Optional<float>(config, "query_pre_attn_scalar", 256);
  args.sliding_window = Optional<int64_t>(config, "sliding_window", 512);
  args.sliding_window_pattern = Optional<int>(config, "sliding_window_pattern", 6);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  // Decided by the checkpoint when it is loaded (load.cc).
  args.tie_word_embeddings = false;
  if (args.hidden_size <= 0 || args.num_hidden_layers <= 0 || args.intermediate_size <= 0 ||
      args.num_attention_heads <= 0 || args.vocab_size <= 0 || args.num_key_value_heads <= 0 ||
      args.head_dim <= 0 || args.num_attention_heads % args.num_key_value_heads != 0 ||
      args.sliding_window <= 0 || args.sliding_window_pattern <= 0 ||
      args.query_pre_attn_scalar <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sizes, sliding_window, sliding_window_pattern and "
                      "query_pre_attn_scalar must be positive and num_attention_heads (",
                      args.num_attention_heads, ") a multiple of num_key_value_heads (",
                      args.num_key_value_heads, ")."));
  }
  const json none = json::object();
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : none,
                  args);
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

// mlx-lm's gemma2 ModelArgs: the sizes required, the rest its defaults. It reads neither
// rope_scaling nor sliding_window (full attention everywhere); the output is the embedding.
void ReadGemma2(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.rope_theta = Optional<float>(config, "rope_theta", 1e4f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.attn_logit_softcapping = Optional<float>(config, "attn_logit_softcapping", 50.0f);
  args.final_logit_softcapping = Optional<float>(config, "final_logit_softcapping", 30.0f);
  args.query_pre_attn_scalar = Optional<float>(config, "query_pre_attn_scalar", 144.0f);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 8192);
  args.tie_word_embeddings = true;
  CheckSizes(args);
  if (args.attn_logit_softcapping <= 0 || args.final_logit_softcapping <= 0 ||
      args.query_pre_attn_scalar <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's attn_logit_softcapping, final_logit_softcapping and "
         "query_pre_attn_scalar must be positive.");
  }
}

// mlx-lm's phi3 ModelArgs. rope_scaling must name its "type" and "long_factor"; "longrope"
// and "su" are SuScaledRoPE (with the top level's original_max_position_embeddings), "linear"
// divides the positions, and any other type is dropped with mlx-lm's warning (plain RoPE).
void ReadPhi3(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", args.num_attention_heads);
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  args.rope_theta = Optional<float>(config, "rope_theta", 1e4f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.partial_rotary_factor = Optional<float>(config, "partial_rotary_factor", 1.0f);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  CheckSizes(args);
  const int64_t rope_dims = static_cast<int64_t>(static_cast<double>(args.head_dim) *
                                                 static_cast<double>(args.partial_rotary_factor));
  if (rope_dims <= 0 || rope_dims > args.head_dim || rope_dims % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's partial_rotary_factor gives ", rope_dims,
                      " rotated features of ", args.head_dim, "; they must be even, 2 or more."));
  }
  if (!config.contains("rope_scaling") || !config["rope_scaling"].is_object()) return;
  const json& scaling = config["rope_scaling"];
  if (!scaling.contains("type") || !scaling.contains("long_factor")) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's rope_scaling must contain \"type\" and \"long_factor\".");
  }
  const std::string type = Required<std::string>(scaling, "type");
  if (type == "longrope" || type == "su") {
    args.rope_type = "longrope";
    args.rope_long_factor = scaling["long_factor"].is_array()
                                ? Required<std::vector<float>>(scaling, "long_factor")
                                : std::vector<float>(static_cast<size_t>(rope_dims / 2),
                                                     Required<float>(scaling, "long_factor"));
    if (static_cast<int64_t>(args.rope_long_factor.size()) != rope_dims / 2) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's rope_scaling long_factor has ", args.rope_long_factor.size(),
                        " numbers, not one per rotated pair (", rope_dims / 2, ")."));
    }
    args.rope_scaling["original_max_position_embeddings"] =
        static_cast<double>(Optional<int64_t>(config, "original_max_position_embeddings", 4096));
  } else if (type == "linear") {
    args.rope_type = "linear";
    args.rope_scaling["factor"] = Required<double>(scaling, "factor");
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

// mlx-lm's gpt_oss ModelArgs, every field with its default; layer_types, when omitted,
// alternate sliding and full attention from a sliding layer.
void ReadGptOss(const json& config, ModelArgs& args) {
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 36);
  args.num_experts = Optional<int>(config, "num_local_experts", 128);
  args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 4);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 201088);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-5f);
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 2880);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 2880);
  args.head_dim = Optional<int64_t>(config, "head_dim", 64);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 64);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 8);
  args.sliding_window = Optional<int64_t>(config, "sliding_window", 128);
  args.rope_theta = Optional<float>(config, "rope_theta", 150000.0f);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.tie_word_embeddings = false;
  CheckSizes(args);
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts || args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_local_experts (", args.num_experts,
                      "), num_experts_per_tok (", args.num_experts_per_tok,
                      ") and sliding_window must be positive, and num_experts_per_tok at most "
                      "num_local_experts."));
  }
  ReadLayerTypes(config, args, /*full_every=*/2, /*full_at=*/1);
  const json none = json::object();
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : none,
                  args, /*yarn=*/true);
}

// mlx-lm's smollm3 ModelArgs: no_rope_layers as given, or 1 for every layer but each
// no_rope_layer_interval-th (4).
void ReadNoRopeLayers(const json& config, ModelArgs& args) {
  if (config.contains("no_rope_layers") && !config["no_rope_layers"].is_null()) {
    args.no_rope_layers = Required<std::vector<int>>(config, "no_rope_layers");
    if (args.no_rope_layers.size() != static_cast<size_t>(args.num_hidden_layers)) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's no_rope_layers holds ", args.no_rope_layers.size(),
                        " entries for ", args.num_hidden_layers, " layers."));
    }
    return;
  }
  const int interval = Optional<int>(config, "no_rope_layer_interval", 4);
  if (interval <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's no_rope_layer_interval must be positive.");
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    args.no_rope_layers.push_back((i + 1) % interval != 0 ? 1 : 0);
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

// mlx-lm's glm4_moe ModelArgs: every field required but scoring_func and topk_method (only
// sigmoid and noaux_tc are built, as mlx-lm asserts); a null n_shared_experts or
// n_routed_experts is none. Plain RoPE whatever rope_scaling says, an lm_head of its own.
void ReadGlm4Moe(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.n_group = Required<int>(config, "n_group");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.topk_group = Required<int>(config, "topk_group");
  auto count = [&](const char* key) {
    return config.contains(key) && config[key].is_null() ? 0 : Required<int>(config, key);
  };
  args.n_shared_experts = count("n_shared_experts");
  args.num_experts = count("n_routed_experts");
  args.routed_scaling_factor = Required<float>(config, "routed_scaling_factor");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.first_k_dense_replace = Required<int>(config, "first_k_dense_replace");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.qk_norm = Required<bool>(config, "use_qk_norm");
  args.attention_bias = Required<bool>(config, "attention_bias");
  args.partial_rotary_factor = Required<float>(config, "partial_rotary_factor");
  args.tie_word_embeddings = false;
  args.topk_method = Optional<std::string>(config, "topk_method", "noaux_tc");
  if (args.topk_method != "noaux_tc" ||
      Optional<std::string>(config, "scoring_func", "sigmoid") != "sigmoid") {
    Fail(ErrorCode::kUnimplemented,
         "glm4_moe's topk_method and scoring_func must be noaux_tc and sigmoid, as mlx-lm's.");
  }
  CheckSizes(args);
  const int64_t rotated =
      static_cast<int64_t>(static_cast<double>(args.head_dim) * args.partial_rotary_factor);
  if (rotated <= 0 || rotated > args.head_dim || rotated % 2 != 0 || args.n_shared_experts < 0 ||
      args.first_k_dense_replace < 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's partial_rotary_factor gives ", rotated,
                      " rotated features of head_dim ", args.head_dim,
                      " (an even number, at most head_dim, wanted); n_shared_experts and "
                      "first_k_dense_replace must not be negative."));
  }
  if (args.num_experts > 0) CheckGroupedRouting(args, 2);
}

// mlx-lm's deepseek_v3 and deepseek_v2 ModelArgs, every field with its default (q_lora_rank
// null: no bottleneck; n_routed_experts or n_shared_experts null: none). Their RoPE is
// traditional, over the qk_rope_head_dim features: V3's as rope_scaling says (DeepSeek's own
// is "yarn"), V2's yarn with rope_scaling's numbers whatever its type.
void ReadDeepseek(const json& config, ModelArgs& args) {
  const bool v2 = args.model_type == "deepseek_v2";
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 102400);
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 4096);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 11008);
  args.moe_intermediate_size = Optional<int64_t>(config, "moe_intermediate_size", 1407);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 30);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.num_key_value_heads = args.num_attention_heads;  // unread: the latent is one head
  args.n_shared_experts = Optional<int>(config, "n_shared_experts", 0);
  args.num_experts = Optional<int>(config, "n_routed_experts", 0);
  args.routed_scaling_factor = Optional<float>(config, "routed_scaling_factor", 1.0f);
  args.kv_lora_rank = Optional<int64_t>(config, "kv_lora_rank", 512);
  args.q_lora_rank = config.contains("q_lora_rank") && config["q_lora_rank"].is_null()
                         ? 0
                         : Optional<int64_t>(config, "q_lora_rank", 1536);
  args.qk_rope_head_dim = Optional<int64_t>(config, "qk_rope_head_dim", 64);
  args.v_head_dim = Optional<int64_t>(config, "v_head_dim", 128);
  args.qk_nope_head_dim = Optional<int64_t>(config, "qk_nope_head_dim", 128);
  args.head_dim = args.qk_nope_head_dim + args.qk_rope_head_dim;
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", true);
  args.n_group = Optional<int>(config, "n_group", 1);
  args.topk_group = Optional<int>(config, "topk_group", 1);
  args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 1);
  args.moe_layer_freq = Optional<int>(config, "moe_layer_freq", 1);
  args.first_k_dense_replace = Optional<int>(config, "first_k_dense_replace", 0);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 2048);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.rope_theta = Optional<float>(config, "rope_theta", 1e4f);
  args.rope_traditional = true;
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.tie_word_embeddings = false;
  CheckSizes(args);
  if (args.kv_lora_rank <= 0 || args.q_lora_rank < 0 || args.qk_nope_head_dim <= 0 ||
      args.qk_rope_head_dim <= 0 || args.qk_rope_head_dim % 2 != 0 || args.v_head_dim <= 0 ||
      args.n_shared_experts < 0 || args.moe_layer_freq <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's kv_lora_rank, qk_nope_head_dim, v_head_dim, moe_layer_freq and an even "
         "qk_rope_head_dim must be positive, q_lora_rank and n_shared_experts not negative.");
  }
  // V2's "gready" is mlx-lm's default (a typo for greedy: any method but
  // group_limited_greedy ranks every expert).
  args.topk_method = Optional<std::string>(config, "topk_method", v2 ? "gready" : "noaux_tc");
  if (args.num_experts > 0) {
    if (!v2 && args.topk_method != "noaux_tc") {
      Fail(ErrorCode::kUnimplemented, absl::StrCat("topk_method \"", args.topk_method,
                                                   "\" is not built by ferry::lm (noaux_tc is)."));
    }
    // V3 sums each group's best two scores, V2 takes its best one.
    CheckGroupedRouting(args, v2 ? 1 : 2);
  }
  const bool scaled = config.contains("rope_scaling") && config["rope_scaling"].is_object();
  if (v2) {
    if (!scaled || !config["rope_scaling"].contains("factor")) {
      Fail(ErrorCode::kInvalidArgument,
           "config.json's rope_scaling must give deepseek_v2's yarn a \"factor\".");
    }
    json yarn = config["rope_scaling"];
    yarn["type"] = "yarn";
    yarn.erase("rope_type");
    ReadRopeScaling(yarn, args, /*yarn=*/true);
    return;
  }
  ReadRopeScaling(scaled ? config["rope_scaling"] : json::object(), args, /*yarn=*/true);
}

// mlx-lm's deepseek_v32 ModelArgs: deepseek_v3's, and its indexer's with their defaults. Its
// indexer reads the queries' bottleneck, so q_lora_rank may not be null.
void ReadDeepseekV32(const json& config, ModelArgs& args) {
  ReadDeepseek(config, args);
  args.index_n_heads = Optional<int>(config, "index_n_heads", 64);
  args.index_head_dim = Optional<int64_t>(config, "index_head_dim", 128);
  args.index_topk = Optional<int64_t>(config, "index_topk", 2048);
  args.indexer_rope_interleave = Optional<bool>(config, "indexer_rope_interleave", false);
  if (args.q_lora_rank <= 0 || args.index_n_heads <= 0 || args.index_topk <= 0 ||
      args.index_head_dim < args.qk_rope_head_dim) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's q_lora_rank, index_n_heads and index_topk must be positive "
                      "and index_head_dim (",
                      args.index_head_dim, ") at least qk_rope_head_dim (", args.qk_rope_head_dim,
                      ") for deepseek_v32's indexer."));
  }
}

// mlx-lm's glm4_moe_lite ModelArgs (GLM-4.7-Flash): deepseek_v3's fields with its own
// defaults (GLM-4.7-Flash's sizes: a q_lora_rank of 768, 64 routed experts and a shared one,
// first_k_dense_replace 1, rms_norm_eps 1e-5, rope_theta 1e6); partial_rotary_factor and
// num_nextn_predict_layers unread, as mlx-lm's.
void ReadGlm4MoeLite(const json& config, ModelArgs& args) {
  json merged = {{"vocab_size", 154880},
                 {"hidden_size", 2048},
                 {"intermediate_size", 10240},
                 {"moe_intermediate_size", 1536},
                 {"num_hidden_layers", 47},
                 {"num_attention_heads", 20},
                 {"n_shared_experts", 1},
                 {"n_routed_experts", 64},
                 {"routed_scaling_factor", 1.8},
                 {"kv_lora_rank", 512},
                 {"q_lora_rank", 768},
                 {"qk_rope_head_dim", 64},
                 {"qk_nope_head_dim", 192},
                 {"v_head_dim", 256},
                 {"num_experts_per_tok", 4},
                 {"first_k_dense_replace", 1},
                 {"max_position_embeddings", 202752},
                 {"rms_norm_eps", 1e-5},
                 {"rope_theta", 1e6}};
  for (auto it = config.begin(); it != config.end(); ++it) merged[it.key()] = it.value();
  ReadDeepseek(merged, args);
}

// The linear-attention sizes Qwen3-Next and Qwen3.5 share, and the rotated features.
void CheckQwen3Next(const ModelArgs& args) {
  CheckSizes(args);
  if (args.linear_num_key_heads <= 0 || args.linear_num_value_heads <= 0 ||
      args.linear_key_head_dim <= 0 || args.linear_value_head_dim <= 0 ||
      args.linear_conv_kernel_dim <= 0 || args.full_attention_interval <= 0 ||
      args.linear_num_value_heads % args.linear_num_key_heads != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's linear_* sizes and full_attention_interval must be "
                      "positive and linear_num_value_heads (",
                      args.linear_num_value_heads, ") a multiple of linear_num_key_heads (",
                      args.linear_num_key_heads, ")."));
  }
  const int64_t rope_dims = static_cast<int64_t>(static_cast<double>(args.head_dim) *
                                                 static_cast<double>(args.partial_rotary_factor));
  if (rope_dims <= 0 || rope_dims > args.head_dim || rope_dims % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's partial_rotary_factor gives ", rope_dims,
                      " rotated features of ", args.head_dim, "; they must be even, 2 or more."));
  }
  if (args.num_experts > 0 &&
      (args.num_experts_per_tok <= 0 || args.num_experts_per_tok > args.num_experts ||
       args.moe_intermediate_size <= 0 || args.shared_expert_intermediate_size <= 0 ||
       args.decoder_sparse_step <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_experts (", args.num_experts,
                      "), the experts' sizes and decoder_sparse_step positive."));
  }
}

// The linear layers' sizes, under Hugging Face's names.
void ReadLinearAttention(const json& config, ModelArgs& args, bool required) {
  auto read = [&](const char* key, auto fallback) {
    using T = decltype(fallback);
    return required ? Required<T>(config, key) : Optional<T>(config, key, fallback);
  };
  args.linear_num_value_heads = read("linear_num_value_heads", 64);
  args.linear_num_key_heads = read("linear_num_key_heads", 16);
  args.linear_key_head_dim = read("linear_key_head_dim", int64_t{192});
  args.linear_value_head_dim = read("linear_value_head_dim", int64_t{128});
  args.linear_conv_kernel_dim = read("linear_conv_kernel_dim", 4);
  args.full_attention_interval = Optional<int>(config, "full_attention_interval", 4);
}

// mlx-lm's qwen3_next ModelArgs: every size required (its dataclass has no defaults for
// them), plain RoPE unless rope_scaling says otherwise.
void ReadQwen3Next(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.partial_rotary_factor = Required<float>(config, "partial_rotary_factor");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  ReadLinearAttention(config, args, /*required=*/true);
  args.num_experts = Required<int>(config, "num_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.decoder_sparse_step = Required<int>(config, "decoder_sparse_step");
  args.shared_expert_intermediate_size =
      Required<int64_t>(config, "shared_expert_intermediate_size");
  args.mlp_only_layers = Required<std::vector<int>>(config, "mlp_only_layers");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  CheckQwen3Next(args);
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args);
}

// mlx-lm's qwen3_5 TextModelArgs (qwen3_5_moe's too), every field with its default, from
// "text_config" or the top level. RoPE comes from rope_parameters (its default when absent:
// rope_theta 100000, a quarter of each head), whatever rope_theta says beside it.
void ReadQwen35(const json& top, ModelArgs& args) {
  const json& config =
      top.contains("text_config") && top["text_config"].is_object() ? top["text_config"] : top;
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 4096);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 14336);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 151936);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 8);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  ReadLinearAttention(config, args, /*required=*/false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.head_dim = Optional<int64_t>(
      config, "head_dim",
      args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0);
  args.num_experts = Optional<int>(config, "num_experts", 0);
  args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 0);
  args.shared_expert_intermediate_size =
      Optional<int64_t>(config, "shared_expert_intermediate_size", 0);
  args.moe_intermediate_size = Optional<int64_t>(config, "moe_intermediate_size", 0);
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", true);
  args.decoder_sparse_step = 1;  // every layer's feed-forward is the experts
  json rope = json{{"type", "default"}, {"rope_theta", 100000}, {"partial_rotary_factor", 0.25}};
  if (config.contains("rope_parameters")) {
    rope = config["rope_parameters"].is_object() ? config["rope_parameters"] : json::object();
  }
  if (rope.empty()) {  // a null rope_parameters: the fields beside it
    args.partial_rotary_factor = Optional<float>(config, "partial_rotary_factor", 0.25f);
    args.rope_theta = Optional<float>(config, "rope_theta", 100000.0f);
    if (config.contains("rope_scaling") && config["rope_scaling"].is_object()) {
      rope = config["rope_scaling"];
    }
  } else {
    args.partial_rotary_factor = Optional<float>(rope, "partial_rotary_factor", 0.25f);
    args.rope_theta = Optional<float>(rope, "rope_theta", 100000.0f);
  }
  CheckQwen3Next(args);
  ReadRopeScaling(rope, args);
}

// LFM2's MLP width as mlx-lm's MLP computes it: block_ff_dim (intermediate_size when it is
// absent or null), with block_auto_adjust_ff_dim int(2 * it / 3), times
// block_ffn_dim_multiplier unless that is null, rounded up to a multiple of block_multiple_of.
void ReadLfm2FeedForward(const json& config, ModelArgs& args) {
  const int64_t block_dim = Required<int64_t>(config, "block_dim");
  const int64_t multiple_of = Required<int64_t>(config, "block_multiple_of");
  const bool auto_adjust = Required<bool>(config, "block_auto_adjust_ff_dim");
  if (!config.contains("block_ffn_dim_multiplier")) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"block_ffn_dim_multiplier\".");
  }
  const bool has_ff = config.contains("block_ff_dim") && !config["block_ff_dim"].is_null();
  if (!has_ff && (!config.contains("intermediate_size") || config["intermediate_size"].is_null())) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json lacks \"block_ff_dim\" and \"intermediate_size\" (one gives the MLP's "
         "width).");
  }
  int64_t ff = Required<int64_t>(config, has_ff ? "block_ff_dim" : "intermediate_size");
  if (block_dim != args.hidden_size || ff <= 0 || (auto_adjust && multiple_of <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's block_dim (", block_dim, ") must be hidden_size (",
                      args.hidden_size, "), the MLP's width (", ff,
                      ") and, to adjust it, block_multiple_of (", multiple_of, ") positive."));
  }
  if (auto_adjust) {
    ff = static_cast<int64_t>(2.0 * static_cast<double>(ff) / 3.0);
    if (!config["block_ffn_dim_multiplier"].is_null()) {
      ff = static_cast<int64_t>(Required<double>(config, "block_ffn_dim_multiplier") *
                                static_cast<double>(ff));
    }
    ff = multiple_of * ((ff + multiple_of - 1) / multiple_of);
  }
  args.intermediate_size = ff;
}

// LFM2's attention layers as mlx-lm's __post_init__ finds them: full_attn_idxs, else those
// layer_types calls "full_attention" (the others "conv"). mlx-lm takes the attention mask
// from the first, so there must be one.
void ReadFullAttnIdxs(const json& config, ModelArgs& args) {
  if (config.contains("full_attn_idxs") && !config["full_attn_idxs"].is_null()) {
    args.full_attn_idxs = Required<std::vector<int>>(config, "full_attn_idxs");
  } else if (config.contains("layer_types") && !config["layer_types"].is_null()) {
    const auto types = Required<std::vector<std::string>>(config, "layer_types");
    if (static_cast<int>(types.size()) != args.num_hidden_layers) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's layer_types has ", types.size(),
                        " entries, not num_hidden_layers (", args.num_hidden_layers, ")."));
    }
    for (int i = 0; i < args.num_hidden_layers; ++i) {
      const std::string& type = types[static_cast<size_t>(i)];
      if (type == "full_attention") args.full_attn_idxs.push_back(i);
      if (type != "full_attention" && type != "conv") {
        Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's layer_types holds \"", type,
                                                       "\", neither full_attention nor conv."));
      }
    }
  } else {
    Fail(ErrorCode::kInvalidArgument,
         "config.json lacks \"full_attn_idxs\" and \"layer_types\" (one says which layers "
         "attend).");
  }
  std::vector<int> sorted = args.full_attn_idxs;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.empty() || sorted.front() < 0 || sorted.back() >= args.num_hidden_layers ||
      std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's full_attn_idxs (", absl::StrJoin(args.full_attn_idxs, ", "),
                      ") must name one or more layers below num_hidden_layers (",
                      args.num_hidden_layers, "), each once."));
  }
}

// mlx-lm's lfm2 and lfm2_moe ModelArgs: the fields its dataclasses require, present (lfm2's
// num_key_value_heads null for as many as the queries), rope_theta 1e6 unless it or
// rope_parameters' says otherwise (plain RoPE: neither reads rope_scaling), head_dim
// hidden_size / num_attention_heads. The output is the embedding: tie_embedding false is
// refused, since mlx-lm has no other.
void ReadLfm2(const json& config, ModelArgs& args) {
  const bool moe = args.model_type == "lfm2_moe";
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  if (!config.contains("num_key_value_heads")) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"num_key_value_heads\".");
  }
  args.num_key_value_heads =
      moe ? Required<int>(config, "num_key_value_heads")
          : Optional<int>(config, "num_key_value_heads", args.num_attention_heads);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rms_norm_eps = Required<float>(config, "norm_eps");
  args.conv_bias = Required<bool>(config, "conv_bias");
  args.conv_l_cache = Required<int>(config, "conv_L_cache");
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  args.rope_theta = Optional<float>(config, "rope_theta", 1e6f);
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    args.rope_theta = Optional<float>(config["rope_parameters"], "rope_theta", args.rope_theta);
  }
  args.tie_word_embeddings = true;
  if (!Optional<bool>(config, "tie_embedding", true)) {
    Fail(ErrorCode::kUnimplemented,
         "tie_embedding false is not built by ferry::lm: mlx-lm's lfm2 outputs through its "
         "embedding.");
  }
  if (moe) {
    args.intermediate_size = Required<int64_t>(config, "intermediate_size");
    args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
    args.num_experts = Required<int>(config, "num_experts");
    args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
    args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
    args.use_expert_bias = Required<bool>(config, "use_expert_bias");
    args.first_k_dense_replace = Required<int>(config, "num_dense_layers");
    args.routed_scaling_factor = Optional<float>(config, "routed_scaling_factor", 1.0f);
  } else {
    ReadLfm2FeedForward(config, args);
  }
  CheckSizes(args);
  if (args.conv_l_cache < 2) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's conv_L_cache (", args.conv_l_cache,
                      ") must be 2 or more: the conv's state keeps conv_L_cache - 1 inputs."));
  }
  if (moe &&
      (args.moe_intermediate_size <= 0 || args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
       args.num_experts_per_tok > args.num_experts || args.first_k_dense_replace < 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_experts (", args.num_experts,
                      "), moe_intermediate_size positive, num_dense_layers not negative."));
  }
  ReadFullAttnIdxs(config, args);
}

// mlx-lm's llama4 TextArgs (under "text_config") and llama4_text ModelArgs: every field
// their dataclasses lack a default for required. Both rotate traditionally; llama4's RoPE
// follows rope_scaling (initialize_rope), llama4_text's is plain.
void ReadLlama4(const json& top, ModelArgs& args) {
  const bool text = args.model_type == "llama4_text";
  if (!text && (!top.contains("text_config") || !top["text_config"].is_object())) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"text_config\" (llama4's text model).");
  }
  const json& config = text ? top : top["text_config"];
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.intermediate_size_mlp = Required<int64_t>(config, "intermediate_size_mlp");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.rope_traditional = true;
  const bool qk_norm = Required<bool>(config, "use_qk_norm");
  CheckSizes(args);
  if (args.intermediate_size_mlp <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's intermediate_size_mlp must be positive.");
  }
  if (text) {
    args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
    args.no_rope_layers = Required<std::vector<int>>(config, "no_rope_layers");
    if (args.no_rope_layers.size() != static_cast<size_t>(args.num_hidden_layers)) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's no_rope_layers holds ", args.no_rope_layers.size(),
                        " entries for ", args.num_hidden_layers, " layers."));
    }
    args.weightless_qk_norm = qk_norm ? "before_rope" : "";
    return;
  }
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.attention_chunk_size = Required<int64_t>(config, "attention_chunk_size");
  args.interleave_moe_layer_step = Required<int>(config, "interleave_moe_layer_step");
  args.num_experts = Required<int>(config, "num_local_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.attn_temperature_tuning = Optional<int>(config, "attn_temperature_tuning", 4) != 0;
  args.floor_scale = Optional<float>(config, "floor_scale", 8192.0f);
  args.attn_scale = Optional<float>(config, "attn_scale", 0.1f);
  args.weightless_qk_norm = qk_norm ? "after_rope" : "";
  args.tie_word_embeddings = false;  // mlx-lm's LanguageModel always has its lm_head
  if (args.attention_chunk_size <= 0 || args.interleave_moe_layer_step <= 0 ||
      args.num_experts <= 0 || args.floor_scale <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's attention_chunk_size (", args.attention_chunk_size,
                      "), interleave_moe_layer_step (", args.interleave_moe_layer_step,
                      "), num_local_experts (", args.num_experts, ") and floor_scale (",
                      args.floor_scale, ") must be positive."));
  }
  if (args.num_experts_per_tok != 1) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok is ", args.num_experts_per_tok,
                      "; llama4 routes each token to 1 expert (as mlx-lm asserts)."));
  }
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args);
}

// mlx-lm's granite and granitemoe ModelArgs: every field without a default required (the
// multipliers too), head_dim hidden_size / num_attention_heads, attention_bias on all four
// projections, RoPE as initialize_rope makes it.
void ReadGranite(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.logits_scaling = Required<float>(config, "logits_scaling");
  args.attention_multiplier = Required<float>(config, "attention_multiplier");
  args.embedding_multiplier = Required<float>(config, "embedding_multiplier");
  args.residual_multiplier = Required<float>(config, "residual_multiplier");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.rope_theta = Required<float>(config, "rope_theta");
  if (args.model_type == "granitemoe") {
    args.num_experts = Required<int>(config, "num_local_experts");
    args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  } else {
    args.mlp_bias = Required<bool>(config, "mlp_bias");
  }
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  CheckSizes(args);
  if (args.logits_scaling == 0 || args.attention_multiplier <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's attention_multiplier (", args.attention_multiplier,
                      ") must be positive and logits_scaling (", args.logits_scaling, ") not 0."));
  }
  if (args.model_type == "granitemoe" && (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
                                          args.num_experts_per_tok > args.num_experts)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_local_experts (", args.num_experts, ")."));
  }
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
}

// mlx-lm's cohere2 ModelArgs: every field has its default. The heads must fill hidden_size
// (as mlx-lm raises), and the first global layer exist (mlx-lm takes its cache's mask).
void ReadCohere2(const json& config, ModelArgs& args) {
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 4096);
  args.head_dim = Optional<int64_t>(config, "head_dim", 128);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 14336);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 8);
  args.rope_theta = Optional<float>(config, "rope_theta", 50000.0f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 256000);
  args.rms_norm_eps = Optional<float>(config, "layer_norm_eps", 1e-5f);
  args.logit_scale = Optional<float>(config, "logit_scale", 0.0625f);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.layer_norm = true;
  args.layer_norm_bias = Optional<bool>(config, "layer_norm_bias", false);
  args.sliding_window = Optional<int64_t>(config, "sliding_window", 4096);
  args.sliding_window_pattern = Optional<int>(config, "sliding_window_pattern", 4);
  args.rope_traditional = true;
  args.tie_word_embeddings = true;
  CheckSizes(args);
  if (args.head_dim * args.num_attention_heads != args.hidden_size) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's head_dim (", args.head_dim, ") times num_attention_heads (",
                      args.num_attention_heads, ") is not hidden_size (", args.hidden_size, ")."));
  }
  if (args.sliding_window <= 0 || args.sliding_window_pattern <= 0 ||
      args.sliding_window_pattern > args.num_hidden_layers) {
    Fail(
        ErrorCode::kInvalidArgument,
        absl::StrCat("config.json's sliding_window (", args.sliding_window,
                     ") must be positive and sliding_window_pattern (", args.sliding_window_pattern,
                     ") from 1 to num_hidden_layers (", args.num_hidden_layers, ")."));
  }
}

// mlx-lm's starcoder2 ModelArgs: the sizes required, norm_epsilon, vocab_size, rope_theta
// and tie_word_embeddings its defaults; every projection biased, LayerNorms with bias, plain
// RoPE. It reads no sliding_window: every layer attends over every position.
void ReadStarcoder2(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.rms_norm_eps = Optional<float>(config, "norm_epsilon", 1e-5f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 49152);
  args.rope_theta = Optional<float>(config, "rope_theta", 100000.0f);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  args.attention_bias = args.output_bias = true;
  args.layer_norm = args.layer_norm_bias = true;
  CheckSizes(args);
}

// head_dim * partial_rotary_factor: the features RoPE rotates, even and at most head_dim.
void CheckRotated(const ModelArgs& args) {
  const int64_t rotated = static_cast<int64_t>(static_cast<double>(args.head_dim) *
                                               static_cast<double>(args.partial_rotary_factor));
  if (rotated <= 0 || rotated > args.head_dim || rotated % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's partial_rotary_factor gives ", rotated,
                      " rotated features of head_dim ", args.head_dim,
                      "; they must be even, 2 or more, at most head_dim."));
  }
}

// mlx-lm's glm4 ModelArgs (GLM-4-0414): every field required but rope_traditional (true) and
// max_position_embeddings (32768); attention_bias biases q, k and v, not o. Plain RoPE over
// head_dim * partial_rotary_factor features whatever rope_scaling says; an lm_head of its own.
void ReadGlm4(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.attention_bias = Required<bool>(config, "attention_bias");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.partial_rotary_factor = Required<float>(config, "partial_rotary_factor");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.rope_traditional = Optional<bool>(config, "rope_traditional", true);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  args.sandwich_norms = true;
  args.tie_word_embeddings = false;
  CheckSizes(args);
  CheckRotated(args);
}

// mlx-lm's exaone4 ModelArgs: the sizes, rope_theta, head_dim and tie_word_embeddings
// required; q and k normalized per head, RoPE as rope_scaling says (not traditional). A
// sliding_window_pattern ("LLLG") repeats over the layers: its "L" layers attend over the
// last sliding_window positions with RoPE, its "G" layers over all of them without
// (no_rope_layers, layer_types). Without one every layer attends over all with RoPE.
void ReadExaone4(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  args.qk_norm = true;
  CheckSizes(args);
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
  if (!config.contains("sliding_window_pattern") || config["sliding_window_pattern"].is_null()) {
    return;
  }
  const json& pattern = config["sliding_window_pattern"];
  const std::string letters = pattern.is_string() ? pattern.get<std::string>() : "";
  if (letters.find_first_not_of("LG") != std::string::npos ||
      letters.find('L') == std::string::npos || letters.find('G') == std::string::npos) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sliding_window_pattern is ", pattern.dump(),
                      ", not a string of L (sliding) and G (global) holding both."));
  }
  args.sliding_window = Required<int64_t>(config, "sliding_window");
  if (args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    const bool local = letters[static_cast<size_t>(i) % letters.size()] == 'L';
    args.layer_types.push_back(local ? "sliding_attention" : "full_attention");
    args.no_rope_layers.push_back(local ? 1 : 0);
  }
}

// mlx-lm's ernie4_5 and ernie4_5_moe ModelArgs: every size required, use_bias (every
// projection's and MLP's) and tie_word_embeddings too; head_dim hidden_size / heads when
// absent or null. Traditional RoPE, plain whatever rope_scaling says. ernie4_5_moe's experts
// (moe_num_experts, moe_k per token, moe_intermediate_size wide or intermediate_size where
// it is 0, moe_num_shared_experts of that width beside them, routed by moe_gate_act "softmax"
// or "sigmoid") are every moe_layer_interval-th layer's from moe_layer_start_index to
// moe_layer_end_index (the least of a list of starts, the most of a list of ends); the other
// layers are dense (mlp_only_layers).
void ReadErnie45(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.attention_bias = args.output_bias = args.mlp_bias = Required<bool>(config, "use_bias");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.rope_traditional = true;
  CheckSizes(args);
  if (args.model_type != "ernie4_5_moe") return;
  args.num_experts = Required<int>(config, "moe_num_experts");
  args.num_experts_per_tok = Optional<int>(config, "moe_k", 1);
  args.moe_intermediate_size = Optional<int64_t>(config, "moe_intermediate_size", 0);
  if (args.moe_intermediate_size == 0) args.moe_intermediate_size = args.intermediate_size;
  args.n_shared_experts = Optional<int>(config, "moe_num_shared_experts", 0);
  args.decoder_sparse_step = Optional<int>(config, "moe_layer_interval", 1);
  // A number, or a list of them of which `pick` (the least or the most) counts.
  auto bound = [&](const char* key, int fallback, bool least) {
    if (!config.contains(key) || config[key].is_null()) return fallback;
    if (!config[key].is_array()) return Required<int>(config, key);
    const std::vector<int> all = Required<std::vector<int>>(config, key);
    if (all.empty()) {
      Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's ", key, " is []."));
    }
    return least ? *std::min_element(all.begin(), all.end())
                 : *std::max_element(all.begin(), all.end());
  };
  const int start = bound("moe_layer_start_index", 0, true);
  const int end = bound("moe_layer_end_index", args.num_hidden_layers - 1, false);
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    if (i < start || i > end) args.mlp_only_layers.push_back(i);
  }
  const std::string act = Optional<std::string>(config, "moe_gate_act", "softmax");
  if (act != "softmax" && act != "sigmoid") {
    Fail(ErrorCode::kUnimplemented,
         absl::StrCat("moe_gate_act \"", act,
                      "\" is not built by ferry::lm (softmax and sigmoid are)."));
  }
  args.sigmoid_router = act == "sigmoid";
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts || args.moe_intermediate_size <= 0 ||
      args.n_shared_experts < 0 || args.decoder_sparse_step <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's moe_k (", args.num_experts_per_tok,
                      ") must be from 1 to moe_num_experts (", args.num_experts,
                      "), moe_intermediate_size and moe_layer_interval positive, "
                      "moe_num_shared_experts not negative."));
  }
}

// mlx-lm's olmoe ModelArgs: the sizes, num_experts and num_experts_per_tok required, the rest
// its defaults. OLMo 2's q and k norms over the whole projections, RoPE as rope_scaling says,
// every layer's MLP num_experts experts of intermediate_size (biased when mlp_bias), the top
// num_experts_per_tok of the softmax of the router's logits (renormalized when
// norm_topk_prob).
void ReadOlmoe(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_experts = Required<int>(config, "num_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", false);
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", args.num_attention_heads);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.moe_intermediate_size = args.intermediate_size;
  args.qk_norm_whole = true;
  CheckSizes(args);
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_experts (", args.num_experts, ")."));
  }
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
}

// time_step_limit: two numbers, the least and the most a time step is clipped to.
std::pair<float, float> ReadTimeStepLimit(const json& config, std::pair<float, float> fallback) {
  const auto limit = Optional<std::vector<float>>(
      config, "time_step_limit", std::vector<float>{fallback.first, fallback.second});
  if (limit.size() != 2 || limit[0] > limit[1]) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's time_step_limit (", absl::StrJoin(limit, ", "),
                      ") must be two numbers, the least first."));
  }
  return {limit[0], limit[1]};
}

// The mamba layers' sizes, checked as the mixer splits its projection by them.
void CheckMamba(const ModelArgs& args) {
  if (args.mamba_n_heads <= 0 || args.mamba_d_head <= 0 || args.mamba_d_state <= 0 ||
      args.mamba_n_groups <= 0 || args.mamba_n_heads % args.mamba_n_groups != 0 ||
      args.mamba_chunk_size <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's mamba heads (", args.mamba_n_heads, "), head size (",
                      args.mamba_d_head, "), state size (", args.mamba_d_state,
                      ") and chunk size (", args.mamba_chunk_size,
                      ") must be positive, the heads a multiple of the groups (",
                      args.mamba_n_groups, ")."));
  }
  if (args.mamba_d_conv < 2) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's conv kernel (", args.mamba_d_conv,
                      ") must be 2 or more: the conv's state keeps kernel - 1 inputs."));
  }
}

// mlx-lm's mamba2 ModelArgs: every field its dataclass lacks a default for required
// (intermediate_size and time_step_rank too, which it does not use: the scan is num_heads *
// head_dim wide), ssm_state_size state_size unless given. The residual blocks' norms are
// mlx-lm's RMSNorm(hidden_size) of eps 1e-5; norm_f and the gated norm layer_norm_epsilon's
// (rms_norm_eps here). chunk_size, which mlx-lm does not read, chunks the scan (its 256 when
// absent).
void ReadMamba2(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.rms_norm_eps = Required<float>(config, "layer_norm_epsilon");
  args.mamba_n_heads = Required<int>(config, "num_heads");
  args.mamba_d_head = Required<int64_t>(config, "head_dim");
  args.mamba_d_state =
      Optional<int64_t>(config, "ssm_state_size", Required<int64_t>(config, "state_size"));
  args.mamba_n_groups = Required<int>(config, "n_groups");
  args.mamba_d_conv = Required<int>(config, "conv_kernel");
  args.mamba_proj_bias = Required<bool>(config, "use_bias");
  args.mamba_conv_bias = Required<bool>(config, "use_conv_bias");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  if (!config.contains("time_step_rank") || config["time_step_rank"].is_null()) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"time_step_rank\".");
  }
  if (!config.contains("time_step_limit") || config["time_step_limit"].is_null()) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"time_step_limit\".");
  }
  args.time_step_limit = ReadTimeStepLimit(config, args.time_step_limit);
  args.mamba_chunk_size = Optional<int64_t>(config, "chunk_size", args.mamba_chunk_size);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 2056);
  if (args.vocab_size <= 0 || args.hidden_size <= 0 || args.num_hidden_layers <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's vocab_size, hidden_size and num_hidden_layers must be positive.");
  }
  CheckMamba(args);
}

// mlx-lm's granitemoehybrid ModelArgs (IBM Granite 4.0): layer_types says which layers are
// "mamba" and which "attention", one per layer; the mamba fields are required where a layer
// is one (mamba_proj_bias and mamba_conv_bias false when absent, as mlx-lm's None; mamba_expand,
// which mlx-lm does not read, agreeing with the heads where given); experts when
// num_local_experts is set (their shared MLP shared_intermediate_size wide), else a dense MLP.
// position_embedding_type "nope" rotates no positions. rope_theta, flat or under
// rope_parameters; plain RoPE, as initialize_rope without scaling makes it.
void ReadGraniteMoeHybrid(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.embedding_multiplier = Required<float>(config, "embedding_multiplier");
  args.attention_multiplier = Required<float>(config, "attention_multiplier");
  args.logits_scaling = Required<float>(config, "logits_scaling");
  args.residual_multiplier = Required<float>(config, "residual_multiplier");
  args.layer_types = Required<std::vector<std::string>>(config, "layer_types");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.time_step_limit = ReadTimeStepLimit(config, args.time_step_limit);
  const std::string positions = Optional<std::string>(config, "position_embedding_type", "rope");
  args.rope = positions != "nope";
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    args.rope_theta = Optional<float>(config["rope_parameters"], "rope_theta", args.rope_theta);
  }
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  CheckSizes(args);
  if (args.logits_scaling == 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's logits_scaling must not be 0.");
  }
  if (static_cast<int>(args.layer_types.size()) != args.num_hidden_layers) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's layer_types has ", args.layer_types.size(),
                      " entries, not num_hidden_layers (", args.num_hidden_layers, ")."));
  }
  bool mamba = false;
  for (const std::string& type : args.layer_types) {
    if (type != "mamba" && type != "attention") {
      Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's layer_types holds \"", type,
                                                     "\", neither mamba nor attention."));
    }
    mamba |= type == "mamba";
  }
  if (mamba) {
    args.mamba_n_heads = Required<int>(config, "mamba_n_heads");
    args.mamba_d_head = Required<int64_t>(config, "mamba_d_head");
    args.mamba_d_state = Required<int64_t>(config, "mamba_d_state");
    args.mamba_d_conv = Required<int>(config, "mamba_d_conv");
    args.mamba_n_groups = Required<int>(config, "mamba_n_groups");
    args.mamba_proj_bias = Optional<bool>(config, "mamba_proj_bias", false);
    args.mamba_conv_bias = Optional<bool>(config, "mamba_conv_bias", false);
    args.mamba_chunk_size = Optional<int64_t>(config, "mamba_chunk_size", args.mamba_chunk_size);
    CheckMamba(args);
    const int64_t expand = Optional<int64_t>(config, "mamba_expand", 0);
    if (expand != 0 && expand * args.hidden_size != args.mamba_n_heads * args.mamba_d_head) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's mamba_expand (", expand, ") times hidden_size (",
                        args.hidden_size, ") must be mamba_n_heads (", args.mamba_n_heads,
                        ") times mamba_d_head (", args.mamba_d_head, "): the scan's width."));
    }
  }
  args.num_experts = Optional<int>(config, "num_local_experts", 0);
  if (args.num_experts > 0) {
    args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
    args.shared_expert_intermediate_size = Required<int64_t>(config, "shared_intermediate_size");
    if (args.num_experts_per_tok <= 0 || args.num_experts_per_tok > args.num_experts ||
        args.shared_expert_intermediate_size <= 0) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                        ") must be from 1 to num_local_experts (", args.num_experts,
                        "), shared_intermediate_size positive."));
    }
  }
}

// mlx-lm's falcon_h1 ModelArgs: every field has its default (Falcon-H1-0.5B's). Each layer
// runs a Mamba-2 mixer (mamba_d_ssm wide: mamba_n_heads heads of mamba_d_head) beside Llama's
// attention (head_dim wide heads, biased when attention_bias, RoPE as initialize_rope makes
// it); time steps clipped to [0, inf) and the scan's chunk mlx-lm's 256 (it reads no
// mamba_chunk_size). The multipliers are read for sanitize (key_multiplier is not: mlx-lm's
// sanitize scales no "key_proj", so k_proj takes attention_in_multiplier alone).
void ReadFalconH1(const json& config, ModelArgs& args) {
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 1024);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 2048);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 36);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 8);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 2);
  args.head_dim = Optional<int64_t>(config, "head_dim", 64);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 32784);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-5f);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.rope_theta = Optional<float>(config, "rope_theta", 1e11f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
  args.mamba_n_heads = Optional<int>(config, "mamba_n_heads", 24);
  args.mamba_d_head = Optional<int64_t>(config, "mamba_d_head", 64);
  args.mamba_d_state = Optional<int64_t>(config, "mamba_d_state", 128);
  args.mamba_n_groups = Optional<int>(config, "mamba_n_groups", 1);
  args.mamba_d_conv = Optional<int>(config, "mamba_d_conv", 4);
  args.mamba_conv_bias = Optional<bool>(config, "mamba_conv_bias", true);
  args.mamba_proj_bias = Optional<bool>(config, "mamba_proj_bias", false);
  args.projectors_bias = Optional<bool>(config, "projectors_bias", false);
  args.mamba_rms_norm = Optional<bool>(config, "mamba_rms_norm", false);
  args.mamba_norm_before_gate = Optional<bool>(config, "mamba_norm_before_gate", false);
  args.time_step_limit = {0.0f, std::numeric_limits<float>::infinity()};
  args.embedding_multiplier = Optional<float>(config, "embedding_multiplier", 5.656854249492381f);
  args.lm_head_multiplier = Optional<float>(config, "lm_head_multiplier", 0.0390625f);
  args.attention_in_multiplier = Optional<float>(config, "attention_in_multiplier", 1.0f);
  args.attention_out_multiplier = Optional<float>(config, "attention_out_multiplier", 0.9375f);
  args.ssm_in_multiplier = Optional<float>(config, "ssm_in_multiplier", 1.25f);
  args.ssm_out_multiplier = Optional<float>(config, "ssm_out_multiplier", 0.23570226039551587f);
  args.mlp_multipliers = Optional<std::vector<float>>(
      config, "mlp_multipliers", std::vector<float>{0.8838834764831844f, 0.5859375f});
  args.ssm_multipliers = Optional<std::vector<float>>(
      config, "ssm_multipliers",
      std::vector<float>{0.3535533905932738f, 0.25f, 0.3535533905932738f, 0.5f,
                         0.3535533905932738f});
  CheckSizes(args);
  CheckMamba(args);
  const int64_t d_ssm = Optional<int64_t>(config, "mamba_d_ssm", 1536);
  if (d_ssm != args.mamba_n_heads * args.mamba_d_head) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's mamba_d_ssm (", d_ssm, ") must be mamba_n_heads (",
                      args.mamba_n_heads, ") times mamba_d_head (", args.mamba_d_head,
                      "): the scan's width."));
  }
  if (args.mlp_multipliers.size() != 2 || args.ssm_multipliers.size() != 5) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's mlp_multipliers (", args.mlp_multipliers.size(),
                      " numbers) must be 2 (gate_proj's, down_proj's) and ssm_multipliers (",
                      args.ssm_multipliers.size(), ") 5 (in_proj's gate, x, B, C and dt)."));
  }
  if (args.tie_word_embeddings && args.embedding_multiplier == 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's embedding_multiplier must not be 0: tied logits are divided by it.");
  }
}

// Llama 4's attention scaling as mlx-lm's ministral3 and mistral4 read it from
// rope_parameters: llama_4_scaling_beta and original_max_position_embeddings, both required.
void ReadLlama4Scaling(const json& parameters, ModelArgs& args) {
  for (const char* key : {"llama_4_scaling_beta", "original_max_position_embeddings"}) {
    if (!parameters.contains(key) || !parameters[key].is_number()) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's rope_parameters lacks the number \"", key,
                        "\" (Llama 4's attention scaling)."));
    }
  }
  args.attn_temperature_tuning = args.llama_4_scaling = true;
  args.attn_scale = parameters["llama_4_scaling_beta"].get<float>();
  args.floor_scale = parameters["original_max_position_embeddings"].get<float>();
  if (args.floor_scale <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's rope_parameters' original_max_position_embeddings must be positive.");
  }
}

// rope_parameters, which mlx-lm's ministral3 and mistral4 index.
const json& RopeParameters(const json& config) {
  if (!config.contains("rope_parameters") || !config["rope_parameters"].is_object()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json lacks \"rope_parameters\" (", config.value("model_type", ""),
                      "'s RoPE and Llama 4's attention scaling)."));
  }
  return config["rope_parameters"];
}

// mlx-lm's ministral3 ModelArgs: Llama's sizes required, head_dim hidden_size /
// num_attention_heads when omitted, tied unless the config says not; RoPE (not traditional)
// as rope_parameters says, its rope_theta required. layer_types (every layer full_attention
// when omitted) slide over sliding_window where they say "sliding_attention"; one at least
// attends over every position (mlx-lm takes its cache's mask).
void ReadMinistral3(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", args.num_attention_heads);
  args.head_dim = Optional<int64_t>(
      config, "head_dim",
      args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0);
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  CheckSizes(args);
  const json& parameters = RopeParameters(config);
  args.rope_theta = Required<float>(parameters, "rope_theta");
  ReadRopeScaling(parameters, args, /*yarn=*/true);
  ReadLlama4Scaling(parameters, args);
  ReadLayerTypes(config, args, /*full_every=*/1, /*full_at=*/0);
  const auto& types = args.layer_types;
  if (std::find(types.begin(), types.end(), "full_attention") == types.end()) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's layer_types name no full_attention layer (ministral3 needs one).");
  }
  if (std::find(types.begin(), types.end(), "sliding_attention") != types.end()) {
    args.sliding_window = Required<int64_t>(config, "sliding_window");
    if (args.sliding_window <= 0) {
      Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
    }
  }
}

// mlx-lm's mistral4 ModelArgs: every field without a default required (q_lora_rank,
// n_routed_experts or n_shared_experts null: none), an lm_head unless tie_word_embeddings;
// RoPE over the qk_rope_head_dim features, traditional unless rope_interleave is false, as
// rope_parameters says (its rope_theta 100000 when omitted), which gives Llama 4's scaling
// too.
void ReadMistral4(const json& config, ModelArgs& args) {
  auto count = [&](const char* key) {
    return config.contains(key) && config[key].is_null() ? 0 : Required<int>(config, key);
  };
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  Required<int>(config, "num_key_value_heads");  // required, unread: the latent is one head
  args.num_key_value_heads = args.num_attention_heads;
  args.n_shared_experts = count("n_shared_experts");
  args.num_experts = count("n_routed_experts");
  args.routed_scaling_factor = Required<float>(config, "routed_scaling_factor");
  args.kv_lora_rank = Required<int64_t>(config, "kv_lora_rank");
  args.q_lora_rank = config.contains("q_lora_rank") && config["q_lora_rank"].is_null()
                         ? 0
                         : Required<int64_t>(config, "q_lora_rank");
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.topk_group = Required<int>(config, "topk_group");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.first_k_dense_replace = Required<int>(config, "first_k_dense_replace");
  args.n_group = Required<int>(config, "n_group");
  args.qk_rope_head_dim = Required<int64_t>(config, "qk_rope_head_dim");
  args.qk_nope_head_dim = Required<int64_t>(config, "qk_nope_head_dim");
  args.v_head_dim = Required<int64_t>(config, "v_head_dim");
  args.head_dim = args.qk_nope_head_dim + args.qk_rope_head_dim;
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.rope_traditional = Optional<bool>(config, "rope_interleave", true);
  CheckSizes(args);
  if (args.kv_lora_rank <= 0 || args.q_lora_rank < 0 || args.qk_nope_head_dim <= 0 ||
      args.qk_rope_head_dim <= 0 || args.qk_rope_head_dim % 2 != 0 || args.v_head_dim <= 0 ||
      args.n_shared_experts < 0 || args.first_k_dense_replace < 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's kv_lora_rank, qk_nope_head_dim, v_head_dim and an even "
         "qk_rope_head_dim must be positive, q_lora_rank, n_shared_experts and "
         "first_k_dense_replace not negative.");
  }
  if (args.num_experts > 0) CheckGroupedRouting(args, 2);
  const json& parameters = RopeParameters(config);
  args.rope_theta = Optional<float>(parameters, "rope_theta", 100000.0f);
  ReadRopeScaling(parameters, args, /*yarn=*/true);
  ReadLlama4Scaling(parameters, args);
}

// mlx-lm's mistral3 (Mistral Small 3.1 and 3.2, Magistral, Ministral 3, Mistral Small 4):
// the text model under "text_config" as ministral3, mistral4 or llama (whatever other
// model_type it names) reads it, untied unless it says so; the vision tower unread.
void ReadMistral3(const json& top, ModelArgs& args) {
  if (!top.contains("text_config") || !top["text_config"].is_object()) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"text_config\" (mistral3's text model).");
  }
  json text = top["text_config"];
  if (!text.contains("tie_word_embeddings")) text["tie_word_embeddings"] = false;
  std::string type = Optional<std::string>(text, "model_type", "llama");
  if (type != "ministral3" && type != "mistral4") type = "llama";
  text["model_type"] = type;
  args = ModelArgs::from_json(text.dump());
  args.model_type = "mistral3";
  args.text_model_type = type;
}

// One of Gemma 4's rope_parameters ("full_attention" or "sliding_attention", {} when absent, as
// mlx-lm's .get): its theta (10000 when unset), type and numbers, as initialize_rope reads them.
void ReadGemma4Rope(const json& parameters, float& theta, std::string& type,
                    std::map<std::string, double>& scaling) {
  theta = Optional<float>(parameters, "rope_theta", 10000.0f);
  type = Optional<std::string>(parameters, "type",
                               Optional<std::string>(parameters, "rope_type", "default"));
  scaling.clear();
  for (const auto& [key, value] : parameters.items()) {
    if (value.is_number()) scaling[key] = value.get<double>();
  }
  static const std::set<std::string> kRopes = {"default", "linear", "llama3", "proportional"};
  if (!kRopes.count(type)) {
    Fail(ErrorCode::kUnimplemented,
         absl::StrCat("rope_parameters' rope_type \"", type,
                      "\" is not built by ferry::lm for gemma4 (default, linear, llama3 and "
                      "proportional are)."));
  }
  if ((type == "linear" || type == "llama3") && !scaling.count("factor")) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("rope_parameters' rope_type \"", type, "\" needs a \"factor\"."));
  }
  if (type == "proportional" && scaling.count("partial_rotary_factor") &&
      (scaling["partial_rotary_factor"] < 0 || scaling["partial_rotary_factor"] > 1)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("rope_parameters' partial_rotary_factor (", scaling["partial_rotary_factor"],
                      ") must be from 0 to 1."));
  }
}

// mlx-lm's gemma4_text ModelArgs, every field with its default (gemma4.py's text_config takes
// the top level's vocab_size, 262144 when absent, and defaults the heads to 8 and 1); null
// global_head_dim, num_global_key_value_heads, hidden_size_per_layer_input and
// final_logit_softcapping are none. layer_types, when absent, repeats sliding_window_pattern - 1
// sliding layers and a full one. Every KV-shared layer needs an earlier layer of its type to read.
void ReadGemma4(const json& top, ModelArgs& args) {
  json config = top;
  if (args.model_type == "gemma4") {
    config = top.contains("text_config") && top["text_config"].is_object() ? top["text_config"]
                                                                           : json::object();
    config["vocab_size"] = Optional<int64_t>(top, "vocab_size", 262144);
    config["num_attention_heads"] = Optional<int>(config, "num_attention_heads", 8);
    config["num_key_value_heads"] = Optional<int>(config, "num_key_value_heads", 1);
  }
  // Null counts as 0 (mlx-lm's None) where `fallback` is the dataclass's default.
  auto nullable = [&](const char* key, int64_t fallback) {
    return config.contains(key) && config[key].is_null() ? 0
                                                         : Optional<int64_t>(config, key, fallback);
  };
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 1536);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 35);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 6144);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 8);
  args.head_dim = Optional<int64_t>(config, "head_dim", 256);
  args.global_head_dim = nullable("global_head_dim", 512);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 262144);
  args.vocab_size_per_layer_input = Optional<int64_t>(config, "vocab_size_per_layer_input", 262144);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 1);
  args.num_global_key_value_heads = static_cast<int>(nullable("num_global_key_value_heads", 0));
  args.num_kv_shared_layers = Optional<int>(config, "num_kv_shared_layers", 20);
  args.hidden_size_per_layer_input = nullable("hidden_size_per_layer_input", 256);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.sliding_window = Optional<int64_t>(config, "sliding_window", 512);
  args.sliding_window_pattern = Optional<int>(config, "sliding_window_pattern", 5);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.attention_k_eq_v = Optional<bool>(config, "attention_k_eq_v", false);
  args.final_logit_softcapping = static_cast<float>(
      config.contains("final_logit_softcapping") && config["final_logit_softcapping"].is_null()
          ? 0.0
          : Optional<double>(config, "final_logit_softcapping", 30.0));
  args.use_double_wide_mlp = Optional<bool>(config, "use_double_wide_mlp", true);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  CheckSizes(args);
  const int layers = args.num_hidden_layers;
  if (args.sliding_window <= 0 || args.sliding_window_pattern <= 0 ||
      args.num_kv_shared_layers < 0 || args.num_kv_shared_layers >= layers ||
      args.global_head_dim < 0 || args.hidden_size_per_layer_input < 0 ||
      (args.hidden_size_per_layer_input > 0 && args.vocab_size_per_layer_input <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sliding_window (", args.sliding_window,
                      "), sliding_window_pattern (", args.sliding_window_pattern,
                      ") and vocab_size_per_layer_input must be positive, num_kv_shared_layers (",
                      args.num_kv_shared_layers, ") from 0 to num_hidden_layers - 1."));
  }
  if (args.attention_k_eq_v && args.num_global_key_value_heads > 0 &&
      args.num_attention_heads % args.num_global_key_value_heads != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_attention_heads (", args.num_attention_heads,
                      ") is not a multiple of num_global_key_value_heads (",
                      args.num_global_key_value_heads, ")."));
  }
  if (config.contains("layer_types") && !config["layer_types"].is_null()) {
    args.layer_types = Required<std::vector<std::string>>(config, "layer_types");
    if (static_cast<int>(args.layer_types.size()) < layers) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's layer_types has ", args.layer_types.size(),
                        " entries, fewer than num_hidden_layers (", layers, ")."));
    }
    args.layer_types.resize(layers);
  } else {
    args.layer_types.clear();
    for (int i = 0; i < layers; ++i) {
      args.layer_types.push_back((i + 1) % args.sliding_window_pattern == 0 ? "full_attention"
                                                                            : "sliding_attention");
    }
  }
  const int first_shared = layers - args.num_kv_shared_layers;
  for (int i = 0; i < layers; ++i) {
    const std::string& type = args.layer_types[i];
    if (type != "sliding_attention" && type != "full_attention") {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's layer_types holds \"", type,
                        "\", neither sliding_attention nor full_attention."));
    }
    if (i >= first_shared &&
        std::find(args.layer_types.begin(), args.layer_types.begin() + first_shared, type) ==
            args.layer_types.begin() + first_shared) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's KV-shared layer ", i, " is ", type,
                        " but no layer before the shared ones is: it has no keys to read."));
    }
  }
  json rope = config.contains("rope_parameters") && config["rope_parameters"].is_object()
                  ? config["rope_parameters"]
                  : json{{"full_attention",
                          {{"partial_rotary_factor", 0.25},
                           {"rope_theta", 1000000.0},
                           {"rope_type", "proportional"}}},
                         {"sliding_attention",
                          {{"partial_rotary_factor", 1.0},
                           {"rope_theta", 10000.0},
                           {"rope_type", "default"}}}};
  auto rope_of = [&](const char* key) {
    return rope.contains(key) && rope[key].is_object() ? rope[key] : json::object();
  };
  ReadGemma4Rope(rope_of("full_attention"), args.rope_theta, args.rope_type, args.rope_scaling);
  ReadGemma4Rope(rope_of("sliding_attention"), args.rope_local_base_freq, args.rope_local_type,
                 args.rope_local_scaling);
  if (Optional<bool>(config, "enable_moe_block", false)) {
    args.num_experts = Required<int>(config, "num_experts");
    args.num_experts_per_tok = Required<int>(config, "top_k_experts");
    args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
    if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
        args.num_experts_per_tok > args.num_experts || args.moe_intermediate_size <= 0) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's top_k_experts (", args.num_experts_per_tok,
                        ") must be from 1 to num_experts (", args.num_experts,
                        "), moe_intermediate_size positive."));
    }
  }
}

// mlx-lm's kimi_linear ModelArgs: the sizes its dataclass has no default for required, the
// rest its defaults (null qk_nope_head_dim and v_head_dim: head_dim's; the experts' keys
// num_experts_per_token, num_shared_experts, num_expert_group, moe_renormalize). The layers
// of linear_attn_config's kda_layers (counted from 1) are KDA (num_heads heads of head_dim,
// convs of short_conv_kernel_size), the others latent attention, which mlx-lm rotates
// nothing in (rope_theta and rope_scaling unread). mlx-lm needs a KDA layer and, to run, a
// latent one.
void ReadKimiLinear(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.max_position_embeddings = Required<int64_t>(config, "model_max_length");
  args.num_experts = Required<int>(config, "num_experts");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.kv_lora_rank = Required<int64_t>(config, "kv_lora_rank");
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.qk_nope_head_dim = Optional<int64_t>(config, "qk_nope_head_dim", args.head_dim);
  args.qk_rope_head_dim = Optional<int64_t>(config, "qk_rope_head_dim", 0);
  args.v_head_dim = Optional<int64_t>(config, "v_head_dim", args.head_dim);
  args.q_lora_rank = 0;
  args.rope = false;
  args.num_experts_per_tok = Optional<int>(config, "num_experts_per_token", 1);
  args.n_shared_experts = Optional<int>(config, "num_shared_experts", 0);
  const std::string act = Optional<std::string>(config, "moe_router_activation_func", "sigmoid");
  if (act != "sigmoid" && act != "softmax") {
    Fail(ErrorCode::kUnimplemented,
         absl::StrCat("moe_router_activation_func \"", act,
                      "\" is not built by ferry::lm (sigmoid and softmax are, as mlx-lm's)."));
  }
  args.sigmoid_router = act == "sigmoid";
  args.norm_topk_prob = Optional<bool>(config, "moe_renormalize", true);
  args.routed_scaling_factor = Optional<float>(config, "routed_scaling_factor", 1.0f);
  args.first_k_dense_replace = Optional<int>(config, "first_k_dense_replace", 0);
  args.moe_layer_freq = Optional<int>(config, "moe_layer_freq", 1);
  args.n_group = Optional<int>(config, "num_expert_group", 1);
  args.topk_group = Optional<int>(config, "topk_group", 1);
  if (!config.contains("linear_attn_config") || !config["linear_attn_config"].is_object()) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks the object \"linear_attn_config\".");
  }
  const json& linear = config["linear_attn_config"];
  args.linear_num_key_heads = args.linear_num_value_heads = Required<int>(linear, "num_heads");
  args.linear_key_head_dim = args.linear_value_head_dim = Required<int64_t>(linear, "head_dim");
  args.linear_conv_kernel_dim = Optional<int>(linear, "short_conv_kernel_size", 4);
  const auto kda = Required<std::vector<int>>(linear, "kda_layers");
  CheckSizes(args);
  if (args.kv_lora_rank <= 0 || args.qk_nope_head_dim <= 0 || args.qk_rope_head_dim <= 0 ||
      args.v_head_dim <= 0 || args.linear_num_key_heads <= 0 || args.linear_key_head_dim <= 0 ||
      args.linear_conv_kernel_dim < 2 || args.n_shared_experts < 0 ||
      args.first_k_dense_replace < 0 || args.moe_layer_freq <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's kv_lora_rank, qk_nope_head_dim, qk_rope_head_dim, v_head_dim, "
         "moe_layer_freq and linear_attn_config's num_heads and head_dim must be positive, its "
         "short_conv_kernel_size 2 or more, num_shared_experts and first_k_dense_replace not "
         "negative.");
  }
  for (int layer : kda) {
    if (layer < 1 || layer > args.num_hidden_layers) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("linear_attn_config's kda_layers holds ", layer,
                        ": layers are counted from 1 to num_hidden_layers (",
                        args.num_hidden_layers, ")."));
    }
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    if (std::find(kda.begin(), kda.end(), i + 1) == kda.end()) args.full_attn_idxs.push_back(i);
  }
  if (kda.empty() || args.full_attn_idxs.empty()) {
    Fail(ErrorCode::kInvalidArgument,
         "linear_attn_config's kda_layers must name some layers but not all: mlx-lm's model "
         "takes its masks from the first KDA layer's cache and the first latent-attention "
         "layer's.");
  }
  if (args.num_experts > 0) CheckGroupedRouting(args, 2);
}

// The layer stack of a nemotron_h config.json as mlx-lm's ModelArgs normalizes it: one of
// "M" (mamba), "*" (attention), "-" (MLP), "E" (experts) per layer, from
// hybrid_override_pattern (a string, as Hugging Face's config.json holds it, or a list of
// characters) or else from layers_block_type or layer_types (transformers' names for them).
std::vector<std::string> ReadHybridPattern(const json& config) {
  static const std::map<std::string, std::string> kBlockTypes = {{"full_attention", "*"},
                                                                 {"linear_attention", "M"},
                                                                 {"moe", "E"},
                                                                 {"mlp", "-"},
                                                                 {"attention", "*"},
                                                                 {"mamba", "M"},
                                                                 {"conv", "M"}};
  std::vector<std::string> pattern;
  if (config.contains("hybrid_override_pattern") && !config["hybrid_override_pattern"].is_null()) {
    const json& given = config["hybrid_override_pattern"];
    if (given.is_string()) {
      for (char c : given.get<std::string>()) pattern.emplace_back(1, c);
    } else {
      pattern = Required<std::vector<std::string>>(config, "hybrid_override_pattern");
    }
  } else {
    const char* key = config.contains("layers_block_type") && !config["layers_block_type"].is_null()
                          ? "layers_block_type"
                          : "layer_types";
    if (!config.contains(key) || config[key].is_null()) {
      Fail(ErrorCode::kInvalidArgument,
           "config.json must have layers_block_type or hybrid_override_pattern to describe the "
           "layer stack.");
    }
    for (const std::string& type : Required<std::vector<std::string>>(config, key)) {
      auto found = kBlockTypes.find(type);
      if (found == kBlockTypes.end()) {
        Fail(ErrorCode::kInvalidArgument,
             absl::StrCat("config.json's ", key, " holds \"", type,
                          "\", none of attention, conv, full_attention, linear_attention, "
                          "mamba, mlp and moe."));
      }
      pattern.push_back(found->second);
    }
  }
  for (const std::string& block : pattern) {
    if (block != "M" && block != "*" && block != "-" && block != "E") {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's hybrid_override_pattern holds \"", block,
                        "\", none of M (mamba), * (attention), - (MLP) and E (experts)."));
    }
  }
  return pattern;
}

// mlx-lm's nemotron_h ModelArgs (NVIDIA's Nemotron-H): the fields its dataclass has no default
// for required (use_bias too, which it does not read), the layers ReadHybridPattern's (so many
// as num_hidden_layers). Attention sees no positions (head_dim hidden_size /
// num_attention_heads when absent); the mixers' time steps are clipped to time_step_limit ([0,
// inf) when absent), the gated norm per group, the scan chunked as mlx-lm's (chunk_size is
// not read). Where experts are, n_routed_experts, num_experts_per_tok, moe_intermediate_size
// and routed_scaling_factor are required, n_group and topk_group 1 when absent, the shared
// experts there when n_shared_experts is (moe_shared_expert_intermediate_size wide).
void ReadNemotronH(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.mamba_n_heads = Required<int>(config, "mamba_num_heads");
  args.mamba_d_head = Required<int64_t>(config, "mamba_head_dim");
  args.mamba_proj_bias = Required<bool>(config, "mamba_proj_bias");
  args.mamba_d_state = Required<int64_t>(config, "ssm_state_size");
  args.mamba_d_conv = Required<int>(config, "conv_kernel");
  args.mamba_n_groups = Required<int>(config, "n_groups");
  args.mlp_bias = Required<bool>(config, "mlp_bias");
  args.rms_norm_eps = Required<float>(config, "layer_norm_epsilon");
  static_cast<void>(Required<bool>(config, "use_bias"));
  args.mamba_conv_bias = Required<bool>(config, "use_conv_bias");
  args.mamba_norm_per_group = true;
  args.rope = false;
  args.tie_word_embeddings = false;
  args.time_step_limit = ReadTimeStepLimit(config, {0.0f, std::numeric_limits<float>::infinity()});
  args.layer_types = ReadHybridPattern(config);
  args.num_hidden_layers = static_cast<int>(args.layer_types.size());
  args.head_dim = Optional<int64_t>(
      config, "head_dim",
      args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0);
  CheckSizes(args);
  const auto has = [&args](const char* block) {
    return std::find(args.layer_types.begin(), args.layer_types.end(), block) !=
           args.layer_types.end();
  };
  if (has("M")) CheckMamba(args);
  if (!has("E")) return;
  args.num_experts = Required<int>(config, "n_routed_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.routed_scaling_factor = Required<float>(config, "routed_scaling_factor");
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", false);
  args.n_group = Optional<int>(config, "n_group", 1);
  args.topk_group = Optional<int>(config, "topk_group", 1);
  args.moe_latent_size = Optional<int64_t>(config, "moe_latent_size", 0);
  if (config.contains("n_shared_experts") && !config["n_shared_experts"].is_null()) {
    args.n_shared_experts = 1;
    args.shared_expert_intermediate_size =
        Required<int64_t>(config, "moe_shared_expert_intermediate_size");
  }
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts || args.moe_intermediate_size <= 0 ||
      args.moe_latent_size < 0 || args.n_group <= 0 || args.num_experts % args.n_group != 0 ||
      args.topk_group <= 0 || args.topk_group > args.n_group ||
      (args.n_group > 1 && args.num_experts / args.n_group < 2) ||
      (args.n_shared_experts > 0 && args.shared_expert_intermediate_size <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's n_routed_experts (", args.num_experts,
                      ") must be positive and a multiple of n_group (", args.n_group,
                      "; 2 or more in a group when there are groups), num_experts_per_tok (",
                      args.num_experts_per_tok, ") from 1 to n_routed_experts, topk_group (",
                      args.topk_group, ") from 1 to n_group, the experts' sizes positive."));
  }
}

// mlx-lm's minimax ModelArgs: the sizes, the experts and rotary_dim required, the rest its
// defaults. q and k normalized over the whole projections (use_qk_norm), plain RoPE over the
// first rotary_dim features of each head whatever rope_scaling says, every layer's experts
// intermediate_size wide (shared_intermediate_size unread, as mlx-lm's), routed by sigmoid
// scores whatever scoring_func says.
void ReadMinimax(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.num_experts = Required<int>(config, "num_local_experts");
  Required<int64_t>(config, "shared_intermediate_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.rope_theta = Required<float>(config, "rope_theta");
  const int64_t rotary_dim = Required<int64_t>(config, "rotary_dim");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.qk_norm_whole = Optional<bool>(config, "use_qk_norm", true);
  args.moe_intermediate_size = args.intermediate_size;
  CheckSizes(args);
  if (rotary_dim <= 0 || rotary_dim > args.head_dim || rotary_dim % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rotary_dim (", rotary_dim,
                      ") must be even, from 2 to head_dim (", args.head_dim, ")."));
  }
  args.partial_rotary_factor =
      static_cast<float>(static_cast<double>(rotary_dim) / static_cast<double>(args.head_dim));
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_local_experts (", args.num_experts, ")."));
  }
}

// mlx-lm's dots1 ModelArgs: every field required but head_dim (hidden / heads), n_group and
// topk_group (1), mlp_bias, rope_scaling and tie_word_embeddings. Qwen3's attention (q and k
// normalized per head, no biases whatever attention_bias says, RoPE as rope_scaling says),
// first_k_dense_replace dense layers, then DeepSeek V3's experts (grouped sigmoid routing with
// the correction bias, whatever scoring_func says) beside n_shared_experts shared ones; the
// dense MLPs and the shared experts biased when mlp_bias.
void ReadDots1(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 0);
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.first_k_dense_replace = Required<int>(config, "first_k_dense_replace");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.num_experts = Required<int>(config, "n_routed_experts");
  args.n_shared_experts = Required<int>(config, "n_shared_experts");
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.routed_scaling_factor = Required<float>(config, "routed_scaling_factor");
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.n_group = Optional<int>(config, "n_group", 1);
  args.topk_group = Optional<int>(config, "topk_group", 1);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.qk_norm = true;
  CheckSizes(args);
  if (args.n_shared_experts < 0 || args.first_k_dense_replace < 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's n_shared_experts and first_k_dense_replace must not be negative.");
  }
  CheckGroupedRouting(args, 2);
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
}

// mlx-lm's gemma3n TextConfig, the text model under "text_config": every field it reads
// required (it has no defaults); intermediate_size one width or one per layer; null
// final_logit_softcapping, altup_coef_clip and activation_sparsity_pattern are none; rope_scaling
// is not read (plain RoPE). Both kinds of layer must be among those before the KV-shared ones
// (mlx-lm's cache map looks for each there).
void ReadGemma3n(const json& top, ModelArgs& args) {
  if (!top.contains("text_config") || !top["text_config"].is_object()) {
    Fail(ErrorCode::kInvalidArgument, "config.json's text_config is missing or not an object.");
  }
  const json& config = top["text_config"];
  auto null = [&](const char* key) { return config.contains(key) && config[key].is_null(); };
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  const int layers = args.num_hidden_layers;
  if (config.contains("intermediate_size") && config["intermediate_size"].is_array()) {
    args.intermediate_sizes = Required<std::vector<int64_t>>(config, "intermediate_size");
    if (static_cast<int>(args.intermediate_sizes.size()) < layers) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's intermediate_size has ", args.intermediate_sizes.size(),
                        " entries, fewer than num_hidden_layers (", layers, ")."));
    }
    args.intermediate_sizes.resize(std::max(layers, 0));
    args.intermediate_size =
        *std::min_element(args.intermediate_sizes.begin(), args.intermediate_sizes.end());
  } else {
    args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  }
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_kv_shared_layers = Required<int>(config, "num_kv_shared_layers");
  args.vocab_size_per_layer_input = Required<int64_t>(config, "vocab_size_per_layer_input");
  args.hidden_size_per_layer_input = Required<int64_t>(config, "hidden_size_per_layer_input");
  args.sliding_window = Required<int64_t>(config, "sliding_window");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rope_local_base_freq = Required<float>(config, "rope_local_base_freq");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.final_logit_softcapping =
      null("final_logit_softcapping") ? 0.0f : Required<float>(config, "final_logit_softcapping");
  args.altup_num_inputs = Required<int>(config, "altup_num_inputs");
  args.altup_coef_clip =
      null("altup_coef_clip") ? 0.0f : Required<float>(config, "altup_coef_clip");
  args.altup_correct_scale = Required<bool>(config, "altup_correct_scale");
  args.altup_active_idx = Required<int>(config, "altup_active_idx");
  args.laurel_rank = Required<int64_t>(config, "laurel_rank");
  args.tie_word_embeddings = true;
  CheckSizes(args);
  if (args.sliding_window <= 0 || args.num_kv_shared_layers < 0 ||
      args.num_kv_shared_layers >= layers || args.vocab_size_per_layer_input <= 0 ||
      args.hidden_size_per_layer_input <= 0 || args.laurel_rank <= 0 ||
      args.altup_num_inputs <= 0 || args.altup_active_idx < 0 ||
      args.altup_active_idx >= args.altup_num_inputs || args.altup_coef_clip < 0 ||
      std::any_of(args.intermediate_sizes.begin(), args.intermediate_sizes.end(),
                  [](int64_t width) { return width <= 0; })) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sliding_window (", args.sliding_window,
                      "), vocab_size_per_layer_input, hidden_size_per_layer_input, laurel_rank, "
                      "altup_num_inputs (",
                      args.altup_num_inputs, ") and every intermediate_size must be positive, ",
                      "altup_active_idx (", args.altup_active_idx,
                      ") from 0 to altup_num_inputs - 1, num_kv_shared_layers (",
                      args.num_kv_shared_layers, ") from 0 to num_hidden_layers - 1."));
  }
  args.layer_types = Required<std::vector<std::string>>(config, "layer_types");
  if (static_cast<int>(args.layer_types.size()) < layers) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's layer_types has ", args.layer_types.size(),
                      " entries, fewer than num_hidden_layers (", layers, ")."));
  }
  args.layer_types.resize(layers);
  const int first_shared = layers - args.num_kv_shared_layers;
  for (const char* type : {"sliding_attention", "full_attention"}) {
    if (std::find(args.layer_types.begin(), args.layer_types.begin() + first_shared, type) ==
        args.layer_types.begin() + first_shared) {
      Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's layer_types has no ", type,
                                                     " layer before the KV-shared ones."));
    }
  }
  for (const std::string& type : args.layer_types) {
    if (type != "sliding_attention" && type != "full_attention") {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's layer_types holds \"", type,
                        "\", neither sliding_attention nor full_attention."));
    }
  }
  if (!null("activation_sparsity_pattern")) {
    args.activation_sparsity_pattern =
        Required<std::vector<float>>(config, "activation_sparsity_pattern");
    if (static_cast<int>(args.activation_sparsity_pattern.size()) < layers) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's activation_sparsity_pattern has ",
                        args.activation_sparsity_pattern.size(),
                        " entries, fewer than num_hidden_layers (", layers, ")."));
    }
    args.activation_sparsity_pattern.resize(layers);
    for (float sparsity : args.activation_sparsity_pattern) {
      if (!(sparsity >= 0 && sparsity < 1)) {
        Fail(ErrorCode::kInvalidArgument,
             absl::StrCat("config.json's activation_sparsity_pattern holds ", sparsity,
                          ", not from 0 up to 1."));
      }
    }
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

// A number, or a list of one per layer (Hunyuan's moe_topk, num_shared_expert,
// moe_intermediate_size): mlx-lm builds each layer of its own entry, ferry::lm every layer
// alike, so a list's entries must be equal (UNIMPLEMENTED where they differ).
template <typename T>
T UniformPerLayer(const json& config, const char* key) {
  if (!config.contains(key) || !config[key].is_array()) return Required<T>(config, key);
  const std::vector<T> all = Required<std::vector<T>>(config, key);
  if (all.empty())
    Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's ", key, " is []."));
  if (std::any_of(all.begin(), all.end(), [&](T v) { return v != all.front(); })) {
    Fail(ErrorCode::kUnimplemented,
         absl::StrCat("config.json's ", key, " is ", config[key].dump(),
                      ": ferry::lm builds every layer alike (a number, or a list of equal ones)."));
  }
  return all.front();
}

// mlx-lm's hunyuan_v1_dense and hunyuan ModelArgs. Both: each head's queries and keys
// normalized after RoPE where use_qk_norm, every projection biased where attention_bias,
// DynamicNTKAlphaRoPE of rope_scaling's alpha (rope_scaling, where given, needs alpha,
// factor and type; the dense model's alpha 1 without it). The dense model's head_dim is the
// config's (hidden_size / heads when null), untied by default. The mixture ("hunyuan",
// every field required but moe_intermediate_size and tie_word_embeddings): head_dim
// hidden_size / heads, its output the embedding whatever the config says, in every layer
// num_experts experts (1: a dense MLP instead) of moe_intermediate_size (else
// intermediate_size), the top moe_topk of the softmax, beside a shared MLP
// intermediate_size * num_shared_expert wide where use_mixed_mlp_moe; where use_cla only
// every cla_share_factor-th layer projects keys and values.
void ReadHunyuan(const json& config, ModelArgs& args) {
  const bool moe = args.model_type == "hunyuan";
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.rope_theta =
      moe ? Required<float>(config, "rope_theta") : Optional<float>(config, "rope_theta", 10000.0f);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  args.attention_bias = args.output_bias = moe ? Required<bool>(config, "attention_bias")
                                               : Optional<bool>(config, "attention_bias", false);
  args.qk_norm_after_rope =
      moe ? Required<bool>(config, "use_qk_norm") : Optional<bool>(config, "use_qk_norm", true);
  args.tie_word_embeddings = moe || Optional<bool>(config, "tie_word_embeddings", false);
  args.head_dim = moe ? 0 : Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  CheckSizes(args);
  const json scaling = RopeScalingOf(config);
  if (!scaling.empty() || moe) {
    for (const char* key : {"alpha", "factor", "type"}) {
      if (!scaling.contains(key) || scaling[key].is_null()) {
        Fail(ErrorCode::kInvalidArgument,
             absl::StrCat("config.json's rope_scaling lacks \"", key,
                          "\" (Hunyuan's needs alpha, factor and type)."));
      }
    }
  }
  args.rope_type = "ntk_alpha";
  args.rope_scaling["alpha"] = scaling.empty() ? 1.0 : Required<double>(scaling, "alpha");
  if (!moe) return;
  args.num_experts = Required<int>(config, "num_experts");
  const int top_k = UniformPerLayer<int>(config, "moe_topk");
  const int64_t shared = UniformPerLayer<int64_t>(config, "num_shared_expert");
  const bool mixed = Required<bool>(config, "use_mixed_mlp_moe");
  const bool cla = Required<bool>(config, "use_cla");
  const int share = Required<int>(config, "cla_share_factor");
  if (args.num_experts <= 0 || top_k <= 0 || top_k > args.num_experts || shared < 0 ||
      (cla && share <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's moe_topk (", top_k, ") must be from 1 to num_experts (",
                      args.num_experts,
                      "), num_shared_expert not negative and cla_share_factor positive."));
  }
  args.cla_share_factor = cla ? share : 1;
  if (args.num_experts == 1) return;  // mlx-lm's: a dense MLP
  args.num_experts_per_tok = top_k;
  args.moe_intermediate_size =
      config.contains("moe_intermediate_size") && !config["moe_intermediate_size"].is_null()
          ? UniformPerLayer<int64_t>(config, "moe_intermediate_size")
          : args.intermediate_size;
  args.shared_expert_intermediate_size = mixed ? args.intermediate_size * shared : 0;
  if (args.moe_intermediate_size <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's moe_intermediate_size must be positive.");
  }
}

// mlx-lm's seed_oss ModelArgs: the sizes and head_dim required, the rest its defaults. q, k
// and v biased where attention_bias, o where attention_out_bias, the MLP where mlp_bias,
// RoPE as rope_scaling says, tied unless tie_word_embeddings is false.
void ReadSeedOss(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
  args.attention_bias = Optional<bool>(config, "attention_bias", false);
  args.output_bias = Optional<bool>(config, "attention_out_bias", false);
  args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's apertus ModelArgs: every field required but rope_traditional and rope_scaling.
// head_dim hidden_size / heads; no attention biases whatever attention_bias says, the MLP's
// where mlp_bias; q and k normalized per head and no norms after attention and the MLP,
// whatever qk_norm and post_norm say; RoPE as rope_scaling says.
void ReadApertus(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.mlp_bias = Required<bool>(config, "mlp_bias");
  Required<bool>(config, "attention_bias");
  Required<bool>(config, "post_norm");
  Required<bool>(config, "qk_norm");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.qk_norm = true;
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

// mlx-lm's helium ModelArgs: every field required. head_dim hidden_size / heads whatever the
// config's says; q, k and v biased where attention_bias (o never), the MLP where mlp_bias;
// traditional plain RoPE.
void ReadHelium(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.attention_bias = Required<bool>(config, "attention_bias");
  Required<int64_t>(config, "head_dim");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.mlp_bias = Required<bool>(config, "mlp_bias");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.rope_traditional = true;
  CheckSizes(args);
}

// mlx-lm's internlm3 ModelArgs: the sizes required, the rest its defaults. head_dim
// hidden_size / heads; q, k, v and o biased where qkv_bias, the MLP where bias. rope_scaling,
// where given, needs factor and rope_type "linear" or "dynamic". mlx-lm's dynamic NTK RoPE is
// plain RoPE while a call's length and offset stay within max_position_embeddings, which is
// what ferry::lm builds for it (past that mlx-lm raises the base, per call, and this differs).
void ReadInternlm3(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/false);
  args.mlp_bias = Optional<bool>(config, "bias", false);
  args.attention_bias = args.output_bias = Optional<bool>(config, "qkv_bias", false);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 32768);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  CheckSizes(args);
  json scaling = RopeScalingOf(config);
  if (scaling.empty()) return;
  const std::string type = Optional<std::string>(scaling, "rope_type", "");
  if (!scaling.contains("factor") || (type != "linear" && type != "dynamic")) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rope_scaling is ", scaling.dump(),
                      "; InternLM3's needs a factor and rope_type \"linear\" or \"dynamic\"."));
  }
  if (type == "dynamic") scaling = json::object();
  ReadRopeScaling(scaling, args);
}

// mlx-lm's bailing_moe ModelArgs: the sizes and the experts required, the rest its defaults
// (n_group 1, topk_group 4 unread then; routed_scaling_factor 1, applied whatever
// moe_router_enable_routed_scaling says, as mlx-lm's). head_dim is hidden_size / heads;
// RoPE over rotary_dim (else head_dim * partial_rotary_factor) features as rope_scaling says.
// The shared experts are num_shared_experts of moe_shared_expert_intermediate_size (else
// moe_intermediate_size), none unless moe_router_enable_shared_expert.
void ReadBailingMoe(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.num_experts = Required<int>(config, "num_experts");
  args.n_shared_experts = Required<int>(config, "num_shared_experts");
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.first_k_dense_replace = Required<int>(config, "first_k_dense_replace");
  args.output_bias = args.mlp_bias = Optional<bool>(config, "use_bias", false);
  args.attention_bias = Optional<bool>(config, "use_qkv_bias", false);
  args.norm_head = Optional<bool>(config, "norm_head", false);
  args.qk_norm = Optional<bool>(config, "use_qk_norm", false);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.router_expert_bias = Optional<bool>(config, "moe_router_enable_expert_bias", false);
  args.routed_scaling_factor = Optional<float>(config, "routed_scaling_factor", 1.0f);
  const std::string scoring = Optional<std::string>(config, "score_function", "softmax");
  if (scoring != "softmax" && scoring != "sigmoid") {
    Fail(ErrorCode::kUnimplemented,
         absl::StrCat("score_function \"", scoring,
                      "\" is not built by ferry::lm (softmax and sigmoid are)."));
  }
  args.sigmoid_router = scoring == "sigmoid";
  args.n_group = Optional<int>(config, "n_group", 1);
  args.topk_group = Optional<int>(config, "topk_group", 4);
  args.shared_expert_intermediate_size =
      Optional<int64_t>(config, "moe_shared_expert_intermediate_size", args.moe_intermediate_size);
  if (!Optional<bool>(config, "moe_router_enable_shared_expert", true)) args.n_shared_experts = 0;
  args.head_dim = args.num_attention_heads > 0 ? args.hidden_size / args.num_attention_heads : 0;
  CheckSizes(args);
  const int64_t rotated = Optional<int64_t>(
      config, "rotary_dim",
      static_cast<int64_t>(static_cast<double>(args.head_dim) *
                           Optional<double>(config, "partial_rotary_factor", 1.0)));
  if (rotated <= 0 || rotated > args.head_dim || rotated % 2 != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rotary_dim (or head_dim * partial_rotary_factor) gives ",
                      rotated, " rotated features of head_dim ", args.head_dim,
                      " (an even number, at most head_dim, wanted)."));
  }
  args.partial_rotary_factor =
      static_cast<float>(static_cast<double>(rotated) / static_cast<double>(args.head_dim));
  if (args.n_shared_experts < 0 || args.first_k_dense_replace < 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's num_shared_experts and first_k_dense_replace must not be negative.");
  }
  if (args.n_group > 1) {
    CheckGroupedRouting(args, 2);
  } else if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
             args.num_experts_per_tok > args.num_experts || args.moe_intermediate_size <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_experts (", args.num_experts,
                      "), moe_intermediate_size positive."));
  }
  ReadRopeScaling(config.contains("rope_scaling") && config["rope_scaling"].is_object()
                      ? config["rope_scaling"]
                      : json::object(),
                  args, /*yarn=*/true);
}

}  // namespace

ModelArgs ModelArgs::from_json(const std::string& json_text) {
  json config = parse_config_json(json_text);
  if (config.is_discarded() || !config.is_object()) {
    Fail(ErrorCode::kInvalidArgument, "config.json is not a JSON object.");
  }
  ModelArgs args;
  args.model_type = Required<std::string>(config, "model_type");
  // In the order the refusal names them (a table: clang-format would put one a line).
  // clang-format off
  static const std::vector<std::string> kTypes = {
      "llama", "mistral", "qwen2", "qwen3", "mixtral", "qwen2_moe", "qwen3_moe", "gemma3_text",
      "gemma3", "gemma2", "phi3", "gpt_oss", "deepseek_v2", "deepseek_v3", "kimi_k2", "glm4_moe",
      "smollm3", "olmo2", "olmo3", "qwen3_next", "qwen3_5", "qwen3_5_moe", "lfm2", "lfm2_moe",
      "llama4", "llama4_text", "granite", "granitemoe", "cohere2", "starcoder2", "mamba2",
      "granitemoehybrid", "falcon_h1", "glm4", "exaone4", "ernie4_5", "ernie4_5_moe", "olmoe",
      "ministral3", "mistral3", "mistral4", "gemma4_text", "gemma4", "kimi_linear", "nemotron_h",
      "minimax", "dots1", "deepseek_v32", "gemma3n", "glm4_moe_lite", "hunyuan_v1_dense",
      "hunyuan", "seed_oss", "apertus", "helium", "internlm3", "bailing_moe"};
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
      {"glm4_moe_lite", ReadGlm4MoeLite},
      {"glm4_moe", ReadGlm4Moe},
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
      {"glm4", ReadGlm4},
      {"exaone4", ReadExaone4},
      {"ernie4_5", ReadErnie45},
      {"ernie4_5_moe", ReadErnie45},
      {"olmoe", ReadOlmoe},
      {"ministral3", ReadMinistral3},
      {"mistral3", ReadMistral3},
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
      {"internlm3", ReadInternlm3}};
  if (auto reader = kReaders.find(args.model_type); reader != kReaders.end()) {
    reader->second(config, args);
    ReadQuantizationAndEos(config, args);
    return args;
  }
  if (args.model_type == "gemma3_text" || args.model_type == "gemma3") {
    ReadGemma3(config, args);
    ReadQuantizationAndEos(config, args);
    return args;
  }
  // The mixtures of experts take their attention from these (mlx-lm's mixtral is llama's
  // without biases, qwen2_moe's qwen2's, qwen3_moe's qwen3's).
  const bool mixtral = args.model_type == "mixtral";
  const bool qwen2 = args.model_type == "qwen2" || args.model_type == "qwen2_moe";
  const bool qwen3 = args.model_type == "qwen3" || args.model_type == "qwen3_moe";
  const bool moe = mixtral || args.model_type == "qwen2_moe" || args.model_type == "qwen3_moe";
  const bool olmo3 = args.model_type == "olmo3";  // olmo2's with sliding layers
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", args.num_attention_heads);
  if (args.hidden_size <= 0 || args.num_hidden_layers <= 0 || args.intermediate_size <= 0 ||
      args.num_attention_heads <= 0 || args.vocab_size <= 0 || args.num_key_value_heads <= 0 ||
      args.num_attention_heads % args.num_key_value_heads != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's sizes must be positive and num_attention_heads (",
                      args.num_attention_heads, ") a multiple of num_key_value_heads (",
                      args.num_key_value_heads, ")."));
  }
  // qwen2 and mixtral compute head_dim from the width whatever the config says; qwen3
  // requires it.
  args.head_dim =
      qwen3 ? Required<int64_t>(config, "head_dim")
      : qwen2 || mixtral
          ? args.hidden_size / args.num_attention_heads
          : Optional<int64_t>(config, "head_dim", args.hidden_size / args.num_attention_heads);
  if (qwen2) {
    args.attention_bias = true;
  } else if (!qwen3 && !mixtral) {
    args.attention_bias = args.output_bias = Optional<bool>(config, "attention_bias", false);
    args.mlp_bias = Optional<bool>(config, "mlp_bias", false);
  }
  args.qk_norm = qwen3;
  args.qk_norm_whole = args.model_type == "olmo2" || olmo3;
  args.max_position_embeddings =
      olmo3 ? Required<int64_t>(config, "max_position_embeddings")
            : Optional<int64_t>(config, "max_position_embeddings", qwen2 ? 32768 : 2048);
  // mlx-lm's qwen2_moe has its own lm_head whatever the config says.
  args.tie_word_embeddings =
      args.model_type != "qwen2_moe" &&
      Optional<bool>(config, "tie_word_embeddings", !qwen3 && !moe && !olmo3);
  args.rope_traditional = args.model_type != "qwen2" && !qwen3 && !olmo3 &&
                          Optional<bool>(config, "rope_traditional", false);

  // transformers 5 nests rope_theta and the scaling under rope_parameters.
  const json none = json::object();
  const json& parameters =
      config.contains("rope_parameters") && config["rope_parameters"].is_object()
          ? config["rope_parameters"]
          : none;
  // mlx-lm's mixtures of experts build plain RoPE whatever rope_scaling says.
  const json& scaling = moe ? none
                        : config.contains("rope_scaling") && config["rope_scaling"].is_object()
                            ? config["rope_scaling"]
                            : parameters;
  args.rope_theta =
      olmo3
          ? Required<float>(config, "rope_theta")
          : Optional<float>(config, "rope_theta",
                            Optional<float>(parameters, "rope_theta", qwen2 || moe ? 1e6f : 1e4f));
  ReadRopeScaling(scaling, args, /*yarn=*/olmo3);

  if (moe) ReadExperts(config, args);

  if (args.model_type == "smollm3") ReadNoRopeLayers(config, args);
  if (olmo3) {
    args.sliding_window = Required<int64_t>(config, "sliding_window");
    if (args.sliding_window <= 0) {
      Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
    }
    ReadLayerTypes(config, args, /*full_every=*/4, /*full_at=*/3);
  } else if (config.contains("layer_types") && config["layer_types"].is_array()) {
    // mlx-lm's llama runs layers named "sliding_attention" over a window, which ferry::lm's
    // Llama does not: full attention there would give other numbers.
    for (const json& type : config["layer_types"]) {
      if (type.is_string() && type.get<std::string>() != "full_attention") {
        Fail(ErrorCode::kUnimplemented,
             absl::StrCat("layer_types \"", type.get<std::string>(),
                          "\" is not built by ferry::lm (full_attention is)."));
      }
    }
  }
  ReadQuantizationAndEos(config, args);
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
      for (int32_t id : ReadEos(config)) {
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
