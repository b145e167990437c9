#include "client/lm/mamba2.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/lm/conv_weights.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/model_inputs.h"
#include "client/lm/ssm.h"
#include "client/ops.h"

namespace ferry::lm {

MambaRMSNormGated::MambaRMSNormGated(int64_t dims, float eps, bool before_gate, int groups)
    : eps_(eps), before_gate_(before_gate), groups_(groups) {
  register_parameter("weight", ones({dims}));
}

Array MambaRMSNormGated::operator()(const Array& x, const Array& gate) {
  if (before_gate_) return silu(gate) * fast::rms_norm(x, parameter("weight"), eps_);
  if (groups_ > 1) {
    Shape grouped = x.shape();
    grouped.back() = groups_;
    grouped.push_back(x.shape(-1) / groups_);
    const Array normed = fast::rms_norm(reshape(silu(gate) * x, grouped), std::nullopt, eps_);
    return parameter("weight") * flatten(normed, -2, -1);
  }
  return fast::rms_norm(silu(gate) * x, parameter("weight"), eps_);
}

Mamba2Mixer::Mamba2Mixer(const ModelArgs& args, bool cast_d)
    : heads_(args.mamba_n_heads),
      groups_(args.mamba_n_groups),
      kernel_(args.mamba_d_conv),
      head_dim_(args.mamba_d_head),
      state_size_(args.mamba_d_state),
      inner_(heads_ * head_dim_),
      conv_dim_(inner_ + 2 * groups_ * state_size_),
      chunk_(args.mamba_chunk_size),
      time_step_limit_(args.time_step_limit),
      cast_d_(cast_d),
      in_proj_(register_module("in_proj", nn::Linear(args.hidden_size, inner_ + conv_dim_ + heads_,
                                                     args.mamba_proj_bias))),
      conv1d_(
          register_module("conv1d", nn::Conv1d(conv_dim_, conv_dim_, kernel_, 1, 0, 1,
                                               static_cast<int>(conv_dim_), args.mamba_conv_bias))),
      out_proj_(register_module("out_proj",
                                nn::Linear(inner_, args.hidden_size,
                                           args.projectors_bias.value_or(args.mamba_proj_bias)))) {
  if (args.mamba_rms_norm) {
    norm_ = &register_module(
        "norm", MambaRMSNormGated(inner_, args.rms_norm_eps, args.mamba_norm_before_gate,
                                  args.mamba_norm_per_group ? groups_ : 1));
  }
  register_parameter("dt_bias", ones({heads_}));
  register_parameter("A_log", log(arange(1, heads_ + 1, float32)));  // mlx-lm's
  register_parameter("D", ones({heads_}));
}

Array Mamba2Mixer::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  if (cache && !cache->is_arrays()) {
    detail::ThrowOpError("Mamba2Mixer",
                         "a mamba layer's cache is KVCache::arrays(2) (the model's make_cache() "
                         "or make_prompt_cache()), not one of keys and values.");
  }
  const std::vector<Array> parts = split(in_proj_(x), {inner_, inner_ + conv_dim_}, -1);
  const Array& gate = parts[0];
  // A padded step's conv input is zero, as the inputs before a sequence's first token.
  const Array conv_input = mask ? where(expand_dims(*mask, -1), parts[1], 0) : parts[1];
  // The convolution continues the last kernel - 1 inputs it saw (zeros at the start).
  const Array conv_state = cache && cache->array(0) ? *cache->array(0)
                                                    : zeros({batch, kernel_ - 1, conv_dim_},
                                                            conv_input.dtype(), x.device());
  const Array padded = concatenate({conv_state, conv_input}, 1);
  if (cache) {
    cache->set_array(0, slice(padded, {0, length, 0}, {batch, length + kernel_ - 1, conv_dim_}));
  }
  const std::vector<Array> xbc =
      split(silu(conv1d_(padded)), {inner_, inner_ + groups_ * state_size_}, -1);
  const Array D = cast_d_ ? astype(parameter("D"), x.dtype()) : parameter("D");
  std::pair<Array, Array> out = ssm_attn(
      reshape(xbc[0], {batch, length, heads_, head_dim_}), parameter("A_log"),
      reshape(xbc[1], {batch, length, groups_, state_size_}),
      reshape(xbc[2], {batch, length, groups_, state_size_}), D, parts[2], parameter("dt_bias"),
      cache ? cache->array(1) : std::nullopt, time_step_limit_, mask, chunk_);
  if (cache) {
    cache->set_array(1, out.second);
    cache->advance(length);
  }
  const Array y = reshape(out.first, {batch, length, inner_});
  return out_proj_(norm_ ? (*norm_)(y, gate) : silu(gate) * y);
}

Mamba2ResidualBlock::Mamba2ResidualBlock(const ModelArgs& args)
    : mixer_(register_module("mixer", Mamba2Mixer(args, /*cast_d=*/false))),
      norm_(register_module("norm", nn::RMSNorm(args.hidden_size))) {}

Array Mamba2ResidualBlock::operator()(const Array& x, const std::optional<Array>& mask,
                                      KVCache* cache) {
  return x + mixer_(norm_(x), mask, cache);
}

Mamba2Backbone::Mamba2Backbone(const ModelArgs& args)
    : embeddings_(register_module("embeddings", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Mamba2ResidualBlock(args)));
  }
  norm_f_ = &register_module("norm_f", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Mamba2Backbone::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Mamba2", tokens, cache, layers_.size());
  Array h = embeddings_(tokens);
  // A batch's padding, from the first layer's cache: the caches advance together.
  const std::optional<Array> mask = cache && cache->front().is_arrays()
                                        ? cache->front().arrays_mask(tokens.shape(1))
                                        : std::nullopt;
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, mask, cache ? &(*cache)[i] : nullptr);
    });
  }
  return (*norm_f_)(h);
}

Mamba2::Mamba2(ModelArgs args)
    : args_(std::move(args)), backbone_(register_module("backbone", Mamba2Backbone(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Mamba2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = backbone_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : backbone_.embeddings().as_linear(h);
}

std::vector<KVCache> Mamba2::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) cache.push_back(KVCache::arrays(2));
  return cache;
}

nn::Parameters Mamba2::sanitize(nn::Parameters weights) const {
  return sanitize_conv_weights(std::move(weights), "conv1d.weight");
}

}  // namespace ferry::lm
