#include "client/lm/cohere.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/fast.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

CohereHeadNorm::CohereHeadNorm(int heads, int64_t head_dim, float eps) : eps_(eps) {
  // Zeros, as mlx-lm initializes it: a checkpoint always brings the weight.
  register_parameter("weight", zeros({heads, head_dim}));
}

Array CohereHeadNorm::operator()(const Array& x) {
  return parameter("weight") * fast::layer_norm(x, std::nullopt, std::nullopt, eps_);
}

CohereAttention::CohereAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module(
          "q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, args.attention_bias))),
      k_proj_(register_module(
          "k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      v_proj_(register_module(
          "v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      o_proj_(register_module(
          "o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, args.attention_bias))),
      rope_(head_dim_, args) {
  if (args.qk_norm) {
    q_norm_ = &register_module("q_norm", CohereHeadNorm(heads_, head_dim_, args.rms_norm_eps));
    k_norm_ = &register_module("k_norm", CohereHeadNorm(kv_heads_, head_dim_, args.rms_norm_eps));
  }
}

Array CohereAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  Array queries = reshape(q_proj_(x), {batch, length, heads_, head_dim_});
  Array keys = reshape(k_proj_(x), {batch, length, kv_heads_, head_dim_});
  if (q_norm_) {  // per head, before the heads move ahead of the positions
    queries = (*q_norm_)(queries);
    keys = (*k_norm_)(keys);
  }
  const Array values =
      transpose(reshape(v_proj_(x), {batch, length, kv_heads_, head_dim_}), {0, 2, 1, 3});
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  queries = rope_(transpose(queries, {0, 2, 1, 3}), at);
  keys = rope_(transpose(keys, {0, 2, 1, 3}), at);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

CohereBlock::CohereBlock(const ModelArgs& args)
    : self_attn_(register_module("self_attn", CohereAttention(args))),
      mlp_(register_module("mlp", Mlp(args))),
      input_layernorm_(LlamaNorm(args, [&](auto norm) -> nn::Layer& {
        return register_module("input_layernorm", std::move(norm));
      })) {}

Array CohereBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                              const std::optional<Array>& position) {
  const Array h = input_layernorm_(x);
  return self_attn_(h, mask, cache, position) + mlp_(h) + x;
}

CohereModel::CohereModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), CohereBlock(args)));
  }
  norm_ = &LlamaNorm(
      args, [&](auto norm) -> nn::Layer& { return register_module("norm", std::move(norm)); });
}

Array CohereModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Cohere", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Cohere::Cohere(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", CohereModel(args_))) {}

Array Cohere::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return model_.embed_tokens().as_linear(model_(tokens, cache)) * args_.logit_scale;
}

}  // namespace ferry::lm
