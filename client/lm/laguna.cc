#include "client/lm/laguna.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool Sliding(const ModelArgs& args, int index) {
  return args.layer_types.at(static_cast<size_t>(index)) == "sliding_attention";
}

// mlx-lm's _layer_rope: the layer type's base, scaling and rotated fraction of head_dim.
Rope LayerRope(const ModelArgs& args, int index) {
  ModelArgs rope = args;
  float partial = args.partial_rotary_factor;
  if (Sliding(args, index)) {
    rope.rope_theta = args.rope_local_base_freq;
    rope.rope_type = args.rope_local_type;
    rope.rope_scaling = args.rope_local_scaling;
    partial = args.local_partial_rotary_factor;
  }
  rope.rope_traditional = false;
  return Rope(
      static_cast<int64_t>(static_cast<double>(args.head_dim) * static_cast<double>(partial)),
      rope);
}

}  // namespace

LagunaAttention::LagunaAttention(const ModelArgs& args, int index)
    : heads_(args.heads_per_layer.at(static_cast<size_t>(index))),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module(
          "q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, args.attention_bias))),
      k_proj_(register_module(
          "k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      v_proj_(register_module(
          "v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      o_proj_(register_module("o_proj",
                              nn::Linear(heads_ * head_dim_, args.hidden_size, args.output_bias))),
      q_norm_(register_module("q_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      k_norm_(register_module("k_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      rope_(LayerRope(args, index)) {
  if (args.attention_gating) {
    g_proj_ = &register_module("g_proj", nn::Linear(args.hidden_size, heads_, false));
  }
}

Array LagunaAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  auto heads = [&](const Array& y, int count) {
    return reshape(y, {batch, length, count, head_dim_});
  };
  const Array queries = transpose(q_norm_(heads(q_proj_(x), heads_)), {0, 2, 1, 3});
  const Array keys = transpose(k_norm_(heads(k_proj_(x), kv_heads_)), {0, 2, 1, 3});
  const Array values = transpose(heads(v_proj_(x), kv_heads_), {0, 2, 1, 3});
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim_), -0.5));
  Array out = transpose(
      attention(rope_(queries, at), rope_(keys, at), values, cache, position, scale, mask),
      {0, 2, 1, 3});
  if (g_proj_) {
    // softplus of the gate in float32, one per head, across its features.
    const Array gate = astype(softplus(astype((*g_proj_)(x), float32)), out.dtype());
    out = out * expand_dims(gate, -1);
  }
  return o_proj_(reshape(out, {batch, length, heads_ * head_dim_}));
}

LagunaGate::LagunaGate(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      softcap_(args.router_softcap),
      sqrt_softplus_(args.router_score_func == "sqrtsoftplus"),
      proj_(register_module("proj", nn::Linear(args.hidden_size, args.num_experts, false))) {
  register_parameter("e_score_correction_bias", zeros({args.num_experts}));
}

std::pair<Array, Array> LagunaGate::operator()(const Array& x) {
  Array logits = astype(proj_(x), float32);
  if (softcap_ > 0.0f) logits = tanh(logits / softcap_) * softcap_;
  const Array scores = sqrt_softplus_ ? sqrt(softplus(logits)) : sigmoid(logits);
  const Array ranked = scores + parameter("e_score_correction_bias");
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-ranked, top_k_ - 1, -1), 0, top_k_));
  const Array weights = take_along_axis(scores, indices, -1);
  return {indices, weights / sum(weights, -1, /*keepdims=*/true)};
}

LagunaMoE::LagunaMoE(const ModelArgs& args)
    : routed_scaling_factor_(args.routed_scaling_factor),
      gate_(register_module("gate", LagunaGate(args))),
      switch_mlp_(register_module(
          "switch_mlp", SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))),
      shared_expert_(register_module(
          "shared_expert", Mlp(args.hidden_size, args.shared_expert_intermediate_size))) {}

Array LagunaMoE::operator()(const Array& x) {
  const Array shared = shared_expert_(x);
  const auto [indices, weights] = gate_(x);
  const Array y = astype(sum(switch_mlp_(x, indices) * expand_dims(weights, -1), -2), x.dtype());
  return y * routed_scaling_factor_ + shared;
}

LagunaBlock::LagunaBlock(const ModelArgs& args, int index)
    : sliding_(Sliding(args, index)),
      self_attn_(register_module("self_attn", LagunaAttention(args, index))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  const bool dense = std::find(args.mlp_only_layers.begin(), args.mlp_only_layers.end(), index) !=
                     args.mlp_only_layers.end();
  if (dense) {
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
  } else {
    mlp_ = &register_module("mlp", LagunaMoE(args));
  }
}

Array LagunaBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                              const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + (*mlp_)(post_attention_layernorm_(h));
}

LagunaModel::LagunaModel(const ModelArgs& args)
    : window_(args.sliding_window),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), LagunaBlock(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array LagunaModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Laguna", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = layer_masks(tokens.shape(1), tokens.device(), cache, window_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      LagunaBlock& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Laguna::Laguna(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", LagunaModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Laguna::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

std::optional<int64_t> Laguna::sliding_window(int layer) const {
  if (!Sliding(args_, layer)) return std::nullopt;
  return args_.sliding_window;
}

nn::Parameters Laguna::sanitize(nn::Parameters weights) const {
  bool prefixed = false;
  for (const auto& [name, array] : weights) {
    prefixed = prefixed || absl::StartsWith(name, "language_model.");
  }
  nn::Parameters renamed;
  for (auto& [key, array] : weights) {
    std::string name = key;
    if (prefixed && absl::StartsWith(name, "language_model.")) {
      name = name.substr(std::string("language_model.").size());
    }
    if (args_.tie_word_embeddings && name == "lm_head.weight") continue;
    // The original layout's bare router and its bias under experts.
    if (absl::StartsWith(name, "model.layers.")) {
      if (absl::EndsWith(name, ".mlp.gate.weight")) {
        name =
            absl::StrCat(name.substr(0, name.size() - std::string("weight").size()), "proj.weight");
      } else if (absl::EndsWith(name, ".mlp.experts.e_score_correction_bias")) {
        name = absl::StrCat(
            name.substr(0, name.size() - std::string("experts.e_score_correction_bias").size()),
            "gate.e_score_correction_bias");
      }
    }
    renamed.emplace_back(std::move(name), std::move(array));
  }
  return stack_experts(
      std::move(renamed), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

std::optional<std::pair<int, int>> Laguna::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "mlp.gate.proj")) return kRouterQuantization;
  return std::nullopt;
}

bool Laguna::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias");
}

}  // namespace ferry::lm
