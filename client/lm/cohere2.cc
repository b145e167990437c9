#include "client/lm/cohere2.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

bool Sliding(const ModelArgs& args, int layer) {
  return (layer + 1) % args.sliding_window_pattern != 0;
}

// The global layers see no positions at all (mlx-lm rotates only the sliding ones).
ModelArgs LayerArgs(ModelArgs args, bool sliding) {
  args.rope = sliding;
  return args;
}

}  // namespace

Cohere2Block::Cohere2Block(const ModelArgs& args, bool sliding)
    : sliding_(sliding),
      self_attn_(register_module("self_attn", Attention(LayerArgs(args, sliding)))),
      mlp_(register_module("mlp", Mlp(args))),
      input_layernorm_(LlamaNorm(args, [&](auto norm) -> nn::Layer& {
        return register_module("input_layernorm", std::move(norm));
      })) {}

Array Cohere2Block::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                               const std::optional<Array>& position) {
  const Array h = input_layernorm_(x);
  return self_attn_(h, mask, cache, position) + mlp_(h) + x;
}

Cohere2Model::Cohere2Model(const ModelArgs& args)
    : window_(args.sliding_window),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(
        &register_module(absl::StrCat("layers.", i), Cohere2Block(args, Sliding(args, i))));
  }
  norm_ = &LlamaNorm(
      args, [&](auto norm) -> nn::Layer& { return register_module("norm", std::move(norm)); });
}

Array Cohere2Model::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Cohere2", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = layer_masks(tokens.shape(1), tokens.device(), cache, window_);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      Cohere2Block& layer = *layers_[i];
      return layer(x, layer.sliding() ? masks.sliding : masks.global,
                   cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Cohere2::Cohere2(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", Cohere2Model(args_))) {}

std::optional<int64_t> Cohere2::sliding_window(int layer) const {
  if (!Sliding(args_, layer)) return std::nullopt;
  return args_.sliding_window;
}

Array Cohere2::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return model_.embed_tokens().as_linear(model_(tokens, cache)) * args_.logit_scale;
}

}  // namespace ferry::lm
