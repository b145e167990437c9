#include "client/lm/afmoe.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool Sliding(const ModelArgs& args, int layer) {
  return !args.layer_types.empty() &&
         args.layer_types.at(static_cast<size_t>(layer)) == "sliding_attention";
}

}  // namespace

GatedAttention::GatedAttention(const ModelArgs& args, int heads, int kv_heads, int64_t rope_dims,
                               OutputGate gate)
    : heads_(heads),
      kv_heads_(kv_heads),
      head_dim_(args.head_dim),
      gate_kind_(gate),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads * head_dim_, false))),
      k_proj_(register_module("k_proj", nn::Linear(args.hidden_size, kv_heads * head_dim_, false))),
      v_proj_(register_module("v_proj", nn::Linear(args.hidden_size, kv_heads * head_dim_, false))),
      o_proj_(register_module("o_proj", nn::Linear(heads * head_dim_, args.hidden_size, false))),
      q_norm_(register_module("q_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      k_norm_(register_module("k_norm", nn::RMSNorm(head_dim_, args.rms_norm_eps))),
      scale_(1.0f / std::sqrt(static_cast<float>(head_dim_))) {
  if (gate == OutputGate::kPerFeature) {
    gate_ = &register_module("gate_proj", nn::Linear(args.hidden_size, heads * head_dim_, false));
  } else if (gate == OutputGate::kPerHead) {
    gate_ = &register_module("g_proj", nn::Linear(args.hidden_size, heads, false));
  }
  if (args.rope) rope_.emplace(rope_dims, args);
}

Array GatedAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                 const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  // (B, L, heads * D) to (B, heads, L, D), each head normalized first where a norm is given.
  auto split = [&](const Array& y, int count, nn::RMSNorm* norm) {
    Array heads = reshape(y, {batch, length, count, head_dim_});
    if (norm) heads = (*norm)(heads);
    return transpose(heads, {0, 2, 1, 3});
  };
  Array queries = split(q_proj_(x), heads_, &q_norm_);
  Array keys = split(k_proj_(x), kv_heads_, &k_norm_);
  const Array values = split(v_proj_(x), kv_heads_, nullptr);
  if (rope_) {
    // Each row from its own position (rows of a batch can be at different ones).
    const std::optional<Array> at =
        cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
    queries = (*rope_)(queries, at);
    keys = (*rope_)(keys, at);
  }
  Array out =
      transpose(attention(queries, keys, values, cache, position, scale_, mask), {0, 2, 1, 3});
  if (gate_kind_ == OutputGate::kPerHead) out = out * expand_dims(sigmoid((*gate_)(x)), -1);
  out = reshape(out, {batch, length, heads_ * head_dim_});
  if (gate_kind_ == OutputGate::kPerFeature) out = out * sigmoid((*gate_)(x));
  return o_proj_(out);
}

AfmoeMoE::AfmoeMoE(const ModelArgs& args)
    : sigmoid_(args.sigmoid_router),
      top_k_(args.num_experts_per_tok),
      n_group_(args.n_group),
      topk_group_(args.topk_group),
      route_scale_(args.routed_scaling_factor),
      route_norm_(args.norm_topk_prob) {
  router_gate_ =
      &register_module("router.gate", nn::Linear(args.hidden_size, args.num_experts, false));
  register_parameter("expert_bias", zeros({args.num_experts}));
  experts_ = &register_module(
      "experts", SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts));
  if (args.n_shared_experts > 0) {
    shared_experts_ =
        &register_module("shared_experts",
                         Mlp(args.hidden_size, args.moe_intermediate_size * args.n_shared_experts));
  }
}

Array AfmoeMoE::operator()(const Array& x) {
  const Array gates = astype((*router_gate_)(x), float32);
  const Array scores = sigmoid_ ? sigmoid(gates) : softmax(gates, -1);
  // DeepSeek V3's selection: the bias ranks the experts, the scores weigh them (no epsilon).
  const auto [indices, weights] = select_grouped_experts(
      scores, parameter("expert_bias"), top_k_, n_group_, topk_group_, route_scale_, route_norm_);
  const Array y = (*experts_)(x, indices);
  Array out = astype(sum(y * expand_dims(weights, -1), -2), y.dtype());
  if (shared_experts_) out = out + (*shared_experts_)(x);
  return out;
}

namespace {

ModelArgs LayerArgs(ModelArgs args, int layer) {
  args.rope = Sliding(args, layer);
  return args;
}

}  // namespace

AfmoeBlock::AfmoeBlock(const ModelArgs& args, int layer)
    : sliding_(Sliding(args, layer)),
      self_attn_(register_module(
          "self_attn",
          GatedAttention(LayerArgs(args, layer), args.num_attention_heads, args.num_key_value_heads,
                         args.head_dim, OutputGate::kPerFeature))),
      // The first num_dense_layers layers Llama's MLP, the others the experts.
      mlp_(layer < args.first_k_dense_replace
               ? static_cast<nn::Layer&>(register_module("mlp", Mlp(args)))
               : static_cast<nn::Layer&>(register_module("mlp", AfmoeMoE(args)))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      pre_mlp_layernorm_(
          register_module("pre_mlp_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_mlp_layernorm_(register_module("post_mlp_layernorm",
                                          nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array AfmoeBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                             const std::optional<Array>& position) {
  const Array h =
      x + post_attention_layernorm_(self_attn_(input_layernorm_(x), mask, cache, position));
  return h + post_mlp_layernorm_(mlp_(pre_mlp_layernorm_(h)));
}

AfmoeModel::AfmoeModel(const ModelArgs& args)
    : embedding_multiplier_(args.embedding_multiplier),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), AfmoeBlock(args, i)));
    if (layers_.back()->sliding()) window_ = args.sliding_window;
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array AfmoeModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Afmoe", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  if (embedding_multiplier_ != 1.0f) h = h * embedding_multiplier_;  // muP's sqrt(hidden_size)
  const LayerMasks masks = window_ > 0
                               ? layer_masks(tokens.shape(1), tokens.device(), cache, window_)
                               : causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      AfmoeBlock& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Afmoe::Afmoe(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", AfmoeModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Afmoe::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

std::optional<int64_t> Afmoe::sliding_window(int layer) const {
  if (!Sliding(args_, layer)) return std::nullopt;
  return args_.sliding_window;
}

nn::Parameters Afmoe::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StrContains(name, "rotary_emb.inv_freq")) continue;
    if (args_.tie_word_embeddings && name == "lm_head.weight") continue;
    kept.emplace_back(name, std::move(array));
  }
  return stack_experts(
      std::move(kept), args_.num_experts, "mlp.experts", "mlp.experts",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

std::optional<std::pair<int, int>> Afmoe::own_quantization(const std::string& path) const {
  if (absl::StrContains(path, "router.gate")) return kRouterQuantization;
  return std::nullopt;
}

bool Afmoe::casts(const std::string& name) const { return !absl::StrContains(name, "expert_bias"); }

}  // namespace ferry::lm
