#include "client/lm/stablelm.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/fast.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/lm/phi.h"
#include "client/ops.h"

namespace ferry::lm {

StableLmHeadWeight::StableLmHeadWeight(int64_t head_dim) {
  register_parameter("weight", ones({head_dim}));
}

StableLmHeadNorm::StableLmHeadNorm(int heads, int64_t head_dim, float eps) : eps_(eps) {
  for (int i = 0; i < heads; ++i) {
    norms_.push_back(&register_module(absl::StrCat("norms.", i), StableLmHeadWeight(head_dim)));
  }
}

Array StableLmHeadNorm::operator()(const Array& x) {
  std::vector<Array> weights;
  for (const StableLmHeadWeight* norm : norms_) weights.push_back(norm->weight());
  return stack(weights, 0) * fast::layer_norm(x, std::nullopt, std::nullopt, eps_);
}

StableLmAttention::StableLmAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module(
          "q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, args.attention_bias))),
      k_proj_(register_module(
          "k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      v_proj_(register_module(
          "v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false))),
      rope_(partial_rope_dims(args), args) {
  if (args.qk_norm) {
    q_layernorm_ =
        &register_module("q_layernorm", StableLmHeadNorm(heads_, head_dim_, args.rms_norm_eps));
    k_layernorm_ =
        &register_module("k_layernorm", StableLmHeadNorm(kv_heads_, head_dim_, args.rms_norm_eps));
  }
}

Array StableLmAttention::operator()(const Array& x, const std::optional<Array>& mask,
                                    KVCache* cache, const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  Array queries = reshape(q_proj_(x), {batch, length, heads_, head_dim_});
  Array keys = reshape(k_proj_(x), {batch, length, kv_heads_, head_dim_});
  if (q_layernorm_) {  // per head, before the heads move ahead of the positions
    queries = (*q_layernorm_)(queries);
    keys = (*k_layernorm_)(keys);
  }
  const Array values =
      transpose(reshape(v_proj_(x), {batch, length, kv_heads_, head_dim_}), {0, 2, 1, 3});
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  queries = rope_(transpose(queries, {0, 2, 1, 3}), at);
  keys = rope_(transpose(keys, {0, 2, 1, 3}), at);
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(head_dim_)));
  // mlx-lm attends in float32 (its keys cast after the cache, which keeps them in their own
  // dtype, as this cache does), back to the values' dtype after.
  const Array out =
      astype(attention(astype(queries, float32), keys, values, cache, position, scale, mask),
             values.dtype());
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

StableLmBlock::StableLmBlock(const ModelArgs& args)
    : self_attn_(register_module("self_attn", StableLmAttention(args))),
      mlp_(register_module("mlp", Mlp(args))),
      input_layernorm_(
          register_module("input_layernorm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps))) {
  if (!args.parallel_residual) {
    post_attention_layernorm_ = &register_module(
        "post_attention_layernorm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps));
  }
}

Array StableLmBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const Array h = input_layernorm_(x);
  const Array r = self_attn_(h, mask, cache, position);
  if (!post_attention_layernorm_) return x + r + mlp_(h);
  const Array attended = x + r;
  return attended + mlp_((*post_attention_layernorm_)(attended));
}

StableLmModel::StableLmModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), StableLmBlock(args)));
  }
  norm_ = &register_module("norm", nn::LayerNorm(args.hidden_size, args.rms_norm_eps));
}

Array StableLmModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("StableLM", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

StableLm::StableLm(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", StableLmModel(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array StableLm::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

}  // namespace ferry::lm
