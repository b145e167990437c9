#include "client/lm/minicpm.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

MiniCPMDecoderLayer::MiniCPMDecoderLayer(const ModelArgs& args)
    : residual_multiplier_(args.residual_multiplier) {
  if (args.model_type == "minicpm3") {
    latent_ = &register_module("self_attn", DeepseekV2Attention(args));
  } else {
    attention_ = &register_module("self_attn", Attention(args));
  }
  mlp_ = &register_module("mlp", Mlp(args));
  input_layernorm_ =
      &register_module("input_layernorm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
  post_attention_layernorm_ = &register_module("post_attention_layernorm",
                                               nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array MiniCPMDecoderLayer::operator()(const Array& x, const std::optional<Array>& mask,
                                      KVCache* cache, const std::optional<Array>& position) {
  const Array normed = (*input_layernorm_)(x);
  const Array r = latent_ ? (*latent_)(normed, mask, cache, position)
                          : (*attention_)(normed, mask, cache, position);
  const Array h = x + r * residual_multiplier_;
  return h + (*mlp_)((*post_attention_layernorm_)(h)) * residual_multiplier_;
}

MiniCPMModel::MiniCPMModel(const ModelArgs& args)
    : scale_emb_(args.embedding_multiplier),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), MiniCPMDecoderLayer(args)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array MiniCPMModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  CheckModelInputs("MiniCPM", tokens, cache, layers_.size());
  Array h = embed_tokens_(tokens) * scale_emb_;
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t i = 0; i < layers_.size(); ++i) {
    h = call_block(*layers_[i], h, [=](const Array& x) {
      return (*layers_[i])(x, masks.global, cache ? &(*cache)[i] : nullptr, masks.position);
    });
  }
  return (*norm_)(h);
}

MiniCPM::MiniCPM(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", MiniCPMModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array MiniCPM::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  // mlx-lm divides the hidden state, not the logits, and only before an lm_head of its own.
  return lm_head_ ? (*lm_head_)(h / args_.logits_scaling) : model_.embed_tokens().as_linear(h);
}

nn::Parameters MiniCPM::sanitize(nn::Parameters weights) const {
  // MiniCPM's (not MiniCPM3's): a checkpoint without lm_head.weight takes the embedding's,
  // where the model has an lm_head (load drops it from a tied one, which mlx-lm refuses).
  if (args_.model_type != "minicpm" || args_.tie_word_embeddings) return weights;
  auto named = [&](const char* name) {
    return std::find_if(weights.begin(), weights.end(),
                        [&](const auto& w) { return w.first == name; });
  };
  if (named("lm_head.weight") != weights.end()) return weights;
  const auto embed = named("model.embed_tokens.weight");
  if (embed != weights.end()) weights.emplace_back("lm_head.weight", embed->second);
  return weights;
}

}  // namespace ferry::lm
