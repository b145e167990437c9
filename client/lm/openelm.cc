#include "client/lm/openelm.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

int LayerHeads(const std::vector<int>& per_layer, int fallback, int layer) {
  return per_layer.empty() ? fallback : per_layer.at(static_cast<size_t>(layer));
}

int64_t LayerWidth(const ModelArgs& args, int layer) {
  return args.intermediate_sizes.empty() ? args.intermediate_size
                                         : args.intermediate_sizes.at(static_cast<size_t>(layer));
}

}  // namespace

OpenELMAttention::OpenELMAttention(const ModelArgs& args, int layer)
    : heads_(LayerHeads(args.layer_num_attention_heads, args.num_attention_heads, layer)),
      kv_heads_(LayerHeads(args.layer_num_key_value_heads, args.num_key_value_heads, layer)),
      head_dim_(args.head_dim),
      qkv_proj_(register_module(
          "qkv_proj",
          nn::Linear(args.hidden_size, (heads_ + 2 * kv_heads_) * head_dim_, /*bias=*/false))),
      out_proj_(register_module("out_proj",
                                nn::Linear(heads_ * head_dim_, args.hidden_size, /*bias=*/false))),
      rope_(head_dim_, args) {
  if (args.qk_norm) {
    q_norm_ = &register_module("q_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps));
    k_norm_ = &register_module("k_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps));
  }
}

Array OpenELMAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                   const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  // (B, heads + 2 kv_heads, L, head_dim): the query heads, then the keys', then the values'.
  const Array qkv = transpose(
      reshape(qkv_proj_(x), {batch, length, heads_ + 2 * kv_heads_, head_dim_}), {0, 2, 1, 3});
  const std::vector<Array> parts = split(qkv, Shape{heads_, heads_ + kv_heads_}, 1);
  const Array queries = q_norm_ ? (*q_norm_)(parts[0]) : parts[0];
  const Array keys = k_norm_ ? (*k_norm_)(parts[1]) : parts[1];
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim_), -0.5));
  const Array out =
      attention(rope_(queries, at), rope_(keys, at), parts[2], cache, position, scale, mask);
  return out_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

OpenELMMlp::OpenELMMlp(int64_t dims, int64_t hidden_dims)
    : proj_1_(register_module("proj_1", nn::Linear(dims, 2 * hidden_dims, /*bias=*/false))),
      proj_2_(register_module("proj_2", nn::Linear(hidden_dims, dims, /*bias=*/false))) {}

Array OpenELMMlp::operator()(const Array& x) {
  const std::vector<Array> halves = split(proj_1_(x), 2, -1);
  return proj_2_(silu(halves[0]) * halves[1]);
}

OpenELMBlock::OpenELMBlock(const ModelArgs& args, int layer)
    : attn_(register_module("attn", OpenELMAttention(args, layer))),
      ffn_(register_module("ffn", OpenELMMlp(args.hidden_size, LayerWidth(args, layer)))),
      ffn_norm_(register_module("ffn_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      attn_norm_(register_module("attn_norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array OpenELMBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                               const std::optional<Array>& position) {
  const Array h = x + attn_(attn_norm_(x), mask, cache, position);
  return h + ffn_(ffn_norm_(h));
}

OpenELMModel::OpenELMModel(const ModelArgs& args)
    : token_embeddings_(
          register_module("token_embeddings", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), OpenELMBlock(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array OpenELMModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("OpenELM", tokens, cache, layers_.size());
  Array h = token_embeddings_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

OpenELM::OpenELM(ModelArgs args)
    : args_(std::move(args)), transformer_(register_module("transformer", OpenELMModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array OpenELM::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = transformer_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : transformer_.token_embeddings().as_linear(h);
}

}  // namespace ferry::lm
