#include "client/lm/phi3.h"

#include <cmath>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {
namespace {

// The features RoPE rotates: int(head_dim * partial_rotary_factor), as mlx-lm rounds it.
int64_t RopeDims(const ModelArgs& args) {
  return static_cast<int64_t>(static_cast<double>(args.head_dim) *
                              static_cast<double>(args.partial_rotary_factor));
}

}  // namespace

Phi3Attention::Phi3Attention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      qkv_proj_(register_module(
          "qkv_proj", nn::Linear(args.hidden_size, (heads_ + 2 * kv_heads_) * head_dim_, false))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false))),
      rope_(RopeDims(args), args) {}

Array Phi3Attention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const Array qkv = qkv_proj_(x);
  const int64_t q_end = heads_ * head_dim_, k_end = q_end + kv_heads_ * head_dim_;
  auto heads = [&](int64_t start, int64_t stop, int count) {
    return transpose(reshape(slice_last_axis(qkv, start, stop), {batch, length, count, head_dim_}),
                     {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  Array queries = rope_(heads(0, q_end, heads_), at);
  Array keys = rope_(heads(q_end, k_end, kv_heads_), at);
  Array values = heads(k_end, qkv.shape(-1), kv_heads_);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

Phi3Mlp::Phi3Mlp(const ModelArgs& args)
    : hidden_(args.intermediate_size),
      gate_up_proj_(register_module(
          "gate_up_proj", nn::Linear(args.hidden_size, 2 * args.intermediate_size, false))),
      down_proj_(register_module("down_proj",
                                 nn::Linear(args.intermediate_size, args.hidden_size, false))) {}

Array Phi3Mlp::operator()(const Array& x) {
  const Array both = gate_up_proj_(x);
  return down_proj_(silu(slice_last_axis(both, 0, hidden_)) *
                    slice_last_axis(both, hidden_, 2 * hidden_));
}

Phi3Block::Phi3Block(const ModelArgs& args)
    : self_attn_(register_module("self_attn", Phi3Attention(args))),
      mlp_(register_module("mlp", Phi3Mlp(args))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array Phi3Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                            const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

Phi3Model::Phi3Model(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Phi3Block(args)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Phi3Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Phi3", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Phi3::Phi3(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Phi3Model(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Phi3::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

}  // namespace ferry::lm
