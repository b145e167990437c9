#include "client/lm/mimo_v2_flash.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/lm/attention.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

// The layer kind's RoPE: nn.RoPE over int(partial_rotary_factor * head size) features of
// its base, plain whatever rope_scaling says.
Rope LayerRope(const ModelArgs& args, bool sliding) {
  ModelArgs rope = args;
  rope.rope_theta = sliding ? args.rope_local_base_freq : args.rope_theta;
  rope.rope_type = "default";
  rope.rope_scaling.clear();
  rope.rope_traditional = false;
  const int64_t head_dim = sliding ? args.swa_head_dim : args.head_dim;
  return Rope(static_cast<int64_t>(static_cast<double>(args.partial_rotary_factor) *
                                   static_cast<double>(head_dim)),
              rope);
}

}  // namespace

MimoV2FlashAttention::MimoV2FlashAttention(const ModelArgs& args, bool sliding)
    : heads_(sliding ? args.num_swa_attention_heads : args.num_attention_heads),
      kv_heads_(sliding ? args.num_swa_key_value_heads : args.num_key_value_heads),
      head_dim_(sliding ? args.swa_head_dim : args.head_dim),
      v_head_dim_(sliding ? args.swa_v_head_dim : args.v_head_dim),
      sinks_(sliding ? args.swa_sinks : args.full_sinks),
      value_scale_(args.attention_value_scale),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, false))),
      k_proj_(
          register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, false))),
      v_proj_(
          register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * v_head_dim_, false))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * v_head_dim_, args.hidden_size, false))),
      rope_(LayerRope(args, sliding)) {
  if (sinks_) register_parameter("attention_sink_bias", ones({heads_}));
}

Array MimoV2FlashAttention::operator()(const Array& x, const std::optional<Array>& mask,
                                       KVCache* cache, const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  auto heads = [&](const Array& y, int count) {
    return transpose(reshape(y, {batch, length, count, -1}), {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  const Array queries = rope_(heads(q_proj_(x), heads_), at);
  const Array keys = rope_(heads(k_proj_(x), kv_heads_), at);
  Array values = heads(v_proj_(x), kv_heads_);
  if (value_scale_) values = values * *value_scale_;
  const float scale = static_cast<float>(std::pow(static_cast<double>(head_dim_), -0.5));
  const std::optional<Array> sinks =
      sinks_ ? std::optional<Array>(parameter("attention_sink_bias")) : std::nullopt;
  const Array out = attention(queries, keys, values, cache, position, scale, mask, sinks);
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * v_head_dim_}));
}

MimoV2FlashBlock::MimoV2FlashBlock(const ModelArgs& args, int index)
    : sliding_(args.layer_types.at(static_cast<size_t>(index)) == "sliding_attention"),
      self_attn_(register_module("self_attn", MimoV2FlashAttention(args, sliding_))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {
  const bool dense = std::find(args.mlp_only_layers.begin(), args.mlp_only_layers.end(), index) !=
                     args.mlp_only_layers.end();
  if (dense) {
    mlp_ = &register_module("mlp", Mlp(args.hidden_size, args.intermediate_size));
  } else {
    mlp_ = &register_module("mlp", DeepseekV3MoE(args));
  }
}

Array MimoV2FlashBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                   const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + (*mlp_)(post_attention_layernorm_(h));
}

MimoV2FlashModel::MimoV2FlashModel(const ModelArgs& args)
    : window_(args.sliding_window),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), MimoV2FlashBlock(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array MimoV2FlashModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("MimoV2Flash", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = layer_masks(tokens.shape(1), tokens.device(), cache, window_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      MimoV2FlashBlock& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

MimoV2Flash::MimoV2Flash(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", MimoV2FlashModel(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array MimoV2Flash::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

std::optional<int64_t> MimoV2Flash::sliding_window(int layer) const {
  if (args_.layer_types.at(static_cast<size_t>(layer)) != "sliding_attention") return std::nullopt;
  return args_.sliding_window;
}

nn::Parameters MimoV2Flash::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StrContains(name, "weight_scale_inv")) {
      throw Error(ErrorCode::kUnimplemented,
                  absl::StrCat("[load_model] ", name,
                               ": MiMo-V2-Flash's FP8 checkpoints are not read by ferry::lm "
                               "(mlx-lm's conversions of them are)."));
    }
    if (absl::StartsWith(name, "model.mtp")) continue;
    kept.emplace_back(std::move(name), std::move(array));
  }
  return stack_experts(
      std::move(kept), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

bool MimoV2Flash::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias");
}

}  // namespace ferry::lm
