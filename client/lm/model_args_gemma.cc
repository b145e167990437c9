// ModelArgs::from_json's readers for Gemma (1), Gemma 2, Gemma 3, Gemma 3n and Gemma 4: each as
// mlx-lm's ModelArgs reads config.json.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/lm/model_args_internal.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

namespace {

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

}  // namespace

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

// mlx-lm's gemma2 ModelArgs: the sizes required, the rest its defaults. It reads neither
// rope_scaling nor sliding_window (full attention everywhere); the output is the embedding.
void ReadGemma2(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.head_dim = Required<int64_t>(config, "head_dim");
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

// mlx-lm's gemma ModelArgs (Gemma 1): the sizes, head_dim and num_key_value_heads required,
// rope_theta and rope_traditional its defaults; no rope_scaling, hidden_activation or
// sliding window read. The output is the embedding.
void ReadGemma(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rope_theta = Optional<float>(config, "rope_theta", 1e4f);
  args.rope_traditional = Optional<bool>(config, "rope_traditional", false);
  args.tie_word_embeddings = true;
  CheckSizes(args);
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

}  // namespace ferry::lm::internal
