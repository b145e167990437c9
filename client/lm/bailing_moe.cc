#include "client/lm/bailing_moe.h"

#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/lm/attention.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

BailingMoeAttention::BailingMoeAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      query_key_value_(register_module(
          "query_key_value",
          nn::Linear(args.hidden_size, (heads_ + 2 * kv_heads_) * head_dim_, args.attention_bias))),
      dense_(register_module("dense",
                             nn::Linear(heads_ * head_dim_, args.hidden_size, args.output_bias))),
      rope_(std::llround(static_cast<double>(args.head_dim) * args.partial_rotary_factor), args) {
  if (args.qk_norm) {
    key_layernorm_ = &register_module("key_layernorm", nn::RMSNorm(head_dim_, args.rms_norm_eps));
    query_layernorm_ =
        &register_module("query_layernorm", nn::RMSNorm(head_dim_, args.rms_norm_eps));
  }
}

Array BailingMoeAttention::operator()(const Array& x, const std::optional<Array>& mask,
                                      KVCache* cache, const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const Array qkv = query_key_value_(x);
  const int64_t q_end = heads_ * head_dim_, k_end = q_end + kv_heads_ * head_dim_;
  auto heads = [&](int64_t start, int64_t stop, int count, nn::RMSNorm* norm) {
    Array split = reshape(slice_last_axis(qkv, start, stop), {batch, length, count, head_dim_});
    if (norm) split = (*norm)(split);
    return transpose(split, {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array queries = rope_(heads(0, q_end, heads_, query_layernorm_), at);
  const Array keys = rope_(heads(q_end, k_end, kv_heads_, key_layernorm_), at);
  const Array values = heads(k_end, qkv.shape(-1), kv_heads_, nullptr);
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim_));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return dense_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

BailingMoeGate::BailingMoeGate(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      n_group_(args.n_group),
      topk_group_(args.topk_group),
      routed_scaling_factor_(args.routed_scaling_factor),
      norm_topk_prob_(args.norm_topk_prob),
      sigmoid_(args.sigmoid_router),
      gate_proj_(
          register_module("gate_proj", nn::Linear(args.hidden_size, args.num_experts, false))) {
  if (args.router_expert_bias) register_parameter("expert_bias", zeros({args.num_experts}));
}

std::pair<Array, Array> BailingMoeGate::operator()(const Array& x) {
  const Array gates = gate_proj_(x);
  const Array logits = astype(gates, float32);
  const Array scores = sigmoid_ ? sigmoid(logits) : softmax(logits, -1);
  const Array bias =
      has_parameter("expert_bias") ? parameter("expert_bias") : zeros({}, float32, scores.device());
  const auto [indices, weights] =
      select_grouped_experts(scores, bias, top_k_, n_group_, topk_group_, routed_scaling_factor_,
                             norm_topk_prob_, /*epsilon=*/1e-20f);
  return {indices, astype(weights, gates.dtype())};
}

BailingMoeSparseMoeBlock::BailingMoeSparseMoeBlock(const ModelArgs& args)
    : gate_(register_module("gate", BailingMoeGate(args))),
      switch_mlp_(
          register_module("switch_mlp", SwitchGLU(args.hidden_size, args.moe_intermediate_size,
                                                  args.num_experts, args.mlp_bias))) {
  if (args.n_shared_experts > 0) {
    shared_experts_ = &register_module(
        "shared_experts",
        Mlp(args.hidden_size, args.shared_expert_intermediate_size * args.n_shared_experts,
            args.mlp_bias));
  }
}

Array BailingMoeSparseMoeBlock::operator()(const Array& x) {
  const auto [indices, weights] = gate_(x);
  const Array y = switch_mlp_(x, indices);
  const Array routed = astype(sum(y * expand_dims(weights, -1), -2), y.dtype());
  return shared_experts_ ? routed + (*shared_experts_)(x) : routed;
}

BailingMoeBlock::BailingMoeBlock(const ModelArgs& args, int index)
    : attention_(register_module("attention", BailingMoeAttention(args))),
      mlp_(index >= args.first_k_dense_replace
               ? static_cast<nn::Layer&>(register_module("mlp", BailingMoeSparseMoeBlock(args)))
               : static_cast<nn::Layer&>(register_module("mlp", Mlp(args)))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array BailingMoeBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const Array h = x + attention_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

BailingMoeModel::BailingMoeModel(const ModelArgs& args)
    : word_embeddings_(
          register_module("word_embeddings", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), BailingMoeBlock(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array BailingMoeModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("BailingMoe", tokens, cache, layers_.size());
  Array h = word_embeddings_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

BailingMoe::BailingMoe(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", BailingMoeModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array BailingMoe::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.word_embeddings().as_linear(h);
}

nn::Parameters BailingMoe::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, weight] : weights) {
    if (absl::StartsWith(name, "lm_head.")) {
      if (args_.tie_word_embeddings && name == "lm_head.weight") continue;
      if (args_.norm_head && name != "lm_head.weight") {
        throw Error(ErrorCode::kUnimplemented,
                    absl::StrCat("[load_model] ", name,
                                 ": a quantized lm_head is not normalized by ferry::lm "
                                 "(norm_head)."));
      }
      if (args_.norm_head) {
        const Array norm = sqrt(sum(square(astype(weight, float32)), 0, /*keepdims=*/true)) + 1e-7f;
        weight = astype(weight / norm, weight.dtype());
      }
    }
    std::string renamed = name;
    for (const char* kind : {".weight", ".bias"}) {
      const std::string from = absl::StrCat(".mlp.gate", kind);
      if (absl::EndsWith(name, from)) {
        renamed =
            absl::StrCat(name.substr(0, name.size() - from.size()), ".mlp.gate.gate_proj", kind);
      }
    }
    kept.emplace_back(std::move(renamed), std::move(weight));
  }
  return stack_experts(
      std::move(kept), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

std::optional<std::pair<int, int>> BailingMoe::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "mlp.gate.gate_proj")) return kRouterQuantization;
  return std::nullopt;
}

}  // namespace ferry::lm
