#include "client/lm/exaone.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

ExaoneAttention::ExaoneAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module(
          "q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, args.attention_bias))),
      k_proj_(register_module(
          "k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      v_proj_(register_module(
          "v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      out_proj_(register_module(
          "out_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, args.attention_bias))),
      rope_(head_dim_, args) {}

Array ExaoneAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
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
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim_), -0.5));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return out_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

ExaoneMlp::ExaoneMlp(const ModelArgs& args)
    : c_fc_0_(register_module("c_fc_0",
                              nn::Linear(args.hidden_size, args.intermediate_size, args.mlp_bias))),
      c_fc_1_(register_module("c_fc_1",
                              nn::Linear(args.hidden_size, args.intermediate_size, args.mlp_bias))),
      c_proj_(register_module(
          "c_proj", nn::Linear(args.intermediate_size, args.hidden_size, args.mlp_bias))) {}

Array ExaoneMlp::operator()(const Array& x) { return c_proj_(silu(c_fc_0_(x)) * c_fc_1_(x)); }

ExaoneBlock::ExaoneBlock(const ModelArgs& args)
    : ln_1_(register_module("ln_1", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      attention_(register_module("attn.attention", ExaoneAttention(args))),
      ln_2_(register_module("ln_2", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      mlp_(register_module("mlp", ExaoneMlp(args))) {}

Array ExaoneBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                              const std::optional<Array>& position) {
  const Array h = x + attention_(ln_1_(x), mask, cache, position);
  return h + mlp_(ln_2_(h));
}

ExaoneModel::ExaoneModel(const ModelArgs& args)
    : wte_(register_module("wte", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    h_.push_back(&register_module(absl::StrCat("h.", i), ExaoneBlock(args)));
  }
  ln_f_ = &register_module("ln_f", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array ExaoneModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("EXAONE", tokens, cache, h_.size());
  Array h = wte_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < h_.size(); ++i) {
    h = call_block(*h_[i], h, [=](const Array& x) {
      return (*h_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*ln_f_)(h);
}

Exaone::Exaone(ModelArgs args)
    : args_(std::move(args)), transformer_(register_module("transformer", ExaoneModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Exaone::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = transformer_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : transformer_.wte().as_linear(h);
}

}  // namespace ferry::lm
