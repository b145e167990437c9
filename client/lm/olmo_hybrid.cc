#include "client/lm/olmo_hybrid.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/conv_weights.h"
#include "client/lm/gated_delta.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool IsLinear(const ModelArgs& args, int layer) {
  return args.layer_types.at(static_cast<size_t>(layer)) == "linear_attention";
}

nn::Conv1d DepthwiseConv(int64_t channels, int kernel) {
  return nn::Conv1d(channels, channels, kernel, 1, 0, 1, static_cast<int>(channels),
                    /*bias=*/false);
}

}  // namespace

OlmoHybridGatedDeltaNet::OlmoHybridGatedDeltaNet(const ModelArgs& args)
    : key_heads_(args.linear_num_key_heads),
      value_heads_(args.linear_num_value_heads),
      key_head_dim_(args.linear_key_head_dim),
      value_head_dim_(args.linear_value_head_dim),
      conv_kernel_(args.linear_conv_kernel_dim),
      allow_neg_eigval_(args.linear_allow_neg_eigval),
      q_proj_(register_module(
          "q_proj", nn::Linear(args.hidden_size, key_heads_ * key_head_dim_, /*bias=*/false))),
      k_proj_(register_module(
          "k_proj", nn::Linear(args.hidden_size, key_heads_ * key_head_dim_, /*bias=*/false))),
      v_proj_(register_module("v_proj",
                              nn::Linear(args.hidden_size, value_heads_ * value_head_dim_, false))),
      a_proj_(register_module("a_proj", nn::Linear(args.hidden_size, value_heads_, false))),
      b_proj_(register_module("b_proj", nn::Linear(args.hidden_size, value_heads_, false))),
      g_proj_(register_module("g_proj",
                              nn::Linear(args.hidden_size, value_heads_ * value_head_dim_, false))),
      o_proj_(register_module("o_proj",
                              nn::Linear(value_heads_ * value_head_dim_, args.hidden_size, false))),
      q_conv1d_(
          register_module("q_conv1d", DepthwiseConv(key_heads_ * key_head_dim_, conv_kernel_))),
      k_conv1d_(
          register_module("k_conv1d", DepthwiseConv(key_heads_ * key_head_dim_, conv_kernel_))),
      v_conv1d_(
          register_module("v_conv1d", DepthwiseConv(value_heads_ * value_head_dim_, conv_kernel_))),
      o_norm_(register_module("o_norm", RMSNormGated(value_head_dim_, args.mixer_rms_eps))) {
  register_parameter("A_log", zeros({value_heads_}));
  register_parameter("dt_bias", zeros({value_heads_}));
}

Array OlmoHybridGatedDeltaNet::Conv(const Array& x, nn::Conv1d& conv, KVCache* cache, int slot) {
  const int64_t batch = x.shape(0), length = x.shape(1), channels = x.shape(2);
  const int64_t keep = conv_kernel_ - 1;
  const Array state = cache && cache->array(slot)
                          ? *cache->array(slot)
                          : zeros({batch, keep, channels}, x.dtype(), x.device());
  const Array padded = concatenate({state, x}, 1);
  if (cache)
    cache->set_array(slot, slice(padded, {0, length, 0}, {batch, length + keep, channels}));
  return silu(conv(padded));
}

Array OlmoHybridGatedDeltaNet::operator()(const Array& x, KVCache* cache,
                                          const std::optional<Array>& mask) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  if (cache && !cache->is_arrays()) {
    detail::ThrowOpError("OlmoHybridGatedDeltaNet",
                         "a linear-attention layer's cache is KVCache::arrays(4) (the model's "
                         "make_cache() or make_prompt_cache()), not one of keys and values.");
  }
  // A padded step's conv inputs are zeros, as the conv state before a sequence's first token:
  // a row of a batch continues as it would alone. (mlx-lm's conv takes the padding in; its
  // BatchGenerator's right-padded rows then differ from their tokens alone.)
  auto masked = [&](const Array& y) { return mask ? where(expand_dims(*mask, -1), y, 0) : y; };
  const Array q = Conv(masked(q_proj_(x)), q_conv1d_, cache, 0);
  const Array k = Conv(masked(k_proj_(x)), k_conv1d_, cache, 1);
  const Array v = Conv(masked(v_proj_(x)), v_conv1d_, cache, 2);
  const auto [qn, kn] = normalize_qk(reshape(q, {batch, length, key_heads_, key_head_dim_}),
                                     reshape(k, {batch, length, key_heads_, key_head_dim_}),
                                     std::pow(static_cast<double>(key_head_dim_), -0.5), 1e-6);
  const auto [out, state] =
      gated_delta_update(qn, kn, reshape(v, {batch, length, value_heads_, value_head_dim_}),
                         a_proj_(x), b_proj_(x), parameter("A_log"), parameter("dt_bias"),
                         cache ? cache->array(3) : std::nullopt, mask, allow_neg_eigval_);
  if (cache) {
    cache->set_array(3, state);
    cache->advance(length);
  }
  const Array normed =
      o_norm_(reshape(out, {-1, value_head_dim_}), reshape(g_proj_(x), {-1, value_head_dim_}));
  return o_proj_(reshape(normed, {batch, length, -1}));
}

OlmoHybridBlock::OlmoHybridBlock(const ModelArgs& args, int layer) {
  if (IsLinear(args, layer)) {
    linear_attn_ = &register_module("linear_attn", OlmoHybridGatedDeltaNet(args));
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
    input_layernorm_ =
        &register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
    post_attention_layernorm_ = &register_module("post_attention_layernorm",
                                                 nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  } else {
    self_attn_ = &register_module("self_attn", Attention(args));
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
    post_attention_layernorm_ = &register_module("post_attention_layernorm",
                                                 nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
    post_feedforward_layernorm_ = &register_module(
        "post_feedforward_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  }
}

Array OlmoHybridBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  if (linear_attn_) {
    const Array h = x + (*linear_attn_)((*input_layernorm_)(x), cache, mask);
    return h + (*mlp_)((*post_attention_layernorm_)(h));
  }
  const Array h = x + (*post_attention_layernorm_)((*self_attn_)(x, mask, cache, position));
  return h + (*post_feedforward_layernorm_)((*mlp_)(h));
}

OlmoHybridModel::OlmoHybridModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), OlmoHybridBlock(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array OlmoHybridModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("OlmoHybrid", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  // The full layers' position and mask and the linear layers' (a batch's padding), from one
  // cache of each kind: the caches advance together.
  const LayerMasks masks = hybrid_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, layers_[i]->is_linear() ? masks.arrays : masks.global,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

OlmoHybrid::OlmoHybrid(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", OlmoHybridModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array OlmoHybrid::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

std::vector<KVCache> OlmoHybrid::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(IsLinear(args_, i) ? KVCache::arrays(4) : KVCache());
  }
  return cache;
}

nn::Parameters OlmoHybrid::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (args_.tie_word_embeddings && name == "lm_head.weight") continue;
    kept.emplace_back(std::move(name), std::move(array));
  }
  return sanitize_conv_weights(std::move(kept), "conv1d.weight");
}

}  // namespace ferry::lm
