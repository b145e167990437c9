#include "client/lm/dbrx.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

DbrxAttention::DbrxAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      dims_(args.hidden_size),
      clip_qkv_(args.clip_qkv),
      Wqkv_(
          register_module("Wqkv", nn::Linear(dims_, (2 * kv_heads_ + heads_) * head_dim_, false))),
      out_proj_(register_module("out_proj", nn::Linear(dims_, dims_, false))),
      rope_(head_dim_, args) {}

Array DbrxAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  const Array qkv = clip(Wqkv_(x), -clip_qkv_, clip_qkv_);
  const std::vector<Array> parts = split(qkv, {dims_, dims_ + kv_heads_ * head_dim_}, -1);
  auto heads = [&](const Array& y, int count) {
    return transpose(reshape(y, {batch, length, count, head_dim_}), {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array queries = rope_(heads(parts[0], heads_), at);
  const Array keys = rope_(heads(parts[1], kv_heads_), at);
  const Array values = heads(parts[2], kv_heads_);
  const float scale = static_cast<float>(std::sqrt(1.0 / static_cast<double>(head_dim_)));
  const Array out = attention(queries, keys, values, cache, position, scale, mask);
  return out_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

DbrxNormAttnNorm::DbrxNormAttnNorm(const ModelArgs& args)
    : norm_1_(register_module("norm_1",
                              nn::LayerNorm(args.hidden_size, args.rms_norm_eps, true, false))),
      norm_2_(register_module("norm_2",
                              nn::LayerNorm(args.hidden_size, args.rms_norm_eps, true, false))),
      attn_(register_module("attn", DbrxAttention(args))) {}

std::pair<Array, Array> DbrxNormAttnNorm::operator()(const Array& x,
                                                     const std::optional<Array>& mask,
                                                     KVCache* cache,
                                                     const std::optional<Array>& position) {
  const Array h = attn_(norm_1_(x), mask, cache, position) + x;
  return {h, norm_2_(h)};
}

DbrxSparseMoeBlock::DbrxSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      router_(
          register_module("router.layer", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp", SwitchGLU(args.hidden_size, args.intermediate_size, args.num_experts))) {}

Array DbrxSparseMoeBlock::operator()(const Array& x) {
  // mlx-lm's: the softmax in float32, the top-k's weights divided by their sum (their L1
  // norm: they are positive), back in x's dtype.
  const Array gates = softmax(astype(router_(x), float32), -1);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-gates, top_k_ - 1, -1), 0, top_k_));
  Array scores = take_along_axis(gates, indices, -1);
  scores = astype(scores / sum(abs(scores), -1, /*keepdims=*/true), x.dtype());
  return sum(switch_mlp_(x, indices) * expand_dims(scores, -1), -2);
}

DbrxBlock::DbrxBlock(const ModelArgs& args)
    : ffn_(register_module("ffn", DbrxSparseMoeBlock(args))),
      norm_attn_norm_(register_module("norm_attn_norm", DbrxNormAttnNorm(args))) {}

Array DbrxBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                            const std::optional<Array>& position) {
  const auto [residual, h] = norm_attn_norm_(x, mask, cache, position);
  return ffn_(h) + residual;
}

DbrxTransformer::DbrxTransformer(const ModelArgs& args)
    : wte_(register_module("wte", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    blocks_.push_back(&register_module(absl::StrCat("blocks.", i), DbrxBlock(args)));
  }
  norm_f_ =
      &register_module("norm_f", nn::LayerNorm(args.hidden_size, args.rms_norm_eps, true, false));
}

Array DbrxTransformer::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Dbrx", tokens, cache, blocks_.size());
  Array h = wte_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    h = call_block(*blocks_[i], h, [=](const Array& x) {
      return (*blocks_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_f_)(h);
}

Dbrx::Dbrx(ModelArgs args)
    : args_(std::move(args)),
      transformer_(register_module("transformer", DbrxTransformer(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array Dbrx::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(transformer_(tokens, cache));
}

nn::Parameters Dbrx::sanitize(nn::Parameters weights) const {
  const int64_t experts = args_.num_experts, ffn = args_.intermediate_size;
  const int64_t dims = args_.hidden_size;
  nn::Parameters out;
  for (auto& [name, array] : weights) {
    // Hugging Face's fused experts: "<block>.ffn.experts.mlp.<w1|v1|w2>", no ".weight".
    const size_t at = name.find(".ffn.experts.mlp.");
    if (at == std::string::npos) {
      out.emplace_back(name, std::move(array));
      continue;
    }
    const std::string which = name.substr(at + std::string(".ffn.experts.mlp.").size());
    const std::string prefix = name.substr(0, at);
    Array stacked = reshape(array, {experts, ffn, dims});
    std::string target;
    if (which == "w1") {
      target = "gate_proj";
    } else if (which == "v1") {
      target = "up_proj";
    } else if (which == "w2") {
      target = "down_proj";
      stacked = swapaxes(stacked, 1, 2);  // each expert's (ffn, d_model) transposed
    } else {
      out.emplace_back(name, std::move(array));
      continue;
    }
    out.emplace_back(absl::StrCat(prefix, ".ffn.switch_mlp.", target, ".weight"), stacked);
  }
  return stack_experts(std::move(out), args_.num_experts, "ffn.experts", "ffn.switch_mlp",
                       {{"w1", "gate_proj"}, {"v1", "up_proj"}, {"w2", "down_proj"}});
}

}  // namespace ferry::lm
