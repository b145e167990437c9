#include "client/lm/deepseek_v3.h"

#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/error.h"
#include "client/fast.h"
#include "client/lm/attention.h"
#include "client/lm/deepseek_v2.h"
#include "client/lm/deepseek_v32.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/mistral4.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

// a[..., start:stop, :]: groups (or heads' rows) along the second-to-last axis.
Array SliceRows(const Array& a, int64_t start, int64_t stop) {
  Shape begin(a.ndim(), 0), end = a.shape();
  begin[a.ndim() - 2] = start;
  end[a.ndim() - 2] = stop;
  return slice(a, begin, end);
}

// V3.2's and GLM-4.7-Flash's multi-token prediction layers: "model.layers.N..." for N from
// num_hidden_layers on.
bool BeyondLayers(const std::string& name, const ModelArgs& args) {
  const std::string prefix = "model.layers.";
  if ((args.model_type != "deepseek_v32" && args.model_type != "glm4_moe_lite") ||
      !absl::StartsWith(name, prefix)) {
    return false;
  }
  const size_t end = name.find('.', prefix.size());
  int layer = 0;
  return absl::SimpleAtoi(name.substr(prefix.size(), end - prefix.size()), &layer) &&
         layer >= args.num_hidden_layers;
}

}  // namespace

DeepseekV3Attention::DeepseekV3Attention(const ModelArgs& args)
    : MlaProjections(args),
      embed_q_(register_module("embed_q", MultiLinear(nope_dims_, kv_lora_rank_, heads_))),
      unembed_out_(
          register_module("unembed_out", MultiLinear(kv_lora_rank_, v_head_dim_, heads_))) {
  if (args.model_type == "deepseek_v32") {
    indexer_ = &register_module("indexer", DeepseekV32Indexer(args));
  }
}

Array DeepseekV3Attention::operator()(const Array& x, const std::optional<Array>& mask,
                                      KVCache* layer_cache, const std::optional<Array>& position) {
  KVCache* cache = layer_cache;
  KVCache* indexer_cache = nullptr;
  if (indexer_) std::tie(cache, indexer_cache) = deepseek_v32_caches(layer_cache);
  const Projected p = Project(x, cache, position);
  // (B, 1, L, kv_lora_rank): one latent "head" that every query head reads.
  Array latent = expand_dims(p.latent, 1);
  Array k_pe = p.k_pe;
  refuse_quantized_cache(cache, "deepseek_v3's latent attention");
  if (cache) std::tie(latent, k_pe) = cache->update_and_fetch(latent, k_pe, *position);
  std::optional<Array> shown = mask;
  if (indexer_) {
    if (const std::optional<Array> top = (*indexer_)(x, *p.qr, mask, indexer_cache, position)) {
      SelectedKeys selected = select_top_keys(latent, k_pe, mask, *top);
      latent = std::move(selected.latent);
      k_pe = std::move(selected.k_pe);
      shown = std::move(selected.mask);
    }
  }
  Array pe_scores = matmul(p.q_pe * scale_, swapaxes(k_pe, -1, -2));
  // mx.finfo(dtype).min where the mask hides a score, as mlx-lm writes (finite, so that
  // adding the latent's score to it stays a number).
  if (shown) pe_scores = where(*shown, pe_scores, -finfo_max(pe_scores.dtype()));
  if (x.shape(1) == 1) {
    const Array latent_out = fast::scaled_dot_product_attention(
        embed_q_(p.q_nope, /*transpose=*/true), latent, latent, scale_, "", pe_scores);
    return Output(unembed_out_(latent_out, /*transpose=*/true));
  }
  const Array keys = embed_q_(latent, /*transpose=*/false);
  const Array values = unembed_out_(latent, /*transpose=*/true);
  return Output(fast::scaled_dot_product_attention(p.q_nope, keys, values, scale_, "", pe_scores));
}

std::pair<Array, Array> group_expert_select(const Array& gates, const Array& bias, int top_k,
                                            int n_group, int topk_group,
                                            float routed_scaling_factor, bool norm_topk_prob) {
  return select_grouped_experts(sigmoid(astype(gates, float32)), bias, top_k, n_group, topk_group,
                                routed_scaling_factor, norm_topk_prob);
}

std::pair<Array, Array> select_grouped_experts(const Array& original, const Array& bias, int top_k,
                                               int n_group, int topk_group,
                                               float routed_scaling_factor, bool norm_topk_prob,
                                               float epsilon) {
  Array scores = original + astype(bias, original.dtype());
  if (n_group > 1) {
    Shape grouped = scores.shape();
    grouped.back() = n_group;
    grouped.push_back(scores.shape(-1) / n_group);
    scores = reshape(scores, grouped);
    // A group's score: the sum of its best two.
    scores = flatten(
        zero_weakest_groups(scores, sum(topk(scores, 2, -1), -1, /*keepdims=*/true), topk_group),
        -2, -1);
  }
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-scores, top_k - 1, -1), 0, top_k));
  Array weights = take_along_axis(original, indices, -1);
  if (top_k > 1 && norm_topk_prob) {
    Array denominator = sum(weights, -1, /*keepdims=*/true);
    if (epsilon != 0) denominator = denominator + epsilon;
    weights = weights / denominator;
  }
  return {indices, weights * routed_scaling_factor};
}

Array zero_weakest_groups(const Array& grouped, const Array& group_scores, int topk_group) {
  const int dropped = static_cast<int>(grouped.shape(-2)) - topk_group;
  if (dropped <= 0) return grouped;
  const Array weakest = SliceRows(argpartition(group_scores, dropped - 1, -2), 0, dropped);
  Shape rows = weakest.shape();
  rows.back() = grouped.shape(-1);
  return put_along_axis(grouped, stop_gradient(broadcast_to(weakest, rows)), 0.0f, -2);
}

DeepseekV3Gate::DeepseekV3Gate(const ModelArgs& args)
    : v2_(args.model_type == "deepseek_v2"),
      top_k_(args.num_experts_per_tok),
      n_group_(args.n_group),
      topk_group_(args.topk_group),
      routed_scaling_factor_(args.routed_scaling_factor),
      norm_topk_prob_(args.norm_topk_prob),
      group_limited_(args.topk_method == "group_limited_greedy"),
      // GLM-4.7-Flash's, MiMo-V2-Flash's and EXAONE MoE's add 1e-20 to the weights' sum.
      epsilon_(args.model_type == "glm4_moe_lite" || args.model_type == "mimo_v2_flash" ||
                       args.model_type == "exaone_moe"
                   ? 1e-20f
                   : 0.0f) {
  register_parameter("weight", zeros({args.num_experts, args.hidden_size}));
  if (!v2_) register_parameter("e_score_correction_bias", zeros({args.num_experts}));
}

std::pair<Array, Array> DeepseekV3Gate::operator()(const Array& x) const {
  const Array gates = matmul(x, transpose(parameter("weight")));
  if (v2_) {
    return deepseek_v2_select(gates, top_k_, group_limited_ ? n_group_ : 1, topk_group_,
                              routed_scaling_factor_);
  }
  // GLM-4.7-Flash's adds 1e-20 to the weights' sum.
  return select_grouped_experts(sigmoid(astype(gates, float32)),
                                parameter("e_score_correction_bias"), top_k_, n_group_, topk_group_,
                                routed_scaling_factor_, norm_topk_prob_, epsilon_);
}

ExpertRouter& DeepseekV3MoE::register_gate(const ModelArgs& args, MoeRouter router) {
  if (router == MoeRouter::kMistral4) return register_module("gate", Mistral4Gate(args));
  return register_module("gate", DeepseekV3Gate(args));
}

DeepseekV3MoE::DeepseekV3MoE(const ModelArgs& args, const std::string& experts, MoeRouter router)
    : gate_(register_gate(args, router)),
      switch_mlp_(register_module(
          experts, SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))) {
  if (args.n_shared_experts > 0) {
    shared_experts_ = &register_module(
        "shared_experts",
        Mlp(args.hidden_size, args.moe_intermediate_size * args.n_shared_experts, args.mlp_bias));
  }
}

Array DeepseekV3MoE::operator()(const Array& x) {
  const auto [indices, weights] = gate_.route(x);
  const Array y = switch_mlp_(x, indices);
  const Array routed = astype(sum(y * expand_dims(weights, -1), -2), y.dtype());
  return shared_experts_ ? routed + (*shared_experts_)(x) : routed;
}

DeepseekV3Block::DeepseekV3Block(const ModelArgs& args, int index)
    : input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  if (args.model_type == "deepseek_v2") {
    v2_attn_ = &register_module("self_attn", DeepseekV2Attention(args));
  } else {
    v3_attn_ = &register_module("self_attn", DeepseekV3Attention(args));
  }
  const bool sparse = args.num_experts > 0 && index >= args.first_k_dense_replace &&
                      index % args.moe_layer_freq == 0;
  if (sparse) {
    mlp_ = &register_module("mlp", DeepseekV3MoE(args));
  } else {
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
  }
}

Array DeepseekV3Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const Array normed = input_layernorm_(x);
  const Array h = x + (v2_attn_ ? (*v2_attn_)(normed, mask, cache, position)
                                : (*v3_attn_)(normed, mask, cache, position));
  return h + (*mlp_)(post_attention_layernorm_(h));
}

DeepseekV3Model::DeepseekV3Model(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), DeepseekV3Block(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array DeepseekV3Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("DeepseekV3", tokens, cache, layers_.size());
  const int64_t length = tokens.shape(1);
  Array h = embed_tokens_(tokens);
  // The mask is an array even for the whole sequence (mlx-lm's return_array): it hides the
  // positions' scores, which are added to the latent's.
  LayerMasks masks;
  if (cache && cache->front().is_list()) {
    // V3.2's: from the latent's caches, every layer's first.
    const KVCache& latent = cache->front().part(0);
    masks.position = latent.offset_array(tokens.device());
    masks.global = latent.make_mask(length, *masks.position);
  } else {
    masks = causal_masks(length, tokens.device(), cache, /*as_array=*/true);
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

DeepseekV3::DeepseekV3(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", DeepseekV3Model(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array DeepseekV3::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

std::vector<KVCache> DeepseekV3::make_cache() const {
  if (args_.model_type != "deepseek_v32") return Model::make_cache();
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(KVCache::list({KVCache(), KVCache()}));
  }
  return cache;
}

nn::Parameters split_kv_b_proj(nn::Parameters weights, const ModelArgs& args) {
  nn::Parameters kept;
  // Each layer's kv_b_proj ("weight", and "scales" and "biases" when quantized).
  std::map<std::string, std::map<std::string, Array>> kv_b;
  const std::string kv_b_name = "self_attn.kv_b_proj.";
  for (auto& [name, array] : weights) {
    if (const size_t at = name.find(kv_b_name); at != std::string::npos) {
      kv_b[name.substr(0, at)].emplace(name.substr(at + kv_b_name.size()), std::move(array));
      continue;
    }
    kept.emplace_back(std::move(name), std::move(array));
  }
  for (auto& entry : kv_b) {
    // Named, not bound: a lambda may not capture a structured binding (clang, before C++20).
    const std::string& prefix = entry.first;
    auto& parts = entry.second;
    auto part = [&](const char* kind) {
      auto it = parts.find(kind);
      if (it == parts.end()) {
        detail::ThrowOpError("load_model",
                             absl::StrCat("the checkpoint lacks ", prefix, kv_b_name, kind, "."));
      }
      return it->second;
    };
    // (heads * (nope + v), kv_lora_rank): each head's key rows, then its value rows.
    Array w = part("weight");
    const bool quantized = parts.count("scales") > 0;
    int bits = 0, group_size = 0;
    if (quantized) {
      const Array scales = part("scales");
      bits = static_cast<int>(w.shape(-1) * 32 / args.kv_lora_rank);
      group_size = static_cast<int>(args.kv_lora_rank / scales.shape(-1));
      w = dequantize(w, scales, part("biases"), group_size, bits);
    }
    const int64_t heads = args.num_attention_heads, nope = args.qk_nope_head_dim;
    w = reshape(w, {heads, nope + args.v_head_dim, w.shape(-1)});
    const std::vector<std::pair<std::string, Array>> split = {
        {"embed_q", swapaxes(SliceRows(w, 0, nope), -1, -2)},
        {"unembed_out", SliceRows(w, nope, w.shape(1))}};
    for (const auto& [name, matrix] : split) {
      const std::string path = absl::StrCat(prefix, "self_attn.", name, ".");
      if (!quantized) {
        kept.emplace_back(path + "weight", matrix);
        continue;
      }
      auto [codes, scales, biases] = quantize(matrix, group_size, bits);
      kept.emplace_back(path + "weight", codes);
      kept.emplace_back(path + "scales", scales);
      kept.emplace_back(path + "biases", biases);
    }
  }
  return kept;
}

nn::Parameters DeepseekV3::sanitize(nn::Parameters weights) const {
  const std::map<std::string, std::string> experts = {
      {"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}};
  if (args_.model_type == "deepseek_v2") {
    return stack_experts(std::move(weights), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
                         experts);
  }
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StrContains(name, "weight_scale_inv") || absl::EndsWith(name, "weight_packed")) {
      throw Error(ErrorCode::kUnimplemented,
                  absl::StrCat("[load_model] ", name,
                               ": DeepSeek's FP8 and compressed int4 checkpoints are not read by "
                               "ferry::lm (mlx-lm's conversions of them are)."));
    }
    // mlx-lm drops the multi-token prediction layer by DeepSeek V3's numbering (V3.2's and
    // GLM-4.7-Flash's: any layer past num_hidden_layers).
    if (absl::StartsWith(name, "model.layers.61") ||
        absl::StrContains(name, "rotary_emb.inv_freq") || BeyondLayers(name, args_)) {
      continue;
    }
    kept.emplace_back(std::move(name), std::move(array));
  }
  return stack_experts(split_kv_b_proj(std::move(kept), args_), args_.num_experts, "mlp.experts",
                       "mlp.switch_mlp", experts);
}

bool DeepseekV3::casts(const std::string& name) const {
  return args_.model_type == "deepseek_v2" || !absl::StrContains(name, "e_score_correction_bias");
}

}  // namespace ferry::lm
