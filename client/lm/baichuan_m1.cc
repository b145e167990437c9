#include "client/lm/baichuan_m1.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

constexpr char kOp[] = "BaichuanM1";

int HeadsOf(int own, int fallback, bool sliding) { return sliding && own > 0 ? own : fallback; }

// Layer i's cache: a list of an arrays cache and a KV one (make_cache's).
void CheckLayerCache(const KVCache* cache) {
  if (cache && !(cache->is_list() && cache->parts() == 2 && cache->part(0).is_arrays())) {
    detail::ThrowOpError(kOp,
                         "a layer's cache is a KVCache::list of an arrays cache and a plain or "
                         "rotating one (make_cache()'s).");
  }
}

}  // namespace

BaichuanM1Attention::BaichuanM1Attention(const ModelArgs& args, bool sliding)
    : heads_(HeadsOf(args.num_swa_attention_heads, args.num_attention_heads, sliding)),
      kv_heads_(HeadsOf(args.num_swa_key_value_heads, args.num_key_value_heads, sliding)),
      head_dim_(args.hidden_size / heads_),
      w_pack_(register_module(
          "W_pack",
          nn::Linear(args.hidden_size, args.hidden_size + 2 * kv_heads_ * head_dim_, false))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false))),
      rope_(head_dim_, args) {
  register_parameter("conv_k", zeros({1, 1, kv_heads_, 1, 2}));
  register_parameter("conv_v", zeros({1, 1, kv_heads_, 1, 2}));
}

Array BaichuanM1Attention::Convolve(const Array& u, const Array& weights,
                                    const std::optional<Array>& state) const {
  const int64_t batch = u.shape(0), length = u.shape(2), dims = u.shape(3);
  const Array w = reshape(weights, {1, kv_heads_, 2, 1, 1});
  const Array w0 =
      reshape(slice(w, {0, 0, 0, 0, 0}, {1, kv_heads_, 1, 1, 1}), {1, kv_heads_, 1, 1});
  const Array w1 =
      reshape(slice(w, {0, 0, 1, 0, 0}, {1, kv_heads_, 2, 1, 1}), {1, kv_heads_, 1, 1});
  const Array before = state ? *state : zeros({batch, kv_heads_, 1, dims}, u.dtype(), u.device());
  const Array previous =
      length > 1
          ? concatenate({before, slice(u, {0, 0, 0, 0}, {batch, kv_heads_, length - 1, dims})}, 2)
          : before;
  return previous * w0 + u * w1;
}

Array BaichuanM1Attention::operator()(const Array& x, const std::optional<Array>& mask,
                                      KVCache* cache, const std::optional<Array>& position) {
  CheckLayerCache(cache);
  const int64_t batch = x.shape(0), length = x.shape(1), hidden = x.shape(2);
  const Array proj = w_pack_(x);
  const int64_t kv_width = kv_heads_ * head_dim_;
  auto heads = [&](int64_t start, int64_t stop, int count) {
    return transpose(reshape(slice_last_axis(proj, start, stop), {batch, length, count, head_dim_}),
                     {0, 2, 1, 3});
  };
  const Array q = heads(0, hidden, heads_);
  Array k_init = heads(hidden, hidden + kv_width, kv_heads_);
  Array v_init = heads(hidden + kv_width, hidden + 2 * kv_width, kv_heads_);
  KVCache* states = cache ? &cache->part(0) : nullptr;
  // A batch's left padding (KVCache::arrays_mask) convolved as zeros: each row's first key and
  // value see none before them, as alone (mlx-lm's BatchGenerator right-pads, so they do).
  if (states) {
    if (const std::optional<Array> real = states->arrays_mask(length)) {
      const Array keep = expand_dims(expand_dims(*real, 1), -1);
      k_init = where(keep, k_init, zeros_like(k_init));
      v_init = where(keep, v_init, zeros_like(v_init));
    }
  }
  KVCache* keys_cache = cache ? &cache->part(1) : nullptr;
  Array k = Convolve(k_init, parameter("conv_k"), states ? states->array(0) : std::nullopt);
  const Array v = Convolve(v_init, parameter("conv_v"), states ? states->array(1) : std::nullopt);
  const std::optional<Array> at =
      keys_cache ? std::optional<Array>(keys_cache->rope_offset(*position)) : position;
  const Array queries = rope_(q, at);
  k = rope_(k, at);
  if (states && length > 0) {
    // The last key and value before the convolution: the next call's first previous ones.
    const int64_t dims = head_dim_;
    states->set_array(0, slice(k_init, {0, 0, length - 1, 0}, {batch, kv_heads_, length, dims}));
    states->set_array(1, slice(v_init, {0, 0, length - 1, 0}, {batch, kv_heads_, length, dims}));
    states->advance(length);
  }
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_)));
  const Array out = attention(queries, k, v, keys_cache, position, scale, mask);
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

BaichuanM1Block::BaichuanM1Block(const ModelArgs& args, bool sliding)
    : self_attn_(register_module("self_attn", BaichuanM1Attention(args, sliding))),
      mlp_(register_module("mlp", Mlp(args.hidden_size, args.intermediate_size))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array BaichuanM1Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

BaichuanM1Model::BaichuanM1Model(const ModelArgs& args)
    : window_(args.sliding_window),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    const bool sliding = static_cast<size_t>(i) < args.layer_types.size() &&
                         args.layer_types[static_cast<size_t>(i)] == "sliding_attention";
    sliding_.push_back(sliding);
    layers_.push_back(&register_module(absl::StrCat("layers.", i), BaichuanM1Block(args, sliding)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array BaichuanM1Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs(kOp, tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const int64_t length = tokens.shape(1);
  // Without a cache, the causal mask and, past the window, the sliding one (mlx-lm's
  // create_attention_mask). With one, each kind's from the first layer of its kind, the
  // position from the first layer's keys: every layer's caches advance together.
  LayerMasks masks = layer_masks(length, tokens.device(), nullptr, window_);
  if (cache) {
    for (const KVCache& c : *cache) CheckLayerCache(&c);
    masks.position = cache->front().part(1).offset_array(tokens.device());
    const auto first = [&](bool sliding) -> const KVCache* {
      for (size_t i = 0; i < layers_.size(); ++i) {
        if (sliding_[i] == sliding) return &(*cache)[i].part(1);
      }
      return nullptr;
    };
    if (const KVCache* global = first(false)) {
      masks.global = global->make_mask(length, *masks.position);
    }
    if (const KVCache* sliding = first(true)) {
      masks.sliding = sliding->make_mask(length, *masks.position, window_);
    }
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    const std::optional<Array>& mask = sliding_[i] ? masks.sliding : masks.global;
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, mask, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

BaichuanM1::BaichuanM1(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", BaichuanM1Model(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array BaichuanM1::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

std::vector<KVCache> BaichuanM1::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    const bool sliding = static_cast<size_t>(i) < args_.layer_types.size() &&
                         args_.layer_types[static_cast<size_t>(i)] == "sliding_attention";
    cache.push_back(KVCache::list(
        {KVCache::arrays(2), sliding ? KVCache::rotating(args_.sliding_window) : KVCache()}));
  }
  return cache;
}

nn::Parameters BaichuanM1::sanitize(nn::Parameters weights) const {
  const bool quantized = std::any_of(weights.begin(), weights.end(),
                                     [](const auto& w) { return w.first == "lm_head.scales"; });
  if (quantized) return weights;
  for (auto& [name, weight] : weights) {
    if (name != "lm_head.weight") continue;
    const Array w = astype(weight, float32);
    const Array norm = sqrt(sum(square(w), -1, /*keepdims=*/true));
    weight = astype(w / (norm + 1e-7f), weight.dtype());
  }
  return weights;
}

}  // namespace ferry::lm
