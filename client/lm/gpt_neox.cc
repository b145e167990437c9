#include "client/lm/gpt_neox.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/nn/activations.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

// The features RoPE rotates: int(head_dim * rotary_pct), as mlx-lm rounds it.
int64_t RopeDims(const ModelArgs& args) {
  return static_cast<int64_t>(static_cast<double>(args.head_dim) *
                              static_cast<double>(args.partial_rotary_factor));
}

}  // namespace

GptNeoxAttention::GptNeoxAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      head_dim_(args.head_dim),
      query_key_value_(register_module("query_key_value",
                                       nn::Linear(args.hidden_size, 3 * heads_ * head_dim_, true))),
      dense_(register_module("dense", nn::Linear(heads_ * head_dim_, args.hidden_size, true))),
      rope_(RopeDims(args), args) {}

Array GptNeoxAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                   const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  // Per head: its queries, keys and values side by side (Hugging Face's layout).
  const std::vector<Array> qkv =
      split(reshape(query_key_value_(x), {batch, length, heads_, 3 * head_dim_}), 3, -1);
  auto heads = [](const Array& a) { return transpose(a, {0, 2, 1, 3}); };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const Array out = attention(rope_(heads(qkv[0]), at), rope_(heads(qkv[1]), at), heads(qkv[2]),
                              cache, position, scale, mask);
  return dense_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

GptNeoxMlp::GptNeoxMlp(const ModelArgs& args)
    : dense_h_to_4h_(register_module("dense_h_to_4h",
                                     nn::Linear(args.hidden_size, 4 * args.hidden_size, true))),
      dense_4h_to_h_(register_module("dense_4h_to_h",
                                     nn::Linear(4 * args.hidden_size, args.hidden_size, true))) {}

Array GptNeoxMlp::operator()(const Array& x) {
  return dense_4h_to_h_(nn::gelu_approx(dense_h_to_4h_(x)));
}

GptNeoxBlock::GptNeoxBlock(const ModelArgs& args)
    : parallel_residual_(args.parallel_residual),
      attention_(register_module("attention", GptNeoxAttention(args))),
      mlp_(register_module("mlp", GptNeoxMlp(args))),
      input_layernorm_(
          register_module("input_layernorm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps))) {}

Array GptNeoxBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                               const std::optional<Array>& position) {
  const Array attn = attention_(input_layernorm_(x), mask, cache, position);
  // mlx-lm's order of the sums: attention plus MLP, then the residual.
  if (parallel_residual_) return attn + mlp_(post_attention_layernorm_(x)) + x;
  const Array h = x + attn;
  return h + mlp_(post_attention_layernorm_(h));
}

GptNeoxModel::GptNeoxModel(const ModelArgs& args)
    : embed_in_(register_module("embed_in", nn::Embedding(args.vocab_size, args.hidden_size))),
      embed_out_(
          register_module("embed_out", nn::Linear(args.hidden_size, args.vocab_size, false))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    h_.push_back(&register_module(absl::StrCat("h.", i), GptNeoxBlock(args)));
  }
  final_layer_norm_ =
      &register_module("final_layer_norm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps));
}

Array GptNeoxModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("GptNeox", tokens, cache, h_.size());
  Array h = embed_in_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < h_.size(); ++i) {
    h = call_block(*h_[i], h, [=](const Array& x) {
      return (*h_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return embed_out_((*final_layer_norm_)(h));
}

GptNeox::GptNeox(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", GptNeoxModel(args_))) {}

Array GptNeox::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return model_(tokens, cache);
}

nn::Parameters GptNeox::sanitize(nn::Parameters weights) const {
  nn::Parameters out;
  for (auto& [name, weight] : weights) {
    if (absl::EndsWith(name, ".attention.bias") || absl::EndsWith(name, ".attention.masked_bias") ||
        absl::EndsWith(name, ".attention.rotary_emb.inv_freq")) {
      continue;
    }
    std::string key = absl::StartsWith(name, "model.") ? name : absl::StrCat("model.", name);
    key = absl::StrReplaceAll(key, {{".gpt_neox.layers.", ".h."}});
    key = absl::StrReplaceAll(key, {{".gpt_neox.", "."}});
    out.emplace_back(std::move(key), std::move(weight));
  }
  return out;
}

}  // namespace ferry::lm
