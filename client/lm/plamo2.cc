#include "client/lm/plamo2.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/lm/attention.h"
#include "client/lm/conv_weights.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/lm/ssm.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool IsMamba(const ModelArgs& args, int layer) {
  return args.layer_types.at(static_cast<size_t>(layer)) == "mamba";
}

}  // namespace

Plamo2RMSNorm::Plamo2RMSNorm(int64_t dims, float eps, float offset) : eps_(eps), offset_(offset) {
  register_parameter("weight", zeros({dims}));
}

Array Plamo2RMSNorm::operator()(const Array& x) {
  return fast::rms_norm(x, parameter("weight") + offset_, eps_);
}

Plamo2Mamba::Plamo2Mamba(const ModelArgs& args)
    : heads_(args.mamba_n_heads),
      head_dim_(args.mamba_d_head),
      state_size_(args.mamba_d_state),
      inner_(heads_ * head_dim_),
      dt_dim_(std::max<int64_t>(64, args.hidden_size / 16)),
      kernel_(args.mamba_d_conv),
      eps_(args.rms_norm_eps),
      time_step_limit_(args.time_step_limit),
      in_proj_(register_module("in_proj", nn::Linear(args.hidden_size, 2 * inner_, false))),
      conv1d_(register_module("conv1d", nn::Conv1d(inner_, inner_, kernel_, 1, 0, 1,
                                                   static_cast<int>(inner_), /*bias=*/false))),
      bcdt_proj_(
          register_module("bcdt_proj", nn::Linear(inner_, dt_dim_ + 2 * state_size_, false))),
      dt_proj_(register_module("dt_proj", nn::Linear(dt_dim_, heads_, false))),
      out_proj_(register_module("out_proj", nn::Linear(inner_, args.hidden_size, false))) {
  register_parameter("dt_bias", zeros({heads_}));
  register_parameter("A_log", log(arange(1, heads_ + 1, float32)));  // mlx-lm's
  register_parameter("D", ones({heads_}));
  register_parameter("dt_norm_weight", ones({dt_dim_}));
  register_parameter("B_norm_weight", ones({state_size_}));
  register_parameter("C_norm_weight", ones({state_size_}));
}

Array Plamo2Mamba::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  if (cache && !cache->is_arrays()) {
    detail::ThrowOpError("Plamo2Mamba",
                         "a mamba layer's cache is KVCache::arrays(2) (the model's make_cache() "
                         "or make_prompt_cache()), not one of keys and values.");
  }
  // Each head's gate, then its input.
  const std::vector<Array> zx =
      split(reshape(in_proj_(x), {batch, length, heads_, -1}), Shape{head_dim_}, -1);
  const Array input = reshape(zx[1], {batch, length, inner_});
  // A padded step's conv input is zero, as the inputs before a sequence's first token.
  const Array conv_input = mask ? where(expand_dims(*mask, -1), input, 0) : input;
  // The convolution continues the last kernel - 1 inputs it saw (zeros at the start).
  const Array conv_state = cache && cache->array(0) ? *cache->array(0)
                                                    : zeros({batch, kernel_ - 1, inner_},
                                                            conv_input.dtype(), x.device());
  const Array padded = concatenate({conv_state, conv_input}, 1);
  if (cache) {
    cache->set_array(0, slice(padded, {0, length, 0}, {batch, length + kernel_ - 1, inner_}));
  }
  const Array conv_out = silu(conv1d_(padded));
  const std::vector<Array> bcdt =
      split(bcdt_proj_(conv_out), Shape{state_size_, 2 * state_size_}, -1);
  const Array B = fast::rms_norm(bcdt[0], parameter("B_norm_weight"), eps_);
  const Array C = fast::rms_norm(bcdt[1], parameter("C_norm_weight"), eps_);
  const Array dt = dt_proj_(fast::rms_norm(bcdt[2], parameter("dt_norm_weight"), eps_));
  std::pair<Array, Array> out = ssm_attn(
      reshape(conv_out, {batch, length, heads_, head_dim_}), parameter("A_log"),
      reshape(B, {batch, length, 1, state_size_}), reshape(C, {batch, length, 1, state_size_}),
      parameter("D"), dt, parameter("dt_bias"), cache ? cache->array(1) : std::nullopt,
      time_step_limit_, mask, kSsmChunk);
  if (cache) {
    cache->set_array(1, out.second);
    cache->advance(length);
  }
  const Array y = reshape(out.first, {batch, length, inner_});
  return out_proj_(silu(reshape(zx[0], {batch, length, inner_})) * y);
}

Plamo2Attention::Plamo2Attention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      qkv_proj_(register_module(
          "qkv_proj",
          nn::Linear(args.hidden_size, (heads_ + 2 * kv_heads_) * head_dim_, /*bias=*/false))),
      o_proj_(register_module("o_proj",
                              nn::Linear(heads_ * head_dim_, args.hidden_size, /*bias=*/false))),
      rope_(head_dim_, args) {
  register_parameter("q_weight", ones({heads_, head_dim_}));
  register_parameter("k_weight", ones({kv_heads_, head_dim_}));
}

Array Plamo2Attention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const std::vector<Array> qkv =
      split(qkv_proj_(x), Shape{heads_ * head_dim_, (heads_ + kv_heads_) * head_dim_}, -1);
  auto heads = [&](const Array& y, int count) {
    return transpose(reshape(y, {batch, length, count, head_dim_}), {0, 2, 1, 3});
  };
  // Weightless norms, then each head's own row of weights.
  const Array queries = fast::rms_norm(heads(qkv[0], heads_), std::nullopt, 1e-6f) *
                        expand_dims(parameter("q_weight"), 1);
  const Array keys = fast::rms_norm(heads(qkv[1], kv_heads_), std::nullopt, 1e-6f) *
                     expand_dims(parameter("k_weight"), 1);
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim_), -0.5));
  const Array out = attention(rope_(queries, at), rope_(keys, at), heads(qkv[2], kv_heads_), cache,
                              position, scale, mask);
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

Plamo2Mlp::Plamo2Mlp(const ModelArgs& args)
    : gate_up_proj_(register_module(
          "gate_up_proj", nn::Linear(args.hidden_size, 2 * args.intermediate_size, false))),
      down_proj_(register_module("down_proj",
                                 nn::Linear(args.intermediate_size, args.hidden_size, false))) {}

Array Plamo2Mlp::operator()(const Array& x) {
  const std::vector<Array> halves = split(gate_up_proj_(x), 2, -1);
  return down_proj_(silu(halves[0]) * halves[1]);
}

Plamo2Block::Plamo2Block(const ModelArgs& args, int layer) {
  if (IsMamba(args, layer)) {
    mamba_ = &register_module("mixer", Plamo2Mamba(args));
  } else {
    attention_ = &register_module("mixer", Plamo2Attention(args));
  }
  mlp_ = &register_module("mlp", Plamo2Mlp(args));
  const int64_t dims = args.hidden_size;
  const float eps = args.rms_norm_eps;
  pre_mixer_norm_ = &register_module("pre_mixer_norm", Plamo2RMSNorm(dims, eps, 1.0f));
  post_mixer_norm_ = &register_module("post_mixer_norm", Plamo2RMSNorm(dims, eps, 1.0f / 5));
  pre_mlp_norm_ = &register_module("pre_mlp_norm", Plamo2RMSNorm(dims, eps, 1.0f));
  post_mlp_norm_ = &register_module(
      "post_mlp_norm", Plamo2RMSNorm(dims, eps, static_cast<float>(1.0 / std::pow(5.0, 1.5))));
}

Array Plamo2Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                              const std::optional<Array>& position) {
  const Array normed = (*pre_mixer_norm_)(x);
  const Array mixed =
      mamba_ ? (*mamba_)(normed, mask, cache) : (*attention_)(normed, mask, cache, position);
  const Array h = x + (*post_mixer_norm_)(mixed);
  return h + (*post_mlp_norm_)((*mlp_)((*pre_mlp_norm_)(h)));
}

Plamo2Decoder::Plamo2Decoder(const ModelArgs& args) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Plamo2Block(args, i)));
  }
}

Array Plamo2Decoder::operator()(const Array& h, std::vector<KVCache>* cache) {
  // The attention layers' position and mask and the Mamba layers' (a batch's padding), from
  // one cache of each kind: the caches advance together.
  const LayerMasks masks = hybrid_masks(h.shape(1), h.device(), cache);
  Array out = h;
  for (size_t i = 0; i < layers_.size(); ++i) {
    out = call_block(*layers_[i], out, [=](const Array& x) {
      return (*layers_[i])(x, layers_[i]->is_mamba() ? masks.arrays : masks.global,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return out;
}

Plamo2Model::Plamo2Model(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))),
      layers_(register_module("layers", Plamo2Decoder(args))) {
  norm_ = &register_module("norm", Plamo2RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Plamo2Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Plamo2", tokens, cache, layers_.size());
  return (*norm_)(layers_(embed_tokens_(tokens), cache));
}

Plamo2::Plamo2(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Plamo2Model(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Plamo2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

std::vector<KVCache> Plamo2::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(IsMamba(args_, i) ? KVCache::arrays(2) : KVCache());
  }
  return cache;
}

nn::Parameters Plamo2::sanitize(nn::Parameters weights) const {
  return sanitize_conv_weights(std::move(weights), "conv1d.weight");
}

}  // namespace ferry::lm
