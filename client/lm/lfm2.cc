#include "client/lm/lfm2.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/attention.h"
#include "client/lm/conv_weights.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

bool is_attention_layer(const ModelArgs& args, int index) {
  const std::vector<int>& full = args.full_attn_idxs;
  return std::find(full.begin(), full.end(), index) != full.end();
}

Lfm2Attention::Lfm2Attention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      k_proj_(
          register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false))),
      v_proj_(
          register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false))),
      out_proj_(
          register_module("out_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false))),
      q_layernorm_(register_module("q_layernorm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      k_layernorm_(register_module("k_layernorm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      rope_(head_dim_, args) {}

Array Lfm2Attention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  auto heads = [&](const Array& y, int count) {
    return reshape(y, {batch, length, count, head_dim_});
  };
  auto transposed = [](const Array& y) { return transpose(y, {0, 2, 1, 3}); };
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array queries = rope_(transposed(q_layernorm_(heads(q_proj_(x), heads_))), at);
  const Array keys = rope_(transposed(k_layernorm_(heads(k_proj_(x), kv_heads_))), at);
  const Array values = transposed(heads(v_proj_(x), kv_heads_));
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return out_proj_(reshape(transposed(out), {batch, length, heads_ * head_dim_}));
}

ShortConv::ShortConv(const ModelArgs& args)
    : hidden_size_(args.hidden_size),
      kernel_(args.conv_l_cache),
      in_proj_(
          register_module("in_proj", nn::Linear(hidden_size_, 3 * hidden_size_, args.conv_bias))),
      conv_(register_module("conv", nn::Conv1d(hidden_size_, hidden_size_, kernel_, 1, 0, 1,
                                               static_cast<int>(hidden_size_), args.conv_bias))),
      out_proj_(
          register_module("out_proj", nn::Linear(hidden_size_, hidden_size_, args.conv_bias))) {}

Array ShortConv::operator()(const Array& x, KVCache* cache, const std::optional<Array>& mask) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  if (cache && !cache->is_arrays()) {
    detail::ThrowOpError("ShortConv",
                         "a short convolution's cache is KVCache::arrays(1) (the model's "
                         "make_cache() or make_prompt_cache()), not one of keys and values.");
  }
  const std::vector<Array> bcx = split(in_proj_(x), 3, -1);  // B, C, x
  Array bx = bcx[0] * bcx[2];
  // A padded step's input is zero, as the state before a sequence's first token.
  if (mask) bx = where(expand_dims(*mask, -1), bx, 0);
  // The convolution continues the last kernel - 1 inputs it saw (zeros at the start).
  const Array state = cache && cache->array(0)
                          ? *cache->array(0)
                          : zeros({batch, kernel_ - 1, hidden_size_}, bx.dtype(), x.device());
  const Array conv_input = concatenate({state, bx}, 1);
  if (cache) {
    cache->set_array(
        0, slice(conv_input, {0, length, 0}, {batch, length + kernel_ - 1, hidden_size_}));
    cache->advance(length);
  }
  return out_proj_(bcx[1] * conv_(conv_input));
}

Lfm2Mlp::Lfm2Mlp(const ModelArgs& args)
    : w1_(register_module("w1", nn::Linear(args.hidden_size, args.intermediate_size, false))),
      w2_(register_module("w2", nn::Linear(args.intermediate_size, args.hidden_size, false))),
      w3_(register_module("w3", nn::Linear(args.hidden_size, args.intermediate_size, false))) {}

Array Lfm2Mlp::operator()(const Array& x) { return w2_(silu(w1_(x)) * w3_(x)); }

void Lfm2Block::AddOperator(const ModelArgs& args, int index) {
  if (is_attention_layer(args, index)) {
    self_attn_ = &register_module("self_attn", Lfm2Attention(args));
  } else {
    conv_ = &register_module("conv", ShortConv(args));
  }
  operator_norm_ =
      &register_module("operator_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  ffn_norm_ = &register_module("ffn_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Lfm2Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                            const std::optional<Array>& position) {
  const Array normed = (*operator_norm_)(x);
  const Array h = x + (self_attn_ ? (*self_attn_)(normed, mask, cache, position)
                                  : (*conv_)(normed, cache, mask));
  return h + (*feed_forward_)((*ffn_norm_)(h));
}

Lfm2Model::Lfm2Model(const ModelArgs& args, const MakeLfm2Layer& make_layer)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), make_layer(args, i)));
  }
  embedding_norm_ =
      &register_module("embedding_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Lfm2Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Lfm2", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  // The attention layers' position and mask and the conv layers' (a batch's padding),
  // from one cache of each kind: the caches advance together.
  const LayerMasks masks = hybrid_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, layers_[i]->is_attention() ? masks.global : masks.arrays,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*embedding_norm_)(h);
}

Lfm2::Lfm2(ModelArgs args, const MakeLfm2Layer& make_layer)
    : args_(std::move(args)),
      model_(register_module(
          "model",
          Lfm2Model(args_, make_layer ? make_layer : MakeLfm2Layer([](const ModelArgs& a, int i) {
                      return Lfm2Block(a, i, Lfm2Mlp(a));
                    })))) {}

Array Lfm2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return model_.embed_tokens().as_linear(model_(tokens, cache));
}

std::vector<KVCache> Lfm2::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(is_attention_layer(args_, i) ? KVCache() : KVCache::arrays(1));
  }
  return cache;
}

nn::Parameters Lfm2::sanitize(nn::Parameters weights) const {
  return sanitize_conv_weights(std::move(weights), "conv.conv.weight");
}

}  // namespace ferry::lm
