#include "client/lm/youtu_llm.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

YoutuLlmBlock::YoutuLlmBlock(const ModelArgs& args)
    : self_attn_(register_module("self_attn", DeepseekV2Attention(args))),
      mlp_(register_module("mlp", Mlp(args.hidden_size, args.intermediate_size, args.mlp_bias))),
      input_layernorm_(
          register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))),
      post_attention_layernorm_(register_module(
          "post_attention_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps))) {}

Array YoutuLlmBlock::operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                                const std::optional<Array>& position) {
  const Array h = x + self_attn_(input_layernorm_(x), mask, cache, position);
  return h + mlp_(post_attention_layernorm_(h));
}

YoutuLlmModel::YoutuLlmModel(const ModelArgs& args)
    : embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), YoutuLlmBlock(args)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array YoutuLlmModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("YoutuLlm", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens);
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

YoutuLlm::YoutuLlm(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", YoutuLlmModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array YoutuLlm::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

}  // namespace ferry::lm
