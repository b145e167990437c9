// ModelArgs::from_json's readers for Ministral 3, Mistral 4 and mistral3 (their wrapper): each as
// mlx-lm's ModelArgs reads config.json.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/lm/model_args_internal.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

namespace {

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

}  // namespace

// mlx-lm's ministral3 ModelArgs: Llama's sizes required, head_dim hidden_size /
// num_attention_heads when omitted, tied unless the config says not; RoPE (not traditional)
// as rope_parameters says, its rope_theta required. layer_types (every layer full_attention
// when omitted) slide over sliding_window where they say "sliding_attention"; one at least
// attends over every position (mlx-lm takes its cache's mask).
void ReadMinistral3(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/false);
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

}  // namespace ferry::lm::internal
