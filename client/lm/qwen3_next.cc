#include "client/lm/qwen3_next.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/lm/attention.h"
#include "client/lm/conv_weights.h"
#include "client/lm/gated_delta.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/lm/qwen2_moe.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::lm {
namespace {

// The rotated features of each head: int(head_dim * partial_rotary_factor), as mlx-lm.
int64_t RopeDims(const ModelArgs& args) {
  return static_cast<int64_t>(static_cast<double>(args.head_dim) *
                              static_cast<double>(args.partial_rotary_factor));
}

}  // namespace

bool is_linear_layer(const ModelArgs& args, int index) {
  return (index + 1) % args.full_attention_interval != 0;
}

RMSNormGated::RMSNormGated(int64_t dims, float eps) : eps_(eps) {
  register_parameter("weight", ones({dims}));
}

Array RMSNormGated::operator()(const Array& x, const Array& gate) {
  const Array normed = fast::rms_norm(x, parameter("weight"), eps_);
  return astype(silu(astype(gate, float32)) * astype(normed, float32), x.dtype());
}

Qwen3NextAttention::Qwen3NextAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module(
          "q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_ * 2, args.attention_bias))),
      k_proj_(register_module(
          "k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      v_proj_(register_module(
          "v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, args.attention_bias))),
      o_proj_(register_module(
          "o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, args.attention_bias))),
      q_norm_(register_module("q_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      k_norm_(register_module("k_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      rope_(RopeDims(args), args) {}

Array Qwen3NextAttention::operator()(const Array& x, const std::optional<Array>& mask,
                                     KVCache* cache, const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  // Each head's queries, then its gate.
  const std::vector<Array> halves =
      split(reshape(q_proj_(x), {batch, length, heads_, 2 * head_dim_}), 2, -1);
  const Array gate = reshape(halves[1], {batch, length, heads_ * head_dim_});
  auto heads = [&](const Array& y) { return transpose(y, {0, 2, 1, 3}); };
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array queries = rope_(heads(q_norm_(halves[0])), at);
  const Array keys =
      rope_(heads(k_norm_(reshape(k_proj_(x), {batch, length, kv_heads_, head_dim_}))), at);
  const Array values = heads(reshape(v_proj_(x), {batch, length, kv_heads_, head_dim_}));
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}) *
                 sigmoid(gate));
}

GatedDeltaNet::GatedDeltaNet(const ModelArgs& args, bool fused)
    : key_heads_(args.linear_num_key_heads),
      value_heads_(args.linear_num_value_heads),
      key_head_dim_(args.linear_key_head_dim),
      value_head_dim_(args.linear_value_head_dim),
      conv_kernel_(args.linear_conv_kernel_dim),
      conv1d_(register_module("conv1d",
                              [&] {
                                const int64_t channels =
                                    2 * key_heads_ * key_head_dim_ + value_heads_ * value_head_dim_;
                                return nn::Conv1d(channels, channels, conv_kernel_, 1, 0, 1,
                                                  static_cast<int>(channels),
                                                  /*bias=*/false);
                              }())),
      norm_(register_module("norm", RMSNormGated(value_head_dim_, args.rms_norm_eps))),
      out_proj_(register_module(
          "out_proj", nn::Linear(value_heads_ * value_head_dim_, args.hidden_size, false))) {
  const int64_t key_dim = key_heads_ * key_head_dim_, value_dim = value_heads_ * value_head_dim_;
  if (fused) {
    in_proj_qkvz_ = &register_module(
        "in_proj_qkvz", nn::Linear(args.hidden_size, 2 * key_dim + 2 * value_dim, false));
    in_proj_ba_ =
        &register_module("in_proj_ba", nn::Linear(args.hidden_size, 2 * value_heads_, false));
  } else {
    in_proj_qkv_ = &register_module("in_proj_qkv",
                                    nn::Linear(args.hidden_size, 2 * key_dim + value_dim, false));
    in_proj_z_ = &register_module("in_proj_z", nn::Linear(args.hidden_size, value_dim, false));
    in_proj_b_ = &register_module("in_proj_b", nn::Linear(args.hidden_size, value_heads_, false));
    in_proj_a_ = &register_module("in_proj_a", nn::Linear(args.hidden_size, value_heads_, false));
  }
  register_parameter("dt_bias", ones({value_heads_}));
  // mlx-lm draws A uniform in [0, 16); a checkpoint replaces it.
  register_parameter("A_log", log(random::uniform({value_heads_}, float32, 0.0, 16.0)));
}

GatedDeltaNet::Projected GatedDeltaNet::Project(const Array& x) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const int64_t per_key = value_heads_ / key_heads_;
  if (!in_proj_qkvz_) {
    return {in_proj_qkv_->operator()(x),
            reshape((*in_proj_z_)(x), {batch, length, value_heads_, value_head_dim_}),
            (*in_proj_b_)(x), (*in_proj_a_)(x)};
  }
  // mlx-lm's fix_query_key_value_ordering: each key head's q, k, its value heads' v and z.
  const std::vector<Array> qkvz = split(
      reshape((*in_proj_qkvz_)(x), {batch, length, key_heads_, -1}),
      Shape{key_head_dim_, 2 * key_head_dim_, 2 * key_head_dim_ + per_key * value_head_dim_}, -1);
  const std::vector<Array> ba =
      split(reshape((*in_proj_ba_)(x), {batch, length, key_heads_, -1}), Shape{per_key}, -1);
  auto flat = [&](const Array& y) { return reshape(y, {batch, length, -1}); };
  return {concatenate({flat(qkvz[0]), flat(qkvz[1]), flat(qkvz[2])}, -1),
          reshape(qkvz[3], {batch, length, value_heads_, value_head_dim_}),
          reshape(ba[0], {batch, length, value_heads_}),
          reshape(ba[1], {batch, length, value_heads_})};
}

Array GatedDeltaNet::operator()(const Array& x, KVCache* cache, const std::optional<Array>& mask) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  if (cache && !cache->is_arrays()) {
    detail::ThrowOpError("GatedDeltaNet",
                         "a linear-attention layer's cache is KVCache::arrays(2) (the model's "
                         "make_cache() or make_prompt_cache()), not one of keys and values.");
  }
  const Projected in = Project(x);
  const int64_t channels = in.qkv.shape(-1);
  // A padded step's inputs are zeros, as the conv state before a sequence's first token.
  const Array mixed = mask ? where(expand_dims(*mask, -1), in.qkv, 0) : in.qkv;
  // The convolution continues the last kernel - 1 inputs it saw (zeros at the start).
  const Array conv_state = cache && cache->array(0)
                               ? *cache->array(0)
                               : zeros({batch, conv_kernel_ - 1, channels}, x.dtype(), x.device());
  const Array conv_input = concatenate({conv_state, mixed}, 1);
  if (cache) {
    cache->set_array(
        0, slice(conv_input, {0, length, 0}, {batch, length + conv_kernel_ - 1, channels}));
  }
  const Array conv_out = silu(conv1d_(conv_input));
  const int64_t key_dim = key_heads_ * key_head_dim_;
  const std::vector<Array> qkv = split(conv_out, Shape{key_dim, 2 * key_dim}, -1);
  const auto [q, k] = normalize_qk(reshape(qkv[0], {batch, length, key_heads_, key_head_dim_}),
                                   reshape(qkv[1], {batch, length, key_heads_, key_head_dim_}),
                                   std::pow(static_cast<double>(key_head_dim_), -0.5), 1e-6);
  const Array v = reshape(qkv[2], {batch, length, value_heads_, value_head_dim_});
  const auto [out, state] =
      gated_delta_update(q, k, v, in.a, in.b, parameter("A_log"), parameter("dt_bias"),
                         cache ? cache->array(1) : std::nullopt, mask);
  if (cache) {
    cache->set_array(1, state);
    cache->advance(length);
  }
  return out_proj_(reshape(norm_(out, in.z), {batch, length, -1}));
}

Qwen3NextBlock::Qwen3NextBlock(const ModelArgs& args, int index, bool fused) {
  if (is_linear_layer(args, index)) {
    linear_attn_ = &register_module("linear_attn", GatedDeltaNet(args, fused));
  } else {
    self_attn_ = &register_module("self_attn", Qwen3NextAttention(args));
  }
  input_layernorm_ =
      &register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  post_attention_layernorm_ = &register_module("post_attention_layernorm",
                                               nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  const std::vector<int>& dense = args.mlp_only_layers;
  const bool sparse = std::find(dense.begin(), dense.end(), index) == dense.end() &&
                      args.num_experts > 0 && (index + 1) % args.decoder_sparse_step == 0;
  if (sparse) {
    mlp_ = &register_module("mlp", Qwen2MoeSparseMoeBlock(args, args.norm_topk_prob));
  } else {
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
  }
}

Array Qwen3NextBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                 const std::optional<Array>& position) {
  const Array normed = (*input_layernorm_)(x);
  const Array h = x + (linear_attn_ ? (*linear_attn_)(normed, cache, mask)
                                    : (*self_attn_)(normed, mask, cache, position));
  return h + (*mlp_)((*post_attention_layernorm_)(h));
}

Qwen3NextModel::Qwen3NextModel(const ModelArgs& args, bool fused)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Qwen3NextBlock(args, i, fused)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Qwen3NextModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Qwen3Next", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  // The attention layers' position and mask and the linear layers' (a batch's padding),
  // from one cache of each kind: the caches advance together.
  const LayerMasks masks = hybrid_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, layers_[i]->is_linear() ? masks.arrays : masks.global,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Qwen3Next::Qwen3Next(ModelArgs args, bool fused)
    : args_(std::move(args)), model_(register_module("model", Qwen3NextModel(args_, fused))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Qwen3Next::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

std::vector<KVCache> Qwen3Next::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(is_linear_layer(args_, i) ? KVCache::arrays(2) : KVCache());
  }
  return cache;
}

nn::Parameters sanitize_conv_and_norms(nn::Parameters weights, bool shift_norms) {
  static constexpr const char* kNorms[] = {".input_layernorm.weight",
                                           ".post_attention_layernorm.weight", "model.norm.weight",
                                           ".q_norm.weight", ".k_norm.weight"};
  weights = sanitize_conv_weights(std::move(weights), "conv1d.weight");
  for (auto& [name, array] : weights) {
    const std::string& named = name;  // a lambda cannot capture a structured binding (C++17)
    const bool norm = std::any_of(std::begin(kNorms), std::end(kNorms),
                                  [&named](const char* s) { return absl::EndsWith(named, s); });
    if (shift_norms && norm && array.ndim() == 1) array = array + 1.0;
  }
  return weights;
}

nn::Parameters Qwen3Next::sanitize(nn::Parameters weights) const {
  // mlx-lm rewrites only a checkpoint with per-expert weights (Hugging Face's).
  const bool hugging_face = std::any_of(weights.begin(), weights.end(), [](const auto& w) {
    return absl::StartsWith(w.first, "model.layers.") &&
           absl::EndsWith(w.first, ".mlp.experts.0.up_proj.weight");
  });
  if (!hugging_face) return weights;
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StrContains(name, "mtp.")) continue;
    if (args_.tie_word_embeddings && name == "lm_head.weight") continue;
    kept.emplace_back(std::move(name), std::move(array));
  }
  kept = stack_experts(
      std::move(kept), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
  return sanitize_conv_and_norms(std::move(kept), /*shift_norms=*/true);
}

std::optional<std::pair<int, int>> Qwen3Next::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "mlp.gate") || absl::EndsWith(path, "shared_expert_gate")) {
    return kRouterQuantization;
  }
  return std::nullopt;
}

}  // namespace ferry::lm
