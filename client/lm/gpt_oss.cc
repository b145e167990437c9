#include "client/lm/gpt_oss.h"

#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/array_node.h"
#include "client/lm/attention.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::lm {
namespace {

// a[..., start::2, :] (axis -2) or a[..., start::2] (axis -1): the gate's rows (start 0) or
// the up projection's (start 1) of OpenAI's interleaved gate_up_proj.
Array EveryOther(const Array& a, int64_t start, int axis) {
  const int ax = axis < 0 ? axis + a.ndim() : axis;
  Shape begin(a.ndim(), 0), end = a.shape(), strides(a.ndim(), 1);
  begin[ax] = start;
  strides[ax] = 2;
  return slice(a, begin, end, strides);
}

// OpenAI's mxfp4 bytes (..., in / 32, 16) as MLX's uint32 words (..., in / 8).
Array Words(const Array& blocks) { return flatten(view(blocks, uint32), -2, -1); }

}  // namespace

Array swiglu_oai(const Array& up, const Array& gate, float alpha, float limit) {
  const Array g = minimum(gate, limit);
  const Array x = clip(up, -limit, limit);
  return (x + 1.0f) * (g * sigmoid(g * alpha));
}

GptOssAttention::GptOssAttention(const ModelArgs& args)
    : heads_(args.num_attention_heads),
      kv_heads_(args.num_key_value_heads),
      head_dim_(args.head_dim),
      q_proj_(register_module("q_proj", nn::Linear(args.hidden_size, heads_ * head_dim_, true))),
      k_proj_(register_module("k_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, true))),
      v_proj_(register_module("v_proj", nn::Linear(args.hidden_size, kv_heads_ * head_dim_, true))),
      o_proj_(register_module("o_proj", nn::Linear(heads_ * head_dim_, args.hidden_size, true))),
      rope_(head_dim_, args) {
  register_parameter("sinks", zeros({heads_}));
}

Array GptOssAttention::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                  const std::optional<Array>& position) {
  const int64_t batch = x.shape(0), length = x.shape(1);
  auto heads = [&](const Array& y, int count) {
    return transpose(reshape(y, {batch, length, count, head_dim_}), {0, 2, 1, 3});
  };
  // Each row from its own position (rows of a batch can be at different ones).
  const std::optional<Array> at =
      cache ? std::optional<Array>(cache->rope_offset(*position)) : position;
  Array queries = rope_(heads(q_proj_(x), heads_), at);
  Array keys = rope_(heads(k_proj_(x), kv_heads_), at);
  Array values = heads(v_proj_(x), kv_heads_);
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_)));
  const Array out =
      attention(queries, keys, values, cache, position, scale, mask, parameter("sinks"));
  return o_proj_(reshape(transpose(out, {0, 2, 1, 3}), {batch, length, heads_ * head_dim_}));
}

GptOssMlp::GptOssMlp(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      router_(register_module("router", nn::Linear(args.hidden_size, args.num_experts, true))),
      experts_(register_module("experts",
                               SwitchGLU(args.hidden_size, args.intermediate_size, args.num_experts,
                                         /*bias=*/true, [](const Array& up, const Array& gate) {
                                           return swiglu_oai(up, gate);
                                         }))) {}

Array GptOssMlp::operator()(const Array& x) {
  const Array logits = router_(x);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(logits, -top_k_, -1), -top_k_, logits.shape(-1)));
  // mlx-lm's softmax(precise=True) of the chosen logits: in float32.
  const Array chosen = take_along_axis(logits, indices, -1);
  const Array weights = astype(softmax(astype(chosen, float32), -1), chosen.dtype());
  return sum(experts_(x, indices) * expand_dims(weights, -1), -2);
}

GptOssBlock::GptOssBlock(const ModelArgs& args, bool sliding)
    : sliding_(sliding),
      self_attn_(register_module("self_attn", GptOssAttention(args))),
      mlp_(register_module("mlp", GptOssMlp(args))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array GptOssBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                              const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

GptOssModel::GptOssModel(const ModelArgs& args)
    : window_(args.sliding_window),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    const bool sliding = args.layer_types.at(static_cast<size_t>(i)) == "sliding_attention";
    layers_.push_back(&register_module(absl::StrCat("layers.", i), GptOssBlock(args, sliding)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array GptOssModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("GptOss", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = layer_masks(tokens.shape(1), tokens.device(), cache, window_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      GptOssBlock& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

GptOss::GptOss(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", GptOssModel(args_))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false))) {
}

std::optional<int64_t> GptOss::sliding_window(int layer) const {
  if (args_.layer_types.at(static_cast<size_t>(layer)) != "sliding_attention") return std::nullopt;
  return args_.sliding_window;
}

Array GptOss::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

nn::Parameters GptOss::sanitize(nn::Parameters weights) const {
  for (const auto& [name, array] : weights) {
    if (absl::StrContains(name, "gate_proj.weight")) return weights;
  }
  nn::Parameters out;
  // _blocks as words under .weight, _scales as .scales.
  auto rename = [](std::string name, Array& array) {
    if (absl::StrContains(name, "_blocks")) {
      array = Words(array);
      name = absl::StrReplaceAll(name, {{"_blocks", ".weight"}});
    }
    return absl::StrReplaceAll(name, {{"_scales", ".scales"}});
  };
  for (auto& [name, array] : weights) {
    const bool bias = absl::StrContains(name, "bias");
    if (absl::StrContains(name, "gate_up_proj") && !bias) {
      const std::string renamed = rename(name, array);
      out.emplace_back(absl::StrReplaceAll(renamed, {{"gate_up_proj", "gate_proj"}}),
                       EveryOther(array, 0, -2));
      out.emplace_back(absl::StrReplaceAll(renamed, {{"gate_up_proj", "up_proj"}}),
                       EveryOther(array, 1, -2));
    } else if (absl::StrContains(name, "down_proj") && !bias) {
      const std::string renamed = rename(name, array);
      out.emplace_back(renamed, std::move(array));
    } else if (absl::StrContains(name, "gate_up_proj_bias")) {
      out.emplace_back(absl::StrReplaceAll(name, {{"gate_up_proj_bias", "gate_proj.bias"}}),
                       EveryOther(array, 0, -1));
      out.emplace_back(absl::StrReplaceAll(name, {{"gate_up_proj_bias", "up_proj.bias"}}),
                       EveryOther(array, 1, -1));
    } else if (absl::StrContains(name, "down_proj_bias")) {
      out.emplace_back(absl::StrReplaceAll(name, {{"down_proj_bias", "down_proj.bias"}}),
                       std::move(array));
    } else {
      out.emplace_back(std::move(name), std::move(array));
    }
  }
  return out;
}

std::optional<std::pair<int, int>> GptOss::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "router")) return kRouterQuantization;
  return std::nullopt;
}

}  // namespace ferry::lm
