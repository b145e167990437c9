#include "client/lm/gemma3.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"
#include "core/half.h"
#include "core/shape.h"

namespace ferry::lm {
namespace {

// mlx-lm's clip_residual: float16 sums in float32, clipped to float16's range.
Array ClipResidual(const Array& x, const Array& y) {
  if (x.dtype() != float16) return x + y;
  const double bound = 65504.0;
  return astype(clip(astype(x, float32) + astype(y, float32), -bound, bound), float16);
}

// Sliding layers' RoPE: plain, at rope_local_base_freq.
ModelArgs LocalRopeArgs(const ModelArgs& args) {
  ModelArgs local = args;
  local.rope_theta = args.rope_local_base_freq;
  local.rope_type = "default";
  local.rope_scaling.clear();
  return local;
}

}  // namespace

Gemma3Attention::Gemma3Attention(const ModelArgs& args, bool sliding)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      scale_(std::pow(args.query_pre_attn_scalar, -0.5f)),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      k_proj_(
          register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false))),
      v_proj_(
          register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false))),
      q_norm_(register_module("q_norm", GemmaRMSNorm(head_dim_, args.rms_norm_eps))),
      k_norm_(register_module("k_norm", GemmaRMSNorm(head_dim_, args.rms_norm_eps))),
      rope_(head_dim_, sliding ? LocalRopeArgs(args) : args) {}

Array Gemma3Attention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  // (B, L, heads * D) to (B, heads, L, D), then each head normalized.
  auto heads = [&](const Array& y, int count, GemmaRMSNorm* norm) {
    const Array split = transpose(reshape(y, {batch, length, count, head_dim_}), {0, 2, 1, 3});
    return norm ? (*norm)(split) : split;
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  Array queries = rope_(heads(q_proj_(x), heads_, &q_norm_), at);
  Array keys = rope_(heads(k_proj_(x), kv_heads_, &k_norm_), at);
  Array values = heads(v_proj_(x), kv_heads_, nullptr);
  const Array out = attention(queries, keys, values, cache, position, scale_, mask);
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

Gemma3Block::Gemma3Block(const ModelArgs& args, int index)
    : sliding_((index + 1) % args.sliding_window_pattern != 0),
      self_attn_(register_module("self_attn", Gemma3Attention(args, sliding_))),
      mlp_(register_module("mlp", GemmaMlp(args))),
      input_layernorm_(
          register_module("input_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))),
      pre_feedforward_layernorm_(register_module(
          "pre_feedforward_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_feedforward_layernorm_(register_module(
          "post_feedforward_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array Gemma3Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                              const std::optional<Array>& position) {
  const Array h = ClipResidual(
      x, post_attention_layernorm_(self_attn_(input_layernorm_(x), mask, cache, position)));
  return ClipResidual(h, post_feedforward_layernorm_(mlp_(pre_feedforward_layernorm_(h))));
}

Gemma3TextModel::Gemma3TextModel(const ModelArgs& args)
    : hidden_size_(args.hidden_size),
      window_(args.sliding_window),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Gemma3Block(args, i)));
  }
  norm_ = &register_module("norm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Gemma3TextModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Gemma3", tokens, cache, layers_.size());
  const int64_t length = tokens.shape(1);
  Array h = embed_tokens_(tokens);
  // mlx-lm rounds sqrt(hidden_size) to bfloat16 before casting it to the embedding's dtype.
  h = h * static_cast<float>(core::BFloat16(std::sqrt(static_cast<float>(hidden_size_))));
  const LayerMasks masks = layer_masks(length, tokens.device(), cache, window_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      Gemma3Block& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Gemma3Text::Gemma3Text(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Gemma3TextModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

std::optional<int64_t> Gemma3Text::sliding_window(int layer) const {
  if ((layer + 1) % args_.sliding_window_pattern == 0) return std::nullopt;
  return args_.sliding_window;
}

Array Gemma3Text::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

Gemma3::Gemma3(ModelArgs args)
    : args_(std::move(args)),
      language_model_(register_module("language_model", Gemma3Text(args_))) {}

Array Gemma3::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return language_model_(tokens, cache);
}

nn::Parameters Gemma3::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StartsWith(name, "vision_tower.") ||
        absl::StartsWith(name, "multi_modal_projector.")) {
      continue;
    }
    kept.emplace_back(std::move(name), std::move(array));
  }
  return kept;
}

}  // namespace ferry::lm
