#include "client/lm/gemma2.h"

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {

Array soft_cap(const Array& x, float cap) { return tanh(x / cap) * cap; }

Gemma2Attention::Gemma2Attention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      scale_(static_cast<float>(1.0 / std::sqrt(static_cast<double>(args.query_pre_attn_scalar)))),
      softcap_(args.attn_logit_softcapping),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      k_proj_(
          register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false))),
      v_proj_(
          register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false))),
      rope_(head_dim_, args) {}

Array Gemma2Attention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1), repeats = heads_ / kv_heads_;
  auto heads = [&](const Array& y, int count) {
    return transpose(reshape(y, {batch, length, count, head_dim_}), {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  Array queries = rope_(heads(q_proj_(x), heads_), at) * scale_;
  Array keys = rope_(heads(k_proj_(x), kv_heads_), at);
  Array values = heads(v_proj_(x), kv_heads_);
  refuse_quantized_cache(cache, "gemma2's soft-capped attention");
  if (cache) std::tie(keys, values) = cache->update_and_fetch(keys, values, *position);
  // The soft cap sits between the product and the softmax, so fast::scaled_dot_product_
  // attention cannot take it: composed as mlx-lm does, each key/value head serving its
  // `repeats` query heads through a broadcast axis.
  queries = reshape(queries, {batch, kv_heads_, repeats, length, head_dim_});
  keys = expand_dims(keys, 2);
  values = expand_dims(values, 2);
  Array scores = soft_cap(matmul(queries, swapaxes(keys, -1, -2)), softcap_);
  if (mask) {
    // (B, 1, L, S) masks broadcast over the key/value heads and their repeats.
    const Array m = mask->ndim() == 4 ? expand_dims(*mask, 2) : *mask;
    scores = where(m, scores, -std::numeric_limits<double>::infinity());
  }
  // mlx-lm's softmax(precise=True): in float32 whatever the weights' dtype.
  scores = astype(softmax(astype(scores, float32), -1), values.dtype());
  const Array out = reshape(matmul(scores, values), {batch, heads_, length, head_dim_});
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

Gemma2Block::Gemma2Block(const ModelArgs& args)
    : self_attn_(register_module("self_attn", Gemma2Attention(args))),
      mlp_(register_module("mlp", GemmaMlp(args))),
      input_layernorm_(
          register_module("input_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))),
      pre_feedforward_layernorm_(register_module(
          "pre_feedforward_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_feedforward_layernorm_(register_module(
          "post_feedforward_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array Gemma2Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                              const std::optional<Array>& position) {
  const Array h =
      x + post_attention_layernorm_(self_attn_(input_layernorm_(x), mask, cache, position));
  return h + post_feedforward_layernorm_(mlp_(pre_feedforward_layernorm_(h)));
}

Gemma2Model::Gemma2Model(const ModelArgs& args)
    : hidden_size_(args.hidden_size),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Gemma2Block(args)));
  }
  norm_ = &register_module("norm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Gemma2Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Gemma2", tokens, cache, layers_.size());
  const int64_t length = tokens.shape(1);
  // sqrt(hidden_size) as a Python float, rounded to float32 by the product (Gemma 3 rounds
  // it to bfloat16 first; Gemma 2 does not).
  Array h =
      embed_tokens_(tokens) * static_cast<float>(std::sqrt(static_cast<double>(hidden_size_)));
  // The mask is an array even for the whole sequence, as mlx-lm's gemma2 asks
  // (return_array): its attention is composed, not fast's "causal".
  const LayerMasks masks = causal_masks(length, tokens.device(), cache, /*as_array=*/true);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Gemma2::Gemma2(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Gemma2Model(args_))) {}

Array Gemma2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return soft_cap(model_.embed_tokens().as_linear(model_(tokens, cache)),
                  args_.final_logit_softcapping);
}

}  // namespace ferry::lm
