// ModelArgs::from_json's readers for the hybrids of attention with linear attention or state-space
// layers (Qwen3-Next and Qwen3.5, LFM2, Mamba-2, Granite 4.0, Falcon-H1, Nemotron-H, Kimi Linear)
// and Mamba 1: each as mlx-lm's ModelArgs reads config.json.
#include <algorithm>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/lm/model_args_internal.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

namespace {

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

}  // namespace

// mlx-lm's qwen3_next ModelArgs: every size required (its dataclass has no defaults for
// them), plain RoPE unless rope_scaling says otherwise.
void ReadQwen3Next(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.head_dim = Required<int64_t>(config, "head_dim");
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
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.embedding_multiplier = Required<float>(config, "embedding_multiplier");
  args.attention_multiplier = Required<float>(config, "attention_multiplier");
  args.logits_scaling = Required<float>(config, "logits_scaling");
  args.residual_multiplier = Required<float>(config, "residual_multiplier");
  args.layer_types = Required<std::vector<std::string>>(config, "layer_types");
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

// mlx-lm's kimi_linear ModelArgs: the sizes its dataclass has no default for required, the
// rest its defaults (null qk_nope_head_dim and v_head_dim: head_dim's; the experts' keys
// num_experts_per_token, num_shared_experts, num_expert_group, moe_renormalize). The layers
// of linear_attn_config's kda_layers (counted from 1) are KDA (num_heads heads of head_dim,
// convs of short_conv_kernel_size), the others latent attention, which mlx-lm rotates
// nothing in (rope_theta and rope_scaling unread). mlx-lm needs a KDA layer and, to run, a
// latent one.
void ReadKimiLinear(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.rope_theta = Required<float>(config, "rope_theta");
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

// mlx-lm's mamba ModelArgs (falcon_mamba through MODEL_REMAPPING): the sizes, conv_kernel,
// use_bias, use_conv_bias and time_step_rank required under these names (the dataclass
// requires them before __post_init__'s fallbacks to d_model and the others could run);
// time_step_rank "auto" is ceil(hidden_size / 16). Tied unless tie_word_embeddings is false;
// falcon_mamba normalizes dt, B and C (use_bcdt_rms) whatever the config says.
void ReadMamba(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.mamba_d_state = Required<int64_t>(config, "state_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.mamba_d_conv = Required<int>(config, "conv_kernel");
  args.mamba_proj_bias = Required<bool>(config, "use_bias");
  args.mamba_conv_bias = Required<bool>(config, "use_conv_bias");
  if (!config.contains("time_step_rank") || config["time_step_rank"].is_null()) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"time_step_rank\".");
  }
  const json& rank = config["time_step_rank"];
  if (rank.is_string() && rank.get<std::string>() == "auto") {
    args.time_step_rank = (args.hidden_size + 15) / 16;
  } else if (rank.is_number()) {
    args.time_step_rank = static_cast<int64_t>(rank.get<double>());
  } else {
    Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json's \"time_step_rank\" is ",
                                                   rank.dump(), ", not a number or \"auto\"."));
  }
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.use_bcdt_rms =
      args.model_type == "falcon_mamba" || Optional<bool>(config, "use_bcdt_rms", false);
  args.mixer_rms_eps = Optional<float>(config, "mixer_rms_eps", 1e-6f);
  if (args.vocab_size <= 0 || args.hidden_size <= 0 || args.intermediate_size <= 0 ||
      args.num_hidden_layers <= 0 || args.mamba_d_state <= 0 || args.time_step_rank <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's vocab_size, hidden_size, intermediate_size, state_size, "
         "num_hidden_layers and time_step_rank must be positive.");
  }
  if (args.mamba_d_conv < 2) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's conv_kernel (", args.mamba_d_conv,
                      ") must be 2 or more: the conv's state keeps kernel - 1 inputs."));
  }
}

// mlx-lm's olmo_hybrid ModelArgs (OLMo hybrid): the fields its dataclass has no default for
// required (num_key_value_heads may be null: the query heads'), head_dim hidden_size /
// num_attention_heads when absent. rope_theta is rope_parameters' (10000 where it lacks one)
// when that is given, else rope_theta's (10000 when absent; null: no RoPE), plain RoPE either
// way. layer_types, one per layer, says which layers are "linear_attention" (gated delta nets;
// any other name a full attention layer, as mlx-lm's), else every fourth is full attention.
// The gated norm's eps is layer_norm_epsilon (mixer_rms_eps).
void ReadOlmoHybrid(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  if (!config.contains("num_key_value_heads")) {
    Fail(ErrorCode::kInvalidArgument, "config.json lacks \"num_key_value_heads\".");
  }
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", args.num_attention_heads);
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  ReadLinearAttention(config, args, /*required=*/true);
  args.linear_allow_neg_eigval = Required<bool>(config, "linear_allow_neg_eigval");
  args.tie_word_embeddings = Required<bool>(config, "tie_word_embeddings");
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.mixer_rms_eps = Optional<float>(config, "layer_norm_epsilon", 1e-5f);
  args.qk_norm_whole = true;
  if (args.num_attention_heads > 0) {
    args.head_dim =
        Optional<int64_t>(config, "head_dim", args.hidden_size / args.num_attention_heads);
  }
  bool rope = true;
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    const json& parameters = config["rope_parameters"];
    rope = !(parameters.contains("rope_theta") && parameters["rope_theta"].is_null());
    args.rope_theta = Optional<float>(parameters, "rope_theta", 10000.0f);
  } else {
    rope = !(config.contains("rope_theta") && config["rope_theta"].is_null());
    args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  }
  args.rope = rope;
  std::vector<std::string> types;
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    types.push_back(i % 4 == 3 ? "full_attention" : "linear_attention");
  }
  types = Optional<std::vector<std::string>>(config, "layer_types", types);
  if (static_cast<int>(types.size()) != args.num_hidden_layers) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's layer_types has ", types.size(),
                      " entries, not num_hidden_layers (", args.num_hidden_layers, ")."));
  }
  args.layer_types.clear();
  for (const std::string& type : types) {
    args.layer_types.push_back(type == "linear_attention" ? type : "full_attention");
  }
  CheckSizes(args);
  if (args.linear_num_key_heads <= 0 || args.linear_num_value_heads <= 0 ||
      args.linear_key_head_dim <= 0 || args.linear_value_head_dim <= 0 ||
      args.linear_conv_kernel_dim < 2 ||
      args.linear_num_value_heads % args.linear_num_key_heads != 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's linear_* sizes must be positive, linear_conv_kernel_dim 2 "
                      "or more and linear_num_value_heads (",
                      args.linear_num_value_heads, ") a multiple of linear_num_key_heads (",
                      args.linear_num_key_heads, ")."));
  }
}

// mlx-lm's plamo2 ModelArgs (PLaMo 2): every field its default where absent. Layer i is a
// Mamba mixer ("mamba" in layer_types) where mamba_enabled and i % mamba_step !=
// mamba_step / 2 (with no more layers than mamba_step / 2, all but the last), else attention
// ("attention") of num_attention_heads over num_key_value_heads heads of
// hidden_size_per_head; a mixer's mamba_num_heads heads are hidden_size_per_head wide too,
// over a state of mamba_d_state, after a conv of mamba_d_conv taps. The scan takes mlx-lm's
// 256 positions at a time (mamba_chunk_size is not read), its time steps clipped to
// ssm_update's [0.001, 100].
void ReadPlamo2(const json& config, ModelArgs& args) {
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 4096);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", true);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 4);
  args.head_dim = args.mamba_d_head = Optional<int64_t>(config, "hidden_size_per_head", 128);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 2048);
  args.mamba_d_state = Optional<int64_t>(config, "mamba_d_state", 64);
  args.mamba_d_conv = Optional<int>(config, "mamba_d_conv", 4);
  args.mamba_n_heads = Optional<int>(config, "mamba_num_heads", 64);
  const int step = Optional<int>(config, "mamba_step", 2);
  const bool enabled = Optional<bool>(config, "mamba_enabled", true);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 13312);
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 32000);
  args.time_step_limit = {0.001f, 100.0f};
  CheckSizes(args);
  if (enabled && step <= 1) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's mamba_step (", step, ") must be 2 or more."));
  }
  if (enabled && (args.mamba_n_heads <= 0 || args.mamba_d_state <= 0 || args.mamba_d_conv < 2)) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's mamba_num_heads and mamba_d_state must be positive, mamba_d_conv 2 or "
         "more.");
  }
  args.layer_types.clear();
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    const bool mamba =
        enabled && (args.num_hidden_layers <= step / 2 ? i != args.num_hidden_layers - 1
                                                       : i % step != step / 2);
    args.layer_types.push_back(mamba ? "mamba" : "attention");
  }
}

}  // namespace ferry::lm::internal
