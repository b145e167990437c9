#include "client/lm/mamba.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/lm/conv_weights.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

MambaMixer::MambaMixer(const ModelArgs& args)
    : kernel_(args.mamba_d_conv),
      inner_(args.intermediate_size),
      state_size_(args.mamba_d_state),
      rank_(args.time_step_rank),
      bcdt_rms_(args.use_bcdt_rms),
      mixer_eps_(args.mixer_rms_eps),
      in_proj_(register_module("in_proj",
                               nn::Linear(args.hidden_size, 2 * inner_, args.mamba_proj_bias))),
      conv1d_(
          register_module("conv1d", nn::Conv1d(inner_, inner_, kernel_, 1, 0, 1,
                                               static_cast<int>(inner_), args.mamba_conv_bias))),
      x_proj_(register_module("x_proj", nn::Linear(inner_, rank_ + 2 * state_size_, false))),
      dt_proj_(register_module("dt_proj", nn::Linear(rank_, inner_, true))),
      out_proj_(
          register_module("out_proj", nn::Linear(inner_, args.hidden_size, args.mamba_proj_bias))) {
  // mlx-lm's: A_log = log(1..state) for every channel, D ones.
  register_parameter(
      "A_log", log(broadcast_to(reshape(arange(1, state_size_ + 1, float32), {1, state_size_}),
                                {inner_, state_size_})));
  register_parameter("D", ones({inner_}));
}

Array MambaMixer::operator()(const Array& input, KVCache* cache) {
  const int64_t batch = input.shape(0), length = input.shape(1);
  if (cache && !cache->is_arrays()) {
    detail::ThrowOpError("MambaMixer",
                         "a mamba layer's cache is KVCache::arrays(2) (the model's make_cache() "
                         "or make_prompt_cache()), not one of keys and values.");
  }
  const std::vector<Array> xz = split(in_proj_(input), 2, -1);
  // The convolution continues the last kernel - 1 inputs it saw (zeros at the start).
  const Array conv_state = cache && cache->array(0)
                               ? *cache->array(0)
                               : zeros({batch, kernel_ - 1, inner_}, xz[0].dtype(), input.device());
  const Array padded = concatenate({conv_state, xz[0]}, 1);
  if (cache) {
    cache->set_array(0, slice(padded, {0, length, 0}, {batch, length + kernel_ - 1, inner_}));
  }
  const Array x = silu(conv1d_(padded));
  const Array A = -exp(parameter("A_log"));
  // x_proj and dt_proj act on each step alone: all the steps at once, then the recurrence.
  const std::vector<Array> dbc = split(x_proj_(x), {rank_, rank_ + state_size_}, -1);
  Array delta = dbc[0], B = dbc[1], C = dbc[2];
  if (bcdt_rms_) {
    delta = fast::rms_norm(delta, std::nullopt, mixer_eps_);
    B = fast::rms_norm(B, std::nullopt, mixer_eps_);
    C = fast::rms_norm(C, std::nullopt, mixer_eps_);
  }
  delta = softplus(dt_proj_(delta));
  std::optional<Array> state = cache ? cache->array(1) : std::nullopt;
  std::vector<Array> ys;
  for (int64_t t = 0; t < length; ++t) {
    auto step = [&](const Array& a) {
      return squeeze(slice(a, {0, t, 0}, {batch, t + 1, a.shape(2)}), 1);
    };
    const Array dt = step(delta), xt = step(x), bt = step(B), ct = step(C);
    Array next = expand_dims(dt * xt, -1) * expand_dims(bt, 1);
    if (state) next = next + *state * exp(expand_dims(dt, -1) * A);
    state = next;
    ys.push_back(squeeze(matmul(next, expand_dims(ct, -1)), 2) + parameter("D") * xt);
  }
  if (cache) {
    cache->set_array(1, *state);
    cache->advance(length);
  }
  return out_proj_(silu(xz[1]) * stack(ys, 1));
}

MambaResidualBlock::MambaResidualBlock(const ModelArgs& args)
    : mixer_(register_module("mixer", MambaMixer(args))),
      norm_(register_module("norm", nn::RMSNorm(args.hidden_size))) {}

Array MambaResidualBlock::operator()(const Array& x, KVCache* cache) {
  return mixer_(norm_(x), cache) + x;
}

MambaBackbone::MambaBackbone(const ModelArgs& args)
    : embeddings_(register_module("embeddings", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), MambaResidualBlock(args)));
  }
  norm_f_ = &register_module("norm_f", nn::RMSNorm(args.hidden_size));
}

Array MambaBackbone::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Mamba", tokens, cache, layers_.size());
  Array h = embeddings_(tokens);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, cache ? &(*cache)[i] : nullptr);
    });
  }
  return (*norm_f_)(h);
}

Mamba::Mamba(ModelArgs args)
    : args_(std::move(args)), backbone_(register_module("backbone", MambaBackbone(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Mamba::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = backbone_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : backbone_.embeddings().as_linear(h);
}

std::vector<KVCache> Mamba::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) cache.push_back(KVCache::arrays(2));
  return cache;
}

nn::Parameters Mamba::sanitize(nn::Parameters weights) const {
  return sanitize_conv_weights(std::move(weights), "conv1d.weight");
}

}  // namespace ferry::lm
