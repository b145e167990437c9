#include "client/lm/phi.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/nn/activations.h"
#include "client/ops.h"

namespace ferry::lm {

int64_t partial_rope_dims(const ModelArgs& args) {
  return static_cast<int64_t>(static_cast<double>(args.partial_rotary_factor) *
                              static_cast<double>(args.head_dim));
}

PhiAttention::PhiAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, true))),
      k_proj_(register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, true))),
      v_proj_(register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, true))),
      dense_(register_module("dense", nn::Linear(heads_ * head_dim_, args.hidden_size, true))),
      rope_(partial_rope_dims(args), args) {}

Array PhiAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                               const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  auto heads = [&](const Array& y, int count) {
    return transpose(reshape(y, {batch, length, count, head_dim_}), {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array queries = rope_(heads(q_proj_(x), heads_), at);
  const Array keys = rope_(heads(k_proj_(x), kv_heads_), at);
  const Array values = heads(v_proj_(x), kv_heads_);
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(head_dim_)));
  // mlx-lm attends with the queries in float32, back to the values' dtype after.
  const Array out =
      astype(attention(astype(queries, float32), keys, values, cache, position, scale, mask),
             values.dtype());
  return dense_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

PhiMlp::PhiMlp(const ModelArgs& args)
    : fc1_(register_module("fc1", nn::Linear(args.hidden_size, args.intermediate_size, true))),
      fc2_(register_module("fc2", nn::Linear(args.intermediate_size, args.hidden_size, true))) {}

Array PhiMlp::operator()(const Array& x) { return fc2_(nn::gelu_approx(fc1_(x))); }

PhiBlock::PhiBlock(const ModelArgs& args)
    : self_attn_(register_module("self_attn", PhiAttention(args))),
      input_layernorm_(
          register_module("input_layernorm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps))),
      mlp_(register_module("mlp", PhiMlp(args))) {}

Array PhiBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                           const std::optional<Array>& position) {
  const Array h = input_layernorm_(x);
  return self_attn_(h, mask, cache, position) + mlp_(h) + x;
}

PhiModel::PhiModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), PhiBlock(args)));
  }
  final_layernorm_ =
      &register_module("final_layernorm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps));
}

Array PhiModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Phi", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*final_layernorm_)(h);
}

Phi::Phi(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", PhiModel(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, true))) {}

Array Phi::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

}  // namespace ferry::lm
