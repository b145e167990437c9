#include "client/lm/nemotron.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/fast.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/nn/activations.h"
#include "client/ops.h"

namespace ferry::lm {

NemotronLayerNorm1P::NemotronLayerNorm1P(int64_t dims, float eps) : eps_(eps) {
  register_parameter("weight", ones({dims}));
  register_parameter("bias", zeros({dims}));
}

Array NemotronLayerNorm1P::operator()(const Array& x) {
  return fast::layer_norm(x, parameter("weight") + 1.0f, parameter("bias"), eps_);
}

NemotronMlp::NemotronMlp(const ModelArgs& args)
    : down_proj_(register_module(
          "down_proj", nn::Linear(args.intermediate_size, args.hidden_size, args.mlp_bias))),
      up_proj_(register_module(
          "up_proj", nn::Linear(args.hidden_size, args.intermediate_size, args.mlp_bias))) {}

Array NemotronMlp::operator()(const Array& x) { return down_proj_(nn::relu2(up_proj_(x))); }

NemotronBlock::NemotronBlock(const ModelArgs& args)
    : self_attn_(register_module("self_attn", Attention(args))),
      mlp_(register_module("mlp", NemotronMlp(args))),
      input_layernorm_(register_module("input_layernorm",
                                       NemotronLayerNorm1P(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", NemotronLayerNorm1P(args.hidden_size, args.rms_norm_eps))) {}

Array NemotronBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

NemotronModel::NemotronModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), NemotronBlock(args)));
  }
  norm_ = &register_module("norm", NemotronLayerNorm1P(args.hidden_size, args.rms_norm_eps));
}

Array NemotronModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("Nemotron", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

Nemotron::Nemotron(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", NemotronModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Nemotron::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

}  // namespace ferry::lm
