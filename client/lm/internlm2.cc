#include "client/lm/internlm2.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

InternLM2Attention::InternLM2Attention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      wqkv_(register_module(
          "wqkv",
          nn::Linear(args.hidden_size, (heads_ + 2 * kv_heads_) * head_dim_, args.attention_bias))),
      wo_(register_module("wo",
                          nn::Linear(heads_ * head_dim_, args.hidden_size, args.attention_bias))),
      rope_(head_dim_, args) {}

Array InternLM2Attention::operator()(const Array& x, const std::optional<Array>& mask,
                                     KVCache* cache, const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const int64_t groups = heads_ / kv_heads_;
  // (B, L, kv_heads, groups + 2, head_dim): each key/value head's queries, key, value.
  const Array qkv = reshape(wqkv_(x), {batch, length, kv_heads_, groups + 2, head_dim_});
  auto part = [&](int64_t start, int64_t stop, int count) {
    const Array p = slice(qkv, {0, 0, 0, start, 0}, {batch, length, kv_heads_, stop, head_dim_});
    return transpose(reshape(p, {batch, length, count, head_dim_}), {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array queries = rope_(part(0, groups, heads_), at);
  const Array keys = rope_(part(groups, groups + 1, kv_heads_), at);
  const Array values = part(groups + 1, groups + 2, kv_heads_);
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim_), -0.5));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return wo_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

InternLM2Mlp::InternLM2Mlp(const ModelArgs& args)
    : w1_(register_module("w1", nn::Linear(args.hidden_size, args.intermediate_size, false))),
      w2_(register_module("w2", nn::Linear(args.intermediate_size, args.hidden_size, false))),
      w3_(register_module("w3", nn::Linear(args.hidden_size, args.intermediate_size, false))) {}

Array InternLM2Mlp::operator()(const Array& x) { return w2_(silu(w1_(x)) * w3_(x)); }

InternLM2Block::InternLM2Block(const ModelArgs& args)
    : attention_(register_module("attention", InternLM2Attention(args))),
      feed_forward_(register_module("feed_forward", InternLM2Mlp(args))),
      attention_norm_(
          register_module("attention_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      ffn_norm_(register_module("ffn_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array InternLM2Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                 const std::optional<Array>& position) {
  const Array h = x + attention_(attention_norm_(x), mask, cache, position);
  return h + feed_forward_(ffn_norm_(h));
}

InternLM2Model::InternLM2Model(const ModelArgs& args)
    : tok_embeddings_(
          register_module("tok_embeddings", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), InternLM2Block(args)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array InternLM2Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("InternLM2", tokens, cache, layers_.size());
  Array h = tok_embeddings_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

InternLM2::InternLM2(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", InternLM2Model(args_))) {
  if (!args_.tie_word_embeddings) {
    output_ = &register_module("output", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array InternLM2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return output_ ? (*output_)(h) : model_.tok_embeddings().as_linear(h);
}

nn::Parameters InternLM2::sanitize(nn::Parameters weights) const {
  nn::Parameters out;
  for (auto& [name, array] : weights) {
    // Hugging Face's rotary table, recomputed here.
    if (absl::StrContains(name, "attention.rope.inv_freq")) continue;
    out.emplace_back(name, std::move(array));
  }
  return out;
}

}  // namespace ferry::lm
