#include "client/lm/gemma.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

GemmaGeluMlp::GemmaGeluMlp(const ModelArgs& args)
    : gate_proj_(register_module("gate_proj",
                                 nn::Linear(args.hidden_size, args.intermediate_size, false))),
      down_proj_(register_module("down_proj",
                                 nn::Linear(args.intermediate_size, args.hidden_size, false))),
      up_proj_(register_module("up_proj",
                               nn::Linear(args.hidden_size, args.intermediate_size, false))) {}

Array GemmaGeluMlp::operator()(const Array& x) {
  return down_proj_(gelu(gate_proj_(x)) * up_proj_(x));
}

GemmaBlock::GemmaBlock(const ModelArgs& args)
    : self_attn_(register_module("self_attn", Attention(args))),
      mlp_(register_module("mlp", GemmaGeluMlp(args))),
      input_layernorm_(
          register_module("input_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array GemmaBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                             const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

GemmaModel::GemmaModel(const ModelArgs& args)
    : hidden_size_(args.hidden_size),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), GemmaBlock(args)));
  }
  norm_ = &register_module("norm", GemmaRMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array GemmaModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Gemma", tokens, cache, layers_.size());
  // sqrt(hidden_size) as a Python float, rounded to the embedding's dtype by the product.
  Array h =
      embed_tokens_(tokens) * static_cast<float>(std::sqrt(static_cast<double>(hidden_size_)));
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Gemma::Gemma(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", GemmaModel(args_))) {}

Array Gemma::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return model_.embed_tokens().as_linear(model_(tokens, cache));
}

}  // namespace ferry::lm
