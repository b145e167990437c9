#include "client/lm/longcat_flash.h"

#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

LongcatFlashRouter::LongcatFlashRouter(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      routed_scaling_factor_(args.routed_scaling_factor),
      norm_topk_prob_(args.norm_topk_prob),
      classifier_(register_module(
          "classifier",
          nn::Linear(args.hidden_size, args.num_experts + args.zero_experts, args.router_bias))) {
  register_parameter("e_score_correction_bias", zeros({args.num_experts + args.zero_experts}));
}

std::pair<Array, Array> LongcatFlashRouter::operator()(const Array& x) {
  const Array scores = softmax(classifier_(x), -1);
  const Array corrected = scores + parameter("e_score_correction_bias");
  const int64_t experts = corrected.shape(-1);
  const Array indices = stop_gradient(
      slice_last_axis(argpartition(corrected, -top_k_, -1), experts - top_k_, experts));
  Array weights = take_along_axis(scores, indices, -1);
  if (norm_topk_prob_) weights = weights / (sum(weights, -1, /*keepdims=*/true) + 1e-20f);
  return {indices, astype(weights * routed_scaling_factor_, x.dtype())};
}

LongcatFlashMoE::LongcatFlashMoE(const ModelArgs& args)
    : routed_(args.num_experts),
      switch_mlp_(register_module(
          "switch_mlp", SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))),
      router_(register_module("router", LongcatFlashRouter(args))) {}

Array LongcatFlashMoE::operator()(const Array& x) {
  const auto [chosen, weights] = router_(x);
  // The identity experts (indices from n_routed_experts on) run as expert 0, weighted 0.
  const Array identity = greater_equal(chosen, routed_);
  const Array indices = where(identity, zeros_like(chosen), chosen);
  const Array routed_weights = where(identity, zeros_like(weights), weights);
  const Array out = sum(switch_mlp_(x, indices) * expand_dims(routed_weights, -1), -2);
  const Array identity_weights =
      sum(where(identity, weights, zeros_like(weights)), -1, /*keepdims=*/true);
  return out + x * identity_weights;
}

LongcatFlashBlock::LongcatFlashBlock(const ModelArgs& args)
    : mlp_(register_module("mlp", LongcatFlashMoE(args))) {
  for (int i = 0; i < 2; ++i) {
    self_attn_.push_back(
        &register_module(absl::StrCat("self_attn.", i), DeepseekV3Attention(args)));
  }
  for (int i = 0; i < 2; ++i) {
    mlps_.push_back(
        &register_module(absl::StrCat("mlps.", i), Mlp(args.hidden_size, args.intermediate_size)));
  }
  for (int i = 0; i < 2; ++i) {
    input_layernorm_.push_back(&register_module(absl::StrCat("input_layernorm.", i),
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps)));
  }
  for (int i = 0; i < 2; ++i) {
    post_attention_layernorm_.push_back(
        &register_module(absl::StrCat("post_attention_layernorm.", i),
                         nn::RMSNorm(args.hidden_size, args.rms_norm_eps)));
  }
}

Array LongcatFlashBlock::operator()(const Array& x, const std::optional<Array>& mask,
                                    KVCache* cache, const std::optional<Array>& position) {
  Array h = x;
  std::optional<Array> shortcut;
  for (int i = 0; i < 2; ++i) {
    h = h + (*self_attn_[i])((*input_layernorm_[i])(h), mask, cache ? &cache->part(i) : nullptr,
                             position);
    const Array normed = (*post_attention_layernorm_[i])(h);
    if (i == 0) shortcut = mlp_(normed);
    h = h + (*mlps_[i])(normed);
  }
  return h + *shortcut;
}

LongcatFlashModel::LongcatFlashModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), LongcatFlashBlock(args)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array LongcatFlashModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("LongcatFlash", tokens, cache, layers_.size());
  const int64_t length = tokens.shape(1);
  Array h = embed_tokens_(tokens);
  // The mask is an array even for the whole sequence (mlx-lm's return_array), from the first
  // layer's first cache: it hides the positions' scores, added to the latent's.
  LayerMasks masks;
  if (cache) {
    const KVCache& first = cache->front().part(0);
    masks.position = first.offset_array(tokens.device());
    masks.global = first.make_mask(length, *masks.position);
  } else {
    masks = causal_masks(length, tokens.device(), nullptr, /*as_array=*/true);
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

LongcatFlash::LongcatFlash(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", LongcatFlashModel(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array LongcatFlash::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

std::vector<KVCache> LongcatFlash::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(KVCache::list({KVCache(), KVCache()}));
  }
  return cache;
}

nn::Parameters LongcatFlash::sanitize(nn::Parameters weights) const {
  // split_kv_b_proj splits "<prefix>self_attn.kv_b_proj.*": each of the two attentions'
  // "self_attn.I.kv_b_proj" goes through it as "<prefix>@I@self_attn.kv_b_proj" and back.
  nn::Parameters kept;
  for (auto& [key, array] : weights) {
    if (absl::StartsWith(key, "model.mtp")) continue;
    std::string name = key;
    for (const char* i : {"0", "1"}) {
      name = absl::StrReplaceAll(name, {{absl::StrCat("self_attn.", i, ".kv_b_proj."),
                                         absl::StrCat("@", i, "@self_attn.kv_b_proj.")}});
    }
    kept.emplace_back(std::move(name), std::move(array));
  }
  kept = split_kv_b_proj(std::move(kept), args_);
  for (auto& [name, array] : kept) {
    for (const char* i : {"0", "1"}) {
      name = absl::StrReplaceAll(
          name, {{absl::StrCat("@", i, "@self_attn."), absl::StrCat("self_attn.", i, ".")}});
    }
  }
  return stack_experts(
      std::move(kept), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

std::optional<std::pair<int, int>> LongcatFlash::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "classifier")) return kRouterQuantization;
  return std::nullopt;
}

bool LongcatFlash::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias");
}

}  // namespace ferry::lm
