// ModelArgs::from_json's readers for DeepSeek V2, V3 and V3.2 (Kimi K2, GLM-4.7-Flash) and the
// grouped routers of GLM-4.5 and dots.llm1: each as mlx-lm's ModelArgs reads config.json.
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/lm/model_args_internal.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

// mlx-lm's glm4_moe ModelArgs: every field required but scoring_func and topk_method (only
// sigmoid and noaux_tc are built, as mlx-lm asserts); a null n_shared_experts or
// n_routed_experts is none. Plain RoPE whatever rope_scaling says, an lm_head of its own.
void ReadGlm4Moe(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
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

// mlx-lm's solar_open (Solar Open): glm4_moe's Model under a ModelArgs of its own, which
// requires tie_word_embeddings and gives attention_bias and use_qk_norm (false), n_group and
// topk_group (1) and rope_scaling (none) defaults glm4_moe's lacks. Built as glm4_moe.
void ReadSolarOpen(const json& config, ModelArgs& args) {
  Required<bool>(config, "tie_word_embeddings");
  json merged = {
      {"attention_bias", false}, {"use_qk_norm", false}, {"n_group", 1}, {"topk_group", 1}};
  for (auto it = config.begin(); it != config.end(); ++it) merged[it.key()] = it.value();
  args.model_type = "glm4_moe";
  ReadGlm4Moe(merged, args);
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

// mlx-lm's glm_moe_dsa (GLM-5): deepseek_v32's Model under a ModelArgs that requires every
// field but rope_scaling, rope_theta and indexer_rope_interleave (true here), a null
// n_shared_experts or n_routed_experts allowed; RoPE is rope_parameters' (rope_scaling
// and rope_theta are set from it). Built as deepseek_v32.
void ReadGlmMoeDsa(const json& config, ModelArgs& args) {
  // The fields without a default (a table: clang-format would put one a line).
  // clang-format off
  static const char* const kRequired[] = {
      "vocab_size", "hidden_size", "index_head_dim", "index_n_heads", "index_topk",
      "intermediate_size", "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
      "num_key_value_heads", "n_shared_experts", "n_routed_experts", "routed_scaling_factor",
      "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim",
      "topk_method", "scoring_func", "norm_topk_prob", "n_group", "topk_group",
      "num_experts_per_tok", "moe_layer_freq", "first_k_dense_replace",
      "max_position_embeddings", "rms_norm_eps", "rope_parameters", "attention_bias"};
  // clang-format on
  for (const char* key : kRequired) {
    if (!config.contains(key)) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json lacks \"", key, "\" (glm_moe_dsa's)."));
    }
  }
  const json& parameters = config["rope_parameters"];
  if (!parameters.is_object() || !parameters.contains("rope_theta")) {
    Fail(ErrorCode::kInvalidArgument, "config.json's rope_parameters lacks \"rope_theta\".");
  }
  json merged = config;
  merged["rope_scaling"] = parameters;
  merged["rope_theta"] = Required<float>(parameters, "rope_theta");
  merged["indexer_rope_interleave"] = Optional<bool>(config, "indexer_rope_interleave", true);
  args.model_type = "deepseek_v32";
  ReadDeepseekV32(merged, args);
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

// mlx-lm's dots1 ModelArgs: every field required but head_dim (hidden / heads), n_group and
// topk_group (1), mlp_bias, rope_scaling and tie_word_embeddings. Qwen3's attention (q and k
// normalized per head, no biases whatever attention_bias says, RoPE as rope_scaling says),
// first_k_dense_replace dense layers, then DeepSeek V3's experts (grouped sigmoid routing with
// the correction bias, whatever scoring_func says) beside n_shared_experts shared ones; the
// dense MLPs and the shared experts biased when mlp_bias.
void ReadDots1(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 0);
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

// mlx-lm's longcat_flash ModelArgs: every field required but norm_topk_prob, router_bias
// (false) and rope_scaling (none). Each of num_layers layers is two latent attentions (DeepSeek
// V3's, the queries and the latent scaled where mla_scale_q_lora, mla_scale_kv_lora; mlx-lm
// reads those scales unset otherwise, so both must be true, and q_lora_rank given), two MLPs
// of ffn_hidden_size and one mixture: moe_topk of n_routed_experts experts of
// expert_ffn_hidden_size and zero_expert_num identity experts (zero_expert_type "identity"),
// chosen by softmax scores plus a correction bias.
void ReadLongcatFlash(const json& config, ModelArgs& args) {
  Required<std::string>(config, "attention_method");  // required, unread
  const std::string zero_type = Required<std::string>(config, "zero_expert_type");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "ffn_hidden_size");
  args.num_experts_per_tok = Required<int>(config, "moe_topk");
  args.moe_intermediate_size = Required<int64_t>(config, "expert_ffn_hidden_size");
  args.num_experts = Required<int>(config, "n_routed_experts");
  args.zero_experts = Required<int>(config, "zero_expert_num");
  args.num_hidden_layers = Required<int>(config, "num_layers");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = args.num_attention_heads;  // unread: the latent is one head
  args.kv_lora_rank = Required<int64_t>(config, "kv_lora_rank");
  args.q_lora_rank = Required<int64_t>(config, "q_lora_rank");
  args.qk_rope_head_dim = Required<int64_t>(config, "qk_rope_head_dim");
  args.qk_nope_head_dim = Required<int64_t>(config, "qk_nope_head_dim");
  args.v_head_dim = Required<int64_t>(config, "v_head_dim");
  args.head_dim = args.qk_nope_head_dim + args.qk_rope_head_dim;
  args.routed_scaling_factor = Required<float>(config, "routed_scaling_factor");
  args.rms_norm_eps = Required<float>(config, "rms_norm_eps");
  args.rope_theta = Required<float>(config, "rope_theta");
  const bool scale_q = Required<bool>(config, "mla_scale_q_lora");
  const bool scale_kv = Required<bool>(config, "mla_scale_kv_lora");
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", false);
  args.router_bias = Optional<bool>(config, "router_bias", false);
  args.rope_traditional = true;
  args.tie_word_embeddings = false;
  CheckSizes(args);
  if (args.kv_lora_rank <= 0 || args.q_lora_rank <= 0 || args.qk_nope_head_dim <= 0 ||
      args.qk_rope_head_dim <= 0 || args.qk_rope_head_dim % 2 != 0 || args.v_head_dim <= 0 ||
      args.num_experts <= 0 || args.zero_experts < 0 || args.moe_intermediate_size <= 0 ||
      args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts + args.zero_experts) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's kv_lora_rank, q_lora_rank, qk_nope_head_dim, v_head_dim, "
                      "an even qk_rope_head_dim, n_routed_experts (",
                      args.num_experts,
                      ") and expert_ffn_hidden_size must be positive, "
                      "zero_expert_num not negative, moe_topk (",
                      args.num_experts_per_tok, ") from 1 to all the experts."));
  }
  if (!scale_q || !scale_kv) {
    Fail(ErrorCode::kUnimplemented,
         "config.json's mla_scale_q_lora and mla_scale_kv_lora must be true: mlx-lm's "
         "longcat_flash reads the scales, which it sets only then.");
  }
  if (zero_type != "identity") {
    Fail(ErrorCode::kUnimplemented, absl::StrCat("zero_expert_type \"", zero_type,
                                                 "\" is not built by mlx-lm (identity is)."));
  }
  args.mla_q_scale = static_cast<float>(
      std::sqrt(static_cast<double>(args.hidden_size) / static_cast<double>(args.q_lora_rank)));
  args.mla_kv_scale = static_cast<float>(
      std::sqrt(static_cast<double>(args.hidden_size) / static_cast<double>(args.kv_lora_rank)));
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
}

}  // namespace ferry::lm::internal
