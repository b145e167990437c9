#include "client/lm/step3p5.h"

#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool Sliding(const ModelArgs& args, int layer) {
  return args.layer_types.at(static_cast<size_t>(layer)) == "sliding_attention";
}

// Layer `layer`'s entry of a per-layer list, 0 past its end.
float LimitOf(const std::vector<float>& limits, int layer) {
  return static_cast<size_t>(layer) < limits.size() ? limits[static_cast<size_t>(layer)] : 0.0f;
}

// Layer `layer`'s RoPE: its own rope_theta, rope_scaling only where yarn_only_types allows.
ModelArgs LayerArgs(ModelArgs args, int layer) {
  if (!args.layer_rope_thetas.empty()) {
    args.rope_theta = args.layer_rope_thetas.at(static_cast<size_t>(layer));
  }
  const std::vector<std::string>& yarn = args.yarn_only_types;
  if (!yarn.empty() && std::find(yarn.begin(), yarn.end(),
                                 args.layer_types.at(static_cast<size_t>(layer))) == yarn.end()) {
    args.rope_type = "default";
    args.rope_scaling.clear();
  }
  return args;
}

int64_t RopeDims(const ModelArgs& args, int layer) {
  const float factor = static_cast<size_t>(layer) < args.partial_rotary_factors.size()
                           ? args.partial_rotary_factors[static_cast<size_t>(layer)]
                           : 1.0f;
  return static_cast<int64_t>(static_cast<double>(args.head_dim) * static_cast<double>(factor));
}

GatedAttention MakeAttention(const ModelArgs& args, int layer) {
  const bool swa = Sliding(args, layer) && args.num_swa_attention_heads > 0;
  return GatedAttention(
      LayerArgs(args, layer), swa ? args.num_swa_attention_heads : args.num_attention_heads,
      swa ? args.num_swa_key_value_heads : args.num_key_value_heads, RopeDims(args, layer),
      args.head_wise_attn_gate ? OutputGate::kPerHead : OutputGate::kNone);
}

bool Dense(const ModelArgs& args, int layer) {
  const std::vector<int>& dense = args.mlp_only_layers;
  return std::find(dense.begin(), dense.end(), layer) != dense.end();
}

}  // namespace

Array clamped_swiglu(const Array& x, const Array& gate, float limit) {
  return minimum(silu(gate), limit) * clip(x, -limit, limit);
}

Step3p5Mlp::Step3p5Mlp(int64_t dims, int64_t hidden_dims, float limit)
    : limit_(limit),
      gate_proj_(register_module("gate_proj", nn::Linear(dims, hidden_dims, false))),
      up_proj_(register_module("up_proj", nn::Linear(dims, hidden_dims, false))),
      down_proj_(register_module("down_proj", nn::Linear(hidden_dims, dims, false))) {}

Array Step3p5Mlp::operator()(const Array& x) {
  if (limit_ > 0) return down_proj_(clamped_swiglu(up_proj_(x), gate_proj_(x), limit_));
  return down_proj_(silu(gate_proj_(x)) * up_proj_(x));
}

Step3p5Gate::Step3p5Gate(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      scale_(args.routed_scaling_factor),
      norm_(args.norm_topk_prob),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))) {
  register_parameter("router_bias", zeros({args.num_experts}));
}

std::pair<Array, Array> Step3p5Gate::operator()(const Array& x) {
  const Array scores = sigmoid(astype(gate_(x), float32));
  const Array corrected = scores + parameter("router_bias");
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-corrected, top_k_ - 1, -1), 0, top_k_));
  Array weights = take_along_axis(scores, indices, -1);
  // mlx-lm's moe_gate_select renormalizes even a single expert's weight.
  if (norm_) weights = weights / (sum(weights, -1, /*keepdims=*/true) + 1e-20f);
  return {indices, weights * scale_};
}

Step3p5MoE::Step3p5MoE(const ModelArgs& args, float limit, float shared_limit)
    : gate_(register_module("gate", Step3p5Gate(args))),
      switch_mlp_(register_module(
          "switch_mlp",
          SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts, false,
                    limit > 0 ? GluActivation([limit](const Array& up, const Array& gate) {
                      return clamped_swiglu(up, gate, limit);
                    })
                              : GluActivation(nullptr)))),
      share_expert_(register_module(
          "share_expert",
          Step3p5Mlp(args.hidden_size, args.shared_expert_intermediate_size, shared_limit))) {}

Array Step3p5MoE::operator()(const Array& x) {
  const auto [indices, weights] = gate_(x);
  const Array y = switch_mlp_(x, indices);
  return astype(sum(y * expand_dims(weights, -1), -2), y.dtype()) + share_expert_(x);
}

Step3p5Block::Step3p5Block(const ModelArgs& args, int layer)
    : sliding_(Sliding(args, layer)),
      self_attn_(register_module("self_attn", MakeAttention(args, layer))),
      mlp_(Dense(args, layer) ? static_cast<nn::Layer&>(register_module(
                                    "mlp", Step3p5Mlp(args.hidden_size, args.intermediate_size,
                                                      LimitOf(args.swiglu_limits_shared, layer))))
                              : static_cast<nn::Layer&>(register_module(
                                    "mlp", Step3p5MoE(args, LimitOf(args.swiglu_limits, layer),
                                                      LimitOf(args.swiglu_limits_shared, layer))))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array Step3p5Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                               const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

Step3p5Model::Step3p5Model(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Step3p5Block(args, i)));
    if (layers_.back()->sliding()) window_ = args.sliding_window;
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Step3p5Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Step3p5", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = window_ > 0
                               ? layer_masks(tokens.shape(1), tokens.device(), cache, window_)
                               : causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      Step3p5Block& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Step3p5::Step3p5(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", Step3p5Model(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

Array Step3p5::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

std::optional<int64_t> Step3p5::sliding_window(int layer) const {
  if (!Sliding(args_, layer)) return std::nullopt;
  return args_.sliding_window;
}

nn::Parameters Step3p5::sanitize(nn::Parameters weights) const {
  static const std::array<std::pair<const char*, const char*>, 6> kRemappings = {{
      {".moe.gate_proj.", ".mlp.switch_mlp.gate_proj."},
      {".moe.up_proj.", ".mlp.switch_mlp.up_proj."},
      {".moe.down_proj.", ".mlp.switch_mlp.down_proj."},
      {".moe.gate.", ".mlp.gate.gate."},
      {".moe.router_bias", ".mlp.gate.router_bias"},
      {".share_expert.", ".mlp.share_expert."},
  }};
  auto remapped = [](const std::string& name, const std::pair<const char*, const char*>& r) {
    return absl::StrContains(name, r.first) && !absl::StrContains(name, r.second);
  };
  bool vanilla = false;
  for (const auto& [name, array] : weights) {
    for (const auto& r : kRemappings) vanilla = vanilla || remapped(name, r);
  }
  nn::Parameters out;
  for (auto& [name, array] : weights) {
    if (absl::StrContains(name, ".mtp")) continue;
    if (absl::StrContains(name, "model.layers.")) {
      // mlx-lm's k.split(".")[2]: the layer of "model.layers.N...."
      const std::vector<std::string> parts = absl::StrSplit(name, '.');
      int layer = 0;
      if (parts.size() > 2 && absl::SimpleAtoi(parts[2], &layer) &&
          layer >= args_.num_hidden_layers) {
        continue;
      }
    }
    std::string key = name;
    for (const auto& r : kRemappings) {
      if (remapped(key, r)) {
        key = absl::StrReplaceAll(key, {{r.first, r.second}});  // Python's replace: all
        break;
      }
    }
    Array value = std::move(array);
    if (vanilla && absl::EndsWith(key, ".weight") && absl::StrContains(key, "norm")) {
      value = value + 1;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return out;
}

std::optional<std::pair<int, int>> Step3p5::own_quantization(const std::string& path) const {
  if (absl::StrContains(path, "mlp.gate.gate")) return kRouterQuantization;
  return std::nullopt;
}

bool Step3p5::casts(const std::string& name) const {
  return !absl::StrContains(name, "router_bias");
}

}  // namespace ferry::lm
