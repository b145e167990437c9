#include "client/lm/kimi_linear.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/array_node.h"
#include "client/lm/conv_weights.h"
#include "client/lm/gated_delta.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::lm {

bool is_kda_layer(const ModelArgs& args, int index) {
  const std::vector<int>& attention = args.full_attn_idxs;
  return std::find(attention.begin(), attention.end(), index) == attention.end();
}

KimiShortConv::KimiShortConv(int64_t channels, int kernel)
    : conv_(register_module("conv", nn::Conv1d(channels, channels, kernel, 1, 0, 1,
                                               static_cast<int>(channels), /*bias=*/false))),
      kernel_(kernel) {}

std::pair<Array, Array> KimiShortConv::operator()(const Array& x, const Array& state,
                                                  const std::optional<Array>& mask) {
  const int64_t batch = x.shape(0), length = x.shape(1), channels = x.shape(2);
  // A padded step's inputs are zeros, as the state before a sequence's first token.
  const Array input = concatenate({state, mask ? where(expand_dims(*mask, -1), x, 0) : x}, 1);
  return {silu(conv_(input)),
          slice(input, {0, length, 0}, {batch, length + kernel_ - 1, channels})};
}

KimiDeltaAttention::KimiDeltaAttention(const ModelArgs& args)
    : heads_(args.linear_num_key_heads),
      conv_kernel_(args.linear_conv_kernel_dim),
      head_dim_(args.linear_key_head_dim),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      k_proj_(register_module("k_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      v_proj_(register_module("v_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      q_conv_(register_module("q_conv", KimiShortConv(heads_ * head_dim_, conv_kernel_))),
      k_conv_(register_module("k_conv", KimiShortConv(heads_ * head_dim_, conv_kernel_))),
      v_conv_(register_module("v_conv", KimiShortConv(heads_ * head_dim_, conv_kernel_))),
      f_a_proj_(register_module("f_a_proj", nn::Linear(args.hidden_size, head_dim_, false))),
      f_b_proj_(register_module("f_b_proj", nn::Linear(head_dim_, heads_ * head_dim_, false))),
      b_proj_(register_module("b_proj", nn::Linear(args.hidden_size, heads_, false))),
      g_a_proj_(register_module("g_a_proj", nn::Linear(args.hidden_size, head_dim_, false))),
      g_b_proj_(register_module("g_b_proj", nn::Linear(head_dim_, heads_ * head_dim_, false))),
      o_norm_(register_module("o_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, false))) {
  // mlx-lm draws A uniform in [1, 16); a checkpoint replaces it.
  register_parameter(
      "A_log", reshape(log(random::uniform({heads_}, float32, 1.0, 16.0)), {1, 1, heads_, 1}));
  register_parameter("dt_bias", zeros({heads_ * head_dim_}));
}

Array KimiDeltaAttention::operator()(const Array& x, KVCache* cache,
                                     const std::optional<Array>& mask) {
  const int64_t batch = x.shape(0), length = x.shape(1), width = heads_ * head_dim_;
  if (cache && !cache->is_arrays()) {
    detail::ThrowOpError("KimiDeltaAttention",
                         "a KDA layer's cache is KVCache::arrays(4) (the model's make_cache() or "
                         "make_prompt_cache()), not one of keys and values.");
  }
  auto conv_state = [&](int slot) {
    return cache && cache->array(slot)
               ? *cache->array(slot)
               : zeros({batch, conv_kernel_ - 1, width}, x.dtype(), x.device());
  };
  auto [q_conv, q_state] = q_conv_(q_proj_(x), conv_state(0), mask);
  auto [k_conv, k_state] = k_conv_(k_proj_(x), conv_state(1), mask);
  auto [v_conv, v_state] = v_conv_(v_proj_(x), conv_state(2), mask);
  if (cache) {
    cache->set_array(0, q_state);
    cache->set_array(1, k_state);
    cache->set_array(2, v_state);
  }
  const Shape heads = {batch, length, heads_, head_dim_};
  const auto [q, k] = normalize_qk(reshape(q_conv, heads), reshape(k_conv, heads),
                                   std::pow(static_cast<double>(head_dim_), -0.5), 1e-6);
  // The decay per head and key feature: g (B, L, heads, head_dim).
  const Array a = reshape(f_b_proj_(f_a_proj_(x)), heads);
  const Array b = reshape(b_proj_(x), {batch, length, heads_});
  const auto [out, state] = gated_delta_update(q, k, reshape(v_conv, heads), a, b,
                                               reshape(parameter("A_log"), {heads_, 1}),
                                               reshape(parameter("dt_bias"), {heads_, head_dim_}),
                                               cache ? cache->array(3) : std::nullopt, mask);
  if (cache) {
    cache->set_array(3, state);
    cache->advance(length);
  }
  const Array gate = reshape(g_b_proj_(g_a_proj_(x)), heads);
  return o_proj_(reshape(o_norm_(reshape(out, heads)) * sigmoid(gate), {batch, length, width}));
}

KimiSparseMoE::KimiSparseMoE(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      n_group_(args.n_group),
      topk_group_(args.topk_group),
      routed_scaling_factor_(args.routed_scaling_factor),
      renormalize_(args.norm_topk_prob),
      sigmoid_(args.sigmoid_router),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp",
          SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))) {
  register_parameter("e_score_correction_bias", zeros({args.num_experts}));
  if (args.n_shared_experts > 0) {
    shared_experts_ =
        &register_module("shared_experts",
                         Mlp(args.hidden_size, args.moe_intermediate_size * args.n_shared_experts));
  }
}

Array KimiSparseMoE::operator()(const Array& x) {
  // mlx-lm's _group_expert_select: the scores in the gates' dtype (a precise softmax
  // computed in float32).
  const Array gates = gate_(x);
  const Array scores =
      sigmoid_ ? sigmoid(gates) : astype(softmax(astype(gates, float32), -1), gates.dtype());
  const auto [indices, weights] =
      select_grouped_experts(scores, parameter("e_score_correction_bias"), top_k_, n_group_,
                             topk_group_, routed_scaling_factor_, renormalize_, 1e-20f);
  const Array y = switch_mlp_(x, indices);
  const Array routed = sum(y * expand_dims(weights, -1), -2);
  return shared_experts_ ? routed + (*shared_experts_)(x) : routed;
}

KimiLinearBlock::KimiLinearBlock(const ModelArgs& args, int index)
    : input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  if (is_kda_layer(args, index)) {
    delta_attn_ = &register_module("self_attn", KimiDeltaAttention(args));
  } else {
    latent_attn_ = &register_module("self_attn", DeepseekV3Attention(args));
  }
  const bool sparse = args.num_experts > 0 && index >= args.first_k_dense_replace &&
                      index % args.moe_layer_freq == 0;
  if (sparse) {
    mlp_ = &register_module("mlp", KimiSparseMoE(args));
  } else {
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
  }
}

Array KimiLinearBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const Array normed = input_layernorm_(x);
  const Array h = x + (delta_attn_ ? (*delta_attn_)(normed, cache, mask)
                                   : (*latent_attn_)(normed, mask, cache, position));
  return h + (*mlp_)(post_attention_layernorm_(h));
}

KimiLinearModel::KimiLinearModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), KimiLinearBlock(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array KimiLinearModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("KimiLinear", tokens, cache, layers_.size());
  const int64_t length = tokens.shape(1);
  Array h = embed_tokens_(tokens);
  // The latent attention's position and mask (an array even for a whole sequence: it hides
  // the positions' scores, as mlx-lm's return_array) and the KDA layers' (a batch's padding),
  // from one cache of each kind: the caches advance together.
  const LayerMasks masks = hybrid_masks(length, tokens.device(), cache, /*as_array=*/true);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, layers_[i]->is_linear() ? masks.arrays : masks.global,
                           cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

KimiLinear::KimiLinear(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", KimiLinearModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array KimiLinear::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

std::vector<KVCache> KimiLinear::make_cache() const {
  std::vector<KVCache> cache;
  for (int i = 0; i < args_.num_hidden_layers; ++i) {
    cache.push_back(is_kda_layer(args_, i) ? KVCache::arrays(4) : KVCache());
  }
  return cache;
}

nn::Parameters KimiLinear::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StartsWith(name, "model.mtp")) continue;
    if (args_.tie_word_embeddings && name == "lm_head.weight") continue;
    std::string renamed = absl::StrReplaceAll(
        name, {{".block_sparse_moe.gate.e_score_correction_bias", ".mlp.e_score_correction_bias"},
               {".block_sparse_moe.", ".mlp."},
               {".self_attn.q_conv1d.", ".self_attn.q_conv.conv."},
               {".self_attn.k_conv1d.", ".self_attn.k_conv.conv."},
               {".self_attn.v_conv1d.", ".self_attn.v_conv.conv."}});
    if (absl::EndsWith(renamed, ".self_attn.dt_bias") && array.ndim() > 1) {
      array = reshape(array, {-1});
    }
    kept.emplace_back(std::move(renamed), std::move(array));
  }
  kept = stack_experts(std::move(kept), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
                       {{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}});
  return split_kv_b_proj(sanitize_conv_weights(std::move(kept), "_conv.conv.weight"), args_);
}

bool KimiLinear::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias") && !absl::EndsWith(name, "A_log") &&
         !absl::EndsWith(name, "dt_bias");
}

std::optional<std::pair<int, int>> KimiLinear::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "mlp.gate")) return kRouterQuantization;
  return std::nullopt;
}

}  // namespace ferry::lm
