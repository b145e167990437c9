#include "client/lm/gpt2.h"

#include <cmath>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/nn/activations.h"
#include "client/ops.h"

namespace ferry::lm {

Array learned_positions(int64_t length, const Device& device, const std::vector<KVCache>* cache,
                        const std::optional<Array>& position) {
  const Array steps = arange(0, static_cast<double>(length), int32, device);
  if (!cache) return steps;
  // mlx-lm's arange(L) + offset[..., None]: a batch's offset is each row's own (negative on
  // its padding, which the mask hides).
  return expand_dims((*cache)[0].rope_offset(*position), -1) + steps;
}

Gpt2Attention::Gpt2Attention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      c_attn_(register_module(
          "c_attn",
          nn::Linear(args.hidden_size, (heads_ + 2 * kv_heads_) * head_dim_, args.attention_bias))),
      c_proj_(register_module(
          "c_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, args.output_bias))) {}

Array Gpt2Attention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const int64_t q_end = heads_ * head_dim_, k_end = q_end + kv_heads_ * head_dim_;
  const std::vector<Array> qkv = split(c_attn_(x), Shape{q_end, k_end}, -1);
  auto heads = [&](const Array& a, int count) {
    return transpose(reshape(a, {batch, length, count, head_dim_}), {0, 2, 1, 3});
  };
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const Array out = attention(heads(qkv[0], heads_), heads(qkv[1], kv_heads_),
                              heads(qkv[2], kv_heads_), cache, position, scale, mask);
  return c_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

Gpt2Mlp::Gpt2Mlp(const ModelArgs& args, bool gelu_approx)
    : gelu_approx_(gelu_approx),
      c_fc_(register_module("c_fc",
                            nn::Linear(args.hidden_size, args.intermediate_size, args.mlp_bias))),
      c_proj_(register_module(
          "c_proj", nn::Linear(args.intermediate_size, args.hidden_size, args.mlp_bias))) {}

Array Gpt2Mlp::operator()(const Array& x) {
  const Array h = c_fc_(x);
  return c_proj_(gelu_approx_ ? nn::gelu_approx(h) : gelu(h));
}

Gpt2Block::Gpt2Block(const ModelArgs& args, bool gelu_approx)
    : attn_(register_module("attn", Gpt2Attention(args))),
      mlp_(register_module("mlp", Gpt2Mlp(args, gelu_approx))),
      ln_1_(register_module("ln_1", nn::LayerNorm(args.hidden_size, args.rms_norm_eps))),
      ln_2_(register_module("ln_2", nn::LayerNorm(args.hidden_size, args.rms_norm_eps))) {}

Array Gpt2Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                            const std::optional<Array>& position) {
  const Array h = x + attn_(ln_1_(x), mask, cache, position);
  return h + mlp_(ln_2_(h));
}

Gpt2Model::Gpt2Model(const ModelArgs& args, bool gelu_approx)
    : wte_(register_module("wte", nn::Embedding(args.vocab_size, args.hidden_size))),
      wpe_(register_module("wpe", nn::Embedding(args.max_position_embeddings, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    h_.push_back(&register_module(absl::StrCat("h.", i), Gpt2Block(args, gelu_approx)));
  }
  ln_f_ = &register_module("ln_f", nn::LayerNorm(args.hidden_size, args.rms_norm_eps));
}

Array Gpt2Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Gpt2", tokens, cache, h_.size());
  const int64_t length = tokens.shape(1);
  const LayerMasks masks = causal_masks(length, tokens.device(), cache);
  Array h = wte_(tokens) + wpe_(learned_positions(length, tokens.device(), cache, masks.position));
  for (size_t i = 0; i < h_.size(); ++i) {
    h = call_block(*h_[i], h, [=](const Array& x) {
      return (*h_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*ln_f_)(h);
}

Gpt2::Gpt2(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", Gpt2Model(args_, /*gelu_approx=*/true))) {}

Array Gpt2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return model_.wte().as_linear(model_(tokens, cache));
}

nn::Parameters Gpt2::sanitize(nn::Parameters weights) const {
  std::set<std::string> dropped, transposed;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    dropped.insert(absl::StrCat("h.", i, ".attn.bias"));
    for (const char* conv1d :
         {".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight"}) {
      transposed.insert(absl::StrCat("h.", i, conv1d));
    }
  }
  nn::Parameters out;
  for (auto& [name, weight] : weights) {
    if (dropped.count(name)) continue;
    Array value = transposed.count(name) ? transpose(weight, {1, 0}) : weight;
    out.emplace_back(absl::StartsWith(name, "model.") ? name : absl::StrCat("model.", name),
                     std::move(value));
  }
  return out;
}

}  // namespace ferry::lm
