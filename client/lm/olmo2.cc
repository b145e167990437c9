#include "client/lm/olmo2.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/attention.h"
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

// Layer `layer`'s attention: OLMo 3's sliding layers rotate with the base alone (mlx-lm's
// nn.RoPE there), EXAONE 4's global layers (0 in no_rope_layers) not at all.
ModelArgs LayerArgs(ModelArgs args, int layer) {
  if (args.model_type == "olmo3" && Sliding(args, layer)) {
    args.rope_type = "default";
    args.rope_scaling.clear();
  }
  args.rope =
      args.no_rope_layers.empty() || args.no_rope_layers.at(static_cast<size_t>(layer)) != 0;
  return args;
}

}  // namespace

Olmo2Block::Olmo2Block(const ModelArgs& args, int layer)
    : sliding_(Sliding(args, layer)),
      self_attn_(register_module("self_attn", Attention(LayerArgs(args, layer)))),
      mlp_(register_module("mlp", Mlp(args))),
      post_attention_layernorm_(register_module("post_attention_layernorm",
                                                nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_feedforward_layernorm_(register_module(
          "post_feedforward_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array Olmo2Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                             const std::optional<Array>& position) {
  const Array h = x + post_attention_layernorm_(self_attn_(x, mask, cache, position));
  return h + post_feedforward_layernorm_(mlp_(h));
}

Olmo2Model::Olmo2Model(const ModelArgs& args)
    : window_(args.sliding_window),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), Olmo2Block(args, i)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array Olmo2Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Olmo2", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = window_ > 0
                               ? layer_masks(tokens.shape(1), tokens.device(), cache, window_)
                               : causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      Olmo2Block& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Olmo2::Olmo2(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Olmo2Model(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

std::optional<int64_t> Olmo2::sliding_window(int layer) const {
  if (!Sliding(args_, layer)) return std::nullopt;
  return args_.sliding_window;
}

Array Olmo2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

}  // namespace ferry::lm
