// ModelArgs::from_json's readers for the mixtures of experts on attention of their own (gpt-oss,
// OLMoE, ERNIE 4.5, MiniMax-M2, Bailing MoE, Hunyuan, PhiMoE, DBRX, Klear): each as mlx-lm's
// ModelArgs reads config.json.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
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

// mlx-lm's mimo_v2_flash ModelArgs: every field required but attention_value_scale
// (n_shared_experts and routed_scaling_factor given, null for none and 1). Layer i slides
// where hybrid_layer_pattern[i] is 1 (its own heads, head sizes, RoPE base
// swa_rope_theta and window sliding_window_size) and is a mixture where moe_layer_freq[i] is
// 1; mlx-lm finds one layer of each attention, so both must be in the pattern. Plain RoPE
// over int(partial_rotary_factor * head size) features, whatever rope_scaling says.
void ReadMimoV2Flash(const json& config, ModelArgs& args) {
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_key_value_heads");
  args.num_swa_attention_heads = Required<int>(config, "swa_num_attention_heads");
  args.num_swa_key_value_heads = Required<int>(config, "swa_num_key_value_heads");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.v_head_dim = Required<int64_t>(config, "v_head_dim");
  args.swa_head_dim = Required<int64_t>(config, "swa_head_dim");
  args.swa_v_head_dim = Required<int64_t>(config, "swa_v_head_dim");
  args.partial_rotary_factor = Required<float>(config, "partial_rotary_factor");
  args.rope_theta = Required<float>(config, "rope_theta");
  args.rope_local_base_freq = Required<float>(config, "swa_rope_theta");
  args.rms_norm_eps = Required<float>(config, "layernorm_epsilon");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.sliding_window = Required<int64_t>(config, "sliding_window_size");
  args.swa_sinks = Required<bool>(config, "add_swa_attention_sink_bias");
  args.full_sinks = Required<bool>(config, "add_full_attention_sink_bias");
  if (config.contains("attention_value_scale") && !config["attention_value_scale"].is_null()) {
    args.attention_value_scale = Required<float>(config, "attention_value_scale");
  }
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  for (const char* key : {"n_shared_experts", "n_routed_experts", "routed_scaling_factor"}) {
    if (!config.contains(key)) {
      Fail(ErrorCode::kInvalidArgument, absl::StrCat("config.json lacks \"", key, "\"."));
    }
  }
  args.n_shared_experts = Optional<int>(config, "n_shared_experts", 0);
  args.routed_scaling_factor = Optional<float>(config, "routed_scaling_factor", 1.0f);
  args.topk_method = Required<std::string>(config, "topk_method");
  Required<std::string>(config, "scoring_func");  // required, unread: the router's sigmoid
  args.norm_topk_prob = Required<bool>(config, "norm_topk_prob");
  args.n_group = Required<int>(config, "n_group");
  args.topk_group = Required<int>(config, "topk_group");
  const auto pattern = Required<std::vector<int>>(config, "hybrid_layer_pattern");
  const auto moe = Required<std::vector<int>>(config, "moe_layer_freq");
  args.tie_word_embeddings = false;
  CheckSizes(args);
  if (static_cast<int>(pattern.size()) < args.num_hidden_layers ||
      static_cast<int>(moe.size()) < args.num_hidden_layers ||
      std::find(pattern.begin(), pattern.end(), 1) == pattern.end() ||
      std::find(pattern.begin(), pattern.end(), 0) == pattern.end()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's hybrid_layer_pattern and moe_layer_freq need an entry per "
                      "layer (",
                      args.num_hidden_layers,
                      "), and the pattern a 1 (sliding) and a 0 (full): mlx-lm finds both."));
  }
  bool sparse = false;
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    args.layer_types.push_back(pattern[i] == 1 ? "sliding_attention" : "full_attention");
    if (moe[i] == 1) {
      sparse = true;
    } else {
      args.mlp_only_layers.push_back(i);
    }
  }
  if (args.num_swa_attention_heads <= 0 || args.num_swa_key_value_heads <= 0 ||
      args.num_swa_attention_heads % args.num_swa_key_value_heads != 0 || args.v_head_dim <= 0 ||
      args.swa_head_dim <= 0 || args.swa_v_head_dim <= 0 || args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's swa_num_attention_heads (", args.num_swa_attention_heads,
                      ") must be a multiple of swa_num_key_value_heads (",
                      args.num_swa_key_value_heads,
                      "), and v_head_dim, swa_head_dim, swa_v_head_dim and sliding_window_size "
                      "positive."));
  }
  if (sparse) {
    args.num_experts = Required<int>(config, "n_routed_experts");
    if (args.topk_method != "noaux_tc") {
      Fail(ErrorCode::kUnimplemented, absl::StrCat("topk_method \"", args.topk_method,
                                                   "\" is not built by mlx-lm (noaux_tc is)."));
    }
    CheckGroupedRouting(args, 2);
  }
}

// mlx-lm's laguna ModelArgs, every field with its default. layer_types (all
// "full_attention" when omitted; one at least, as mlx-lm finds one) say which layers slide
// over sliding_window; mlp_layer_types ("dense" then "sparse" when omitted) which are
// mixtures; num_attention_heads_per_layer each layer's query heads. rope_parameters is
// {layer type: its RoPE}: rope_theta (10000), partial_rotary_factor (the top-level one, else
// 1) and initialize_rope's scaling, default, linear, llama3 or yarn.
void ReadLaguna(const json& config, ModelArgs& args) {
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 100352);
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 2048);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 8192);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 40);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 48);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 8);
  args.head_dim = Optional<int64_t>(config, "head_dim", 128);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 262144);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-6f);
  args.output_bias = Optional<bool>(config, "attention_bias", false);
  args.attention_bias = Optional<bool>(config, "qkv_bias", false);
  args.attention_gating = Optional<bool>(config, "gating", true);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.num_experts = Optional<int>(config, "num_experts", 256);
  args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 8);
  args.moe_intermediate_size = Optional<int64_t>(config, "moe_intermediate_size", 512);
  args.shared_expert_intermediate_size =
      Optional<int64_t>(config, "shared_expert_intermediate_size", 512);
  args.routed_scaling_factor = Optional<float>(config, "moe_routed_scaling_factor", 1.0f);
  args.router_softcap = Optional<float>(config, "moe_router_logit_softcapping", 0.0f);
  args.router_score_func = Optional<std::string>(config, "moe_router_score_func", "sigmoid");
  args.qk_norm = true;
  CheckSizes(args);
  ReadLayerTypes(config, args, /*full_every=*/1, /*full_at=*/0);
  if (std::find(args.layer_types.begin(), args.layer_types.end(), "full_attention") ==
      args.layer_types.end()) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's layer_types has no \"full_attention\" layer, which mlx-lm's laguna "
         "finds.");
  }
  const bool slides = std::find(args.layer_types.begin(), args.layer_types.end(),
                                "sliding_attention") != args.layer_types.end();
  if (slides) {
    args.sliding_window = Optional<int64_t>(config, "sliding_window", 512);
    if (args.sliding_window <= 0) {
      Fail(ErrorCode::kInvalidArgument,
           "config.json's sliding_window must be positive where a layer slides.");
    }
  }
  args.heads_per_layer = Optional<std::vector<int>>(
      config, "num_attention_heads_per_layer",
      std::vector<int>(static_cast<size_t>(args.num_hidden_layers), args.num_attention_heads));
  std::vector<std::string> mlp_types(1, "dense");
  mlp_types.resize(static_cast<size_t>(args.num_hidden_layers), "sparse");
  mlp_types = Optional<std::vector<std::string>>(config, "mlp_layer_types", mlp_types);
  if (static_cast<int>(args.heads_per_layer.size()) < args.num_hidden_layers ||
      static_cast<int>(mlp_types.size()) < args.num_hidden_layers) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_attention_heads_per_layer and mlp_layer_types need an "
                      "entry per layer (",
                      args.num_hidden_layers, ")."));
  }
  bool sparse = false;
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    if (args.heads_per_layer[i] <= 0 || args.heads_per_layer[i] % args.num_key_value_heads != 0) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's num_attention_heads_per_layer[", i, "] (",
                        args.heads_per_layer[i], ") must be a multiple of num_key_value_heads."));
    }
    if (mlp_types[i] == "sparse") {
      sparse = true;
    } else {
      args.mlp_only_layers.push_back(i);
    }
  }
  if (args.router_score_func != "sigmoid" && args.router_score_func != "sqrtsoftplus") {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's moe_router_score_func \"", args.router_score_func,
                      "\" is not sigmoid or sqrtsoftplus."));
  }
  if (sparse && (args.num_experts <= 0 || args.num_experts_per_tok <= 0 ||
                 args.num_experts_per_tok > args.num_experts || args.moe_intermediate_size <= 0 ||
                 args.shared_expert_intermediate_size <= 0)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's num_experts (", args.num_experts, "), num_experts_per_tok (",
                      args.num_experts_per_tok,
                      "), moe_intermediate_size and shared_expert_intermediate_size must be "
                      "positive, and num_experts_per_tok at most num_experts."));
  }
  // Each layer type's RoPE: a sub-dict of rope_parameters, or none (10000, plain).
  const float partial = Optional<float>(config, "partial_rotary_factor", 1.0f);
  const json none = json::object();
  const json& ropes = config.contains("rope_parameters") && config["rope_parameters"].is_object()
                          ? config["rope_parameters"]
                          : none;
  for (const char* type : {"full_attention", "sliding_attention"}) {
    const json& rope = ropes.contains(type) && ropes[type].is_object() ? ropes[type] : none;
    ModelArgs read;
    ReadRopeScaling(rope, read, /*yarn=*/true);
    read.rope_scaling.erase("rope_theta");
    read.rope_scaling.erase("partial_rotary_factor");
    const float theta = Optional<float>(rope, "rope_theta", 10000.0f);
    const float factor = Optional<float>(rope, "partial_rotary_factor", partial);
    if (std::string(type) == "full_attention") {
      args.rope_theta = theta;
      args.rope_type = read.rope_type;
      args.rope_scaling = read.rope_scaling;
      args.partial_rotary_factor = factor;
    } else {
      args.rope_local_base_freq = theta;
      args.rope_local_type = read.rope_type;
      args.rope_local_scaling = read.rope_scaling;
      args.local_partial_rotary_factor = factor;
    }
  }
}

// mlx-lm's exaone_moe ModelArgs: the sizes, head_dim, the experts (num_experts,
// num_experts_per_tok, num_shared_experts, moe_intermediate_size), max_position_embeddings,
// sliding_window, layer_types and is_moe_layer required; the rest its defaults (rope_theta
// 1e6, or rope_parameters' rope_theta). EXAONE 4's attention: q/k norms per head, RoPE only in
// the sliding layers where any slides (else in every layer); DeepSeek V3's grouped sigmoid
// router (topk_method noaux_tc only) and shared experts in the layers is_moe_layer marks.
void ReadExaoneMoe(const json& config, ModelArgs& args) {
  ReadLlamaSizes(config, args, /*kv_required=*/true);
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.moe_intermediate_size = Required<int64_t>(config, "moe_intermediate_size");
  args.num_experts = Required<int>(config, "num_experts");
  args.num_experts_per_tok = Required<int>(config, "num_experts_per_tok");
  args.n_shared_experts = Required<int>(config, "num_shared_experts");
  args.max_position_embeddings = Required<int64_t>(config, "max_position_embeddings");
  args.sliding_window = Required<int64_t>(config, "sliding_window");
  Required<std::vector<std::string>>(config, "layer_types");
  const std::vector<bool> moe = Required<std::vector<bool>>(config, "is_moe_layer");
  args.n_group = Optional<int>(config, "n_group", 1);
  args.topk_group = Optional<int>(config, "topk_group", 1);
  args.routed_scaling_factor = Optional<float>(config, "routed_scaling_factor", 2.5f);
  args.norm_topk_prob = Optional<bool>(config, "norm_topk_prob", true);
  args.topk_method = Optional<std::string>(config, "topk_method", "noaux_tc");
  args.rope_theta = Optional<float>(config, "rope_theta", 1000000.0f);
  if (config.contains("rope_parameters") && config["rope_parameters"].is_object()) {
    args.rope_theta = Optional<float>(config["rope_parameters"], "rope_theta", args.rope_theta);
  }
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
  ReadLayerTypes(config, args, 1, 0);
  if (args.topk_method != "noaux_tc") {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's topk_method is \"", args.topk_method,
                      "\": mlx-lm's exaone_moe builds noaux_tc only."));
  }
  if (static_cast<int>(moe.size()) != args.num_hidden_layers) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's is_moe_layer has ", moe.size(),
                      " entries, not num_hidden_layers (", args.num_hidden_layers, ")."));
  }
  CheckGroupedRouting(args, 2);
  const bool any_sliding = std::find(args.layer_types.begin(), args.layer_types.end(),
                                     "sliding_attention") != args.layer_types.end();
  if (any_sliding && args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    const bool sliding = args.layer_types[static_cast<size_t>(i)] == "sliding_attention";
    args.no_rope_layers.push_back(!any_sliding || sliding ? 1 : 0);
    if (!moe[static_cast<size_t>(i)]) args.mlp_only_layers.push_back(i);
  }
  args.qk_norm = true;
}

// mlx-lm's afmoe ModelArgs: layer_types required (one full_attention layer at least, as
// mlx-lm finds its mask's layer), every other field its default. q/k norms per head, RoPE in
// the sliding layers only, a sigmoid gate of the attention's output (gate_proj); the first
// num_dense_layers dense, the others num_experts experts routed by sigmoid (score_func, else
// softmax) scores plus expert_bias, in n_group groups, renormalized where route_norm, times
// route_scale, beside num_shared_experts shared ones; the embeddings times
// sqrt(hidden_size) where mup_enabled; norms after attention and the MLP too.
void ReadAfmoe(const json& config, ModelArgs& args) {
  Required<std::vector<std::string>>(config, "layer_types");
  args.vocab_size = Optional<int64_t>(config, "vocab_size", 200192);
  args.hidden_size = Optional<int64_t>(config, "hidden_size", 2048);
  args.intermediate_size = Optional<int64_t>(config, "intermediate_size", 6144);
  args.moe_intermediate_size = Optional<int64_t>(config, "moe_intermediate_size", 1024);
  args.num_hidden_layers = Optional<int>(config, "num_hidden_layers", 32);
  args.num_attention_heads = Optional<int>(config, "num_attention_heads", 32);
  args.num_key_value_heads = Optional<int>(config, "num_key_value_heads", 4);
  args.head_dim = Optional<int64_t>(config, "head_dim", 64);
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 131072);
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-5f);
  args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  args.tie_word_embeddings = Optional<bool>(config, "tie_word_embeddings", false);
  args.num_experts = Optional<int>(config, "num_experts", 128);
  args.num_experts_per_tok = Optional<int>(config, "num_experts_per_tok", 8);
  args.n_shared_experts = Optional<int>(config, "num_shared_experts", 1);
  args.first_k_dense_replace = Optional<int>(config, "num_dense_layers", 2);
  args.norm_topk_prob = Optional<bool>(config, "route_norm", true);
  args.routed_scaling_factor = Optional<float>(config, "route_scale", 2.826f);
  args.sigmoid_router = Optional<std::string>(config, "score_func", "sigmoid") == "sigmoid";
  args.n_group = Optional<int>(config, "n_group", 1);
  args.topk_group = Optional<int>(config, "topk_group", 1);
  args.sliding_window = Optional<int64_t>(config, "sliding_window", 2048);
  if (Optional<bool>(config, "mup_enabled", true)) {
    args.embedding_multiplier =
        static_cast<float>(std::sqrt(static_cast<double>(args.hidden_size)));
  }
  args.qk_norm = true;
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
  ReadLayerTypes(config, args, 1, 0);
  if (std::find(args.layer_types.begin(), args.layer_types.end(), "full_attention") ==
      args.layer_types.end()) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's layer_types holds no full_attention layer, which mlx-lm's afmoe takes "
         "its mask from.");
  }
  if (args.n_shared_experts < 0 || args.first_k_dense_replace < 0) {
    Fail(ErrorCode::kInvalidArgument,
         "config.json's num_shared_experts and num_dense_layers must not be negative.");
  }
  if (args.first_k_dense_replace < args.num_hidden_layers) CheckGroupedRouting(args, 2);
  for (const std::string& type : args.layer_types) {
    args.no_rope_layers.push_back(type == "sliding_attention" ? 1 : 0);
  }
  if (args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
  }
}

namespace {

// Step-3.5's per-layer limits: a list of numbers or nulls (0: not clamped), or none.
std::vector<float> Limits(const json& config, const char* key) {
  std::vector<float> limits;
  if (!config.contains(key) || config[key].is_null()) return limits;
  if (!config[key].is_array()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("config.json's \"", key, "\" is ", config[key].dump(), ", not a list."));
  }
  for (const json& limit : config[key]) {
    if (!limit.is_null() && !limit.is_number()) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's \"", key, "\" holds ", limit.dump(), ", not a number."));
    }
    limits.push_back(limit.is_null() ? 0.0f : limit.get<float>());
  }
  return limits;
}

}  // namespace

// mlx-lm's step3p5 ModelArgs: hidden_size, num_hidden_layers, vocab_size,
// num_attention_heads, num_attention_groups (the key/value heads), head_dim and
// intermediate_size required, the rest its defaults. layer_types, where omitted, slide in the
// even layers; the sliding layers' heads attention_other_setting's where given. rope_theta a
// number or one per layer; partial_rotary_factors each layer's rotated fraction (1 past the
// list); rope_scaling only in the layers of yarn_only_types where given. The layers of
// moe_layers_enum ("1,2,..."; none: all but the first) hold moe_num_experts experts
// (moe_top_k of them by sigmoid scores plus router_bias, renormalized where
// norm_expert_weight, times moe_router_scaling_factor) beside a shared MLP share_expert_dim
// wide, the others an MLP intermediate_size wide; the SwiGLUs clamped per swiglu_limits (the
// experts') and swiglu_limits_shared (the shared and the dense MLPs').
void ReadStep3p5(const json& config, ModelArgs& args) {
  args.hidden_size = Required<int64_t>(config, "hidden_size");
  args.num_hidden_layers = Required<int>(config, "num_hidden_layers");
  args.vocab_size = Required<int64_t>(config, "vocab_size");
  args.num_attention_heads = Required<int>(config, "num_attention_heads");
  args.num_key_value_heads = Required<int>(config, "num_attention_groups");
  args.head_dim = Required<int64_t>(config, "head_dim");
  args.intermediate_size = Required<int64_t>(config, "intermediate_size");
  args.rms_norm_eps = Optional<float>(config, "rms_norm_eps", 1e-5f);
  if (config.contains("rope_theta") && config["rope_theta"].is_array()) {
    args.layer_rope_thetas = Required<std::vector<float>>(config, "rope_theta");
    if (static_cast<int>(args.layer_rope_thetas.size()) < args.num_hidden_layers) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's rope_theta has ", args.layer_rope_thetas.size(),
                        " entries, fewer than num_hidden_layers (", args.num_hidden_layers, ")."));
    }
  } else {
    args.rope_theta = Optional<float>(config, "rope_theta", 10000.0f);
  }
  args.max_position_embeddings = Optional<int64_t>(config, "max_position_embeddings", 262144);
  args.sliding_window = Optional<int64_t>(config, "sliding_window", 512);
  args.yarn_only_types =
      Optional<std::vector<std::string>>(config, "yarn_only_types", std::vector<std::string>{});
  args.partial_rotary_factors =
      Optional<std::vector<float>>(config, "partial_rotary_factors", std::vector<float>{});
  args.head_wise_attn_gate = Optional<bool>(config, "use_head_wise_attn_gate", true);
  args.num_experts = Optional<int>(config, "moe_num_experts", 288);
  args.num_experts_per_tok = Optional<int>(config, "moe_top_k", 8);
  args.moe_intermediate_size = Optional<int64_t>(config, "moe_intermediate_size", 1280);
  args.shared_expert_intermediate_size = Optional<int64_t>(config, "share_expert_dim", 1280);
  args.routed_scaling_factor = Optional<float>(config, "moe_router_scaling_factor", 3.0f);
  args.norm_topk_prob = Optional<bool>(config, "norm_expert_weight", true);
  args.swiglu_limits = Limits(config, "swiglu_limits");
  args.swiglu_limits_shared = Limits(config, "swiglu_limits_shared");
  args.tie_word_embeddings = false;  // mlx-lm's Step-3.5 always has its lm_head
  args.qk_norm = true;
  CheckSizes(args);
  ReadRopeScaling(RopeScalingOf(config), args, /*yarn=*/true);
  const bool typed = config.contains("layer_types") && !config["layer_types"].is_null();
  ReadLayerTypes(config, args, 2, 1);
  // Without layer_types mlx-lm takes every layer as "full_attention" for yarn_only_types.
  if (!typed && !args.yarn_only_types.empty()) {
    const std::vector<std::string>& yarn = args.yarn_only_types;
    if (std::find(yarn.begin(), yarn.end(), "full_attention") == yarn.end()) {
      args.rope_type = "default";
      args.rope_scaling.clear();
    }
    args.yarn_only_types.clear();
  }
  if (config.contains("attention_other_setting") && config["attention_other_setting"].is_object() &&
      !config["attention_other_setting"].empty()) {
    const json& other = config["attention_other_setting"];
    args.num_swa_attention_heads = Required<int>(other, "num_attention_heads");
    args.num_swa_key_value_heads = Required<int>(other, "num_attention_groups");
    if (args.num_swa_attention_heads <= 0 || args.num_swa_key_value_heads <= 0 ||
        args.num_swa_attention_heads % args.num_swa_key_value_heads != 0) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's attention_other_setting num_attention_heads (",
                        args.num_swa_attention_heads,
                        ") must be a positive multiple of its num_attention_groups (",
                        args.num_swa_key_value_heads, ")."));
    }
  }
  for (size_t i = 0; i < args.partial_rotary_factors.size(); ++i) {
    const int64_t dims = static_cast<int64_t>(static_cast<double>(args.head_dim) *
                                              static_cast<double>(args.partial_rotary_factors[i]));
    if (dims <= 0 || dims > args.head_dim || dims % 2 != 0) {
      Fail(ErrorCode::kInvalidArgument,
           absl::StrCat("config.json's partial_rotary_factors[", i, "] (",
                        args.partial_rotary_factors[i],
                        ") must rotate an even number of head_dim's features, at least 2."));
    }
  }
  std::vector<bool> moe(static_cast<size_t>(args.num_hidden_layers), true);
  moe[0] = false;
  if (config.contains("moe_layers_enum") && !config["moe_layers_enum"].is_null()) {
    const std::string layers = Required<std::string>(config, "moe_layers_enum");
    std::fill(moe.begin(), moe.end(), false);
    for (absl::string_view part : absl::StrSplit(layers, ',')) {
      int layer = 0;
      if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &layer)) {
        Fail(ErrorCode::kInvalidArgument,
             absl::StrCat("config.json's moe_layers_enum is \"", layers,
                          "\", not layer numbers joined by commas."));
      }
      if (layer >= 0 && layer < args.num_hidden_layers) moe[static_cast<size_t>(layer)] = true;
    }
  }
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    if (!moe[static_cast<size_t>(i)]) args.mlp_only_layers.push_back(i);
  }
  if (static_cast<int>(args.mlp_only_layers.size()) < args.num_hidden_layers) {
    CheckGroupedRouting(args, 1);
  }
  if (args.sliding_window <= 0) {
    Fail(ErrorCode::kInvalidArgument, "config.json's sliding_window must be positive.");
  }
}

}  // namespace ferry::lm::internal
