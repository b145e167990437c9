// ModelArgs::from_json's readers for the mixtures of experts on attention of their own (gpt-oss,
// OLMoE, ERNIE 4.5, MiniMax-M2, Bailing MoE, Hunyuan, PhiMoE, DBRX, Klear): each as mlx-lm's
// ModelArgs reads config.json.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/lm/model_args_internal.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::internal {

namespace {

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

}  // namespace

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

// mlx-lm's ernie4_5 and ernie4_5_moe ModelArgs: every size required, use_bias (every
// projection's and MLP's) and tie_word_embeddings too; head_dim hidden_size / heads when
// absent or null. Traditional RoPE, plain whatever rope_scaling says. ernie4_5_moe's experts
// (moe_num_experts, moe_k per token, moe_intermediate_size wide or intermediate_size where
// it is 0, moe_num_shared_experts of that width beside them, routed by moe_gate_act "softmax"
// or "sigmoid") are every moe_layer_interval-th layer's from moe_layer_start_index to
// moe_layer_end_index (the least of a list of starts, the most of a list of ends); the other
// layers are dense (mlp_only_layers).
void ReadErnie45(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
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
  ReadLlamaSizes(config, args, /*kv_required=*/false);
  args.num_experts = Required<int>(config, "num_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", false);
  args.head_dim = Optional<int64_t>(config, "head_dim", 0);
  if (args.head_dim == 0 && args.num_attention_heads > 0) {
    args.head_dim = args.hidden_size / args.num_attention_heads;
  }
  args.max_position_embeddings =
      Optional<int64_t>(config, "max_position_embeddings", args.max_position_embeddings);
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

// mlx-lm's minimax ModelArgs: the sizes, the experts and rotary_dim required, the rest its
// defaults. q and k normalized over the whole projections (use_qk_norm), plain RoPE over the
// first rotary_dim features of each head whatever rope_scaling says, every layer's experts
// intermediate_size wide (shared_intermediate_size unread, as mlx-lm's), routed by sigmoid
// scores whatever scoring_func says.
void ReadMinimax(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.num_experts = Required<int>(config, "num_local_experts");
  Required<int64_t>(config, "shared_intermediate_size");
  args.rope_theta = Required<float>(config, "rope_theta");
  const int64_t rotary_dim = Required<int64_t>(config, "rotary_dim");
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

// mlx-lm's bailing_moe ModelArgs: the sizes and the experts required, the rest its defaults
// (n_group 1, topk_group 4 unread then; routed_scaling_factor 1, applied whatever
// moe_router_enable_routed_scaling says, as mlx-lm's). head_dim is hidden_size / heads;
// RoPE over rotary_dim (else head_dim * partial_rotary_factor) features as rope_scaling says.
// The shared experts are num_shared_experts of moe_shared_expert_intermediate_size (else
// moe_intermediate_size), none unless moe_router_enable_shared_expert.
void ReadBailingMoe(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.num_experts = Required<int>(config, "num_experts");
  args.n_shared_experts = Required<int>(config, "num_shared_experts");
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.rope_theta = Required<float>(config, "rope_theta");
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

// mlx-lm's phimoe ModelArgs: every field has a default (Phi-3.5-MoE's). q, k, v and o biased,
// LayerNorms of eps rms_norm_eps, lm_head its own (biased). rope_scaling null is plain RoPE;
// otherwise SuScaledRoPE, which needs short_factor, long_factor, short_mscale and long_mscale
// (mlx-lm reads all four; long_mscale, where not 0, scales the rotated features).
void ReadPhimoe(const json& config, ModelArgs& args) {
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 32064);
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 4096);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 6400);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 8);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.num_experts = Optional<int>(config, "num_local_experts", 16);
  args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 2);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.router_jitter_noise = Optional<float>(config, "router_jitter_noise", 0.01f);
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.attention_bias = args.output_bias = true;
  args.layer_norm = args.layer_norm_bias = true;
  args.tie_word_embeddings = false;
  args.moe_intermediate_size = args.intermediate_size;
  CheckSizes(args);
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts_per_tok (", args.num_experts_per_tok,
                      ") must be from 1 to num_local_experts (", args.num_experts, ")."));
  }
  if (!config.contains("rope_scaling") || config["rope_scaling"].is_null()) return;
  const json& scaling = config["rope_scaling"];
  for (const char* key : {"short_factor", "long_factor", "short_mscale", "long_mscale"}) {
    if (!scaling.is_object() || !scaling.contains(key)) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's rope_scaling lacks \"", key, "\" (PhiMoE's SuScaledRoPE)."));
    }
  }
  const int64_t pairs = args.head_dim / 2;
  args.rope_type = "longrope";
  args.rope_long_factor =
      scaling["long_factor"].is_array()
          ? Required<std::vector<float>>(scaling, "long_factor")
          : std::vector<float>(static_cast<size_t>(pairs), Required<float>(scaling, "long_factor"));
  if (static_cast<int64_t>(args.rope_long_factor.size()) != pairs) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's rope_scaling long_factor has ", args.rope_long_factor.size(),
                      " numbers, not one per rotated pair (", pairs, ")."));
  }
  args.rope_scaling["original_max_position_embeddings"] =
      static_cast<double>(Optional<int64_t>(config, "original_max_position_embeddings", 4096));
  args.rope_scaling["long_mscale"] = Optional<double>(scaling, "long_mscale", 0.0);
}

// mlx-lm's dbrx ModelArgs: every field required, ffn_config's ffn_hidden_size,
// moe_num_experts and moe_top_k and attn_config's kv_n_heads, clip_qkv and rope_theta too.
// head_dim d_model / n_heads; LayerNorms without bias of eps 1e-5; plain RoPE; lm_head its own.
void ReadDbrx(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "d_model");
  args.num_hidden_layers = Required<int>(config, "n_layers");
  args.num_attention_heads = Required<int>(config, "n_heads");
  for (const char* key : {"ffn_config", "attn_config"}) {
    if (!config.contains(key) || !config[key].is_object()) {
      Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json lacks \"", key, "\"."));
    }
  }
  const json& ffn = config["ffn_config"];
  const json& attn = config["attn_config"];
  args.intermediate_size = Required<int64_t>(ffn, "ffn_hidden_size");
  args.num_experts = Required<int>(ffn, "moe_num_experts");
  args.num_experts_per_tok = Required<int>(ffn, "moe_top_k");
  args.num_key_value_heads = Required<int>(attn, "kv_n_heads");
  args.clip_qkv = Required<float>(attn, "clip_qkv");
  args.rope_theta = Required<float>(attn, "rope_theta");
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.rms_norm_eps = 1e-5f;
  args.tie_word_embeddings = false;
  args.moe_intermediate_size = args.intermediate_size;
  CheckSizes(args);
  if (args.head_dim * args.num_attention_heads != args.hidden_size) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's d_model (", args.hidden_size,
                      ") must be a multiple of n_heads (", args.num_attention_heads,
                      "): DBRX splits its fused Wqkv at d_model."));
  }
  if (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
      args.num_experts_per_tok > args.num_experts) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's ffn_config moe_top_k (", args.num_experts_per_tok,
                      ") must be from 1 to moe_num_experts (", args.num_experts, ")."));
  }
}

// mlx-lm's Klear ModelArgs (model_type "Klear", its module's name): every field required.
// Qwen3's attention (q and k normalized per head; head_dim hidden_size / heads; q, k, v and
// o biased where attention_bias; plain RoPE whatever rope_scaling says); layer i sparse
// unless in mlp_only_layers or off decoder_sparse_step: sigmoid scores ranked with
// expert_bias, n_shared_experts * moe_intermediate_size of shared MLP beside, an lm_head of
// its own.
void ReadKlear(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.attention_bias = args.output_bias = Required<bool>(config, "attention_bias");
  args.mlp_only_layers = Required<std::vector<int>>(config, "mlp_only_layers");
  args.num_experts = Required<int>(config, "num_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.decoder_sparse_step = Required<int>(config, "decoder_sparse_step");
  args.n_shared_experts = Required<int>(config, "n_shared_experts");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
  if (args.num_attention_heads > 0) args.head_dim = args.hidden_size / args.num_attention_heads;
  args.qk_norm = true;
  args.tie_word_embeddings = false;
  CheckSizes(args);
  if (args.num_experts < 0 || args.decoder_sparse_step <= 0 || args.n_shared_experts <= 0 ||
      args.moe_intermediate_size <= 0 ||
      (args.num_experts > 0 &&
       (args.num_experts_per_tok <= 0 || args.num_experts_per_tok > args.num_experts))) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts (", args.num_experts, "), num_experts_per_tok (",
                      args.num_experts_per_tok,
                      "), decoder_sparse_step, n_shared_experts and moe_intermediate_size must "
                      "be positive, and num_experts_per_tok at most num_experts."));
  }
}

}  // namespace ferry::lm::internal
