#include "client/lm/nanbeige.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/lm/grad_checkpoint.h"
#include "client/lm/layer_masks.h"
#include "client/lm/model_inputs.h"
#include "client/ops.h"

namespace ferry::lm {

NanbeigeModel::NanbeigeModel(const ModelArgs& args)
    : num_loops_(args.num_loops),
      skip_loop_final_norm_(args.skip_loop_final_norm),
      embed_tokens_(
          register_module("embed_tokens", nn::Embedding(args.vocab_size, args.hidden_size))) {
  for (int i = 0; i < args.num_hidden_layers; ++i) {
    layers_.push_back(&register_module(absl::StrCat("layers.", i), TransformerBlock(args)));
  }
  norm_ = &register_module("norm", nn::RMSNorm(args.hidden_size, args.rms_norm_eps));
}

Array NanbeigeModel::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const size_t layers = layers_.size();
  CheckModelInputs("Nanbeige", tokens, cache, static_cast<size_t>(num_loops_) * layers);
  Array h = embed_tokens_(tokens);
  // Every pass's caches advance together: the first one's mask serves all (mlx-lm's cache[0]).
  const LayerMasks masks = causal_masks(tokens.shape(1), tokens.device(), cache);
  for (size_t loop = 0; loop < static_cast<size_t>(num_loops_); ++loop) {
    for (size_t i = 0; i < layers; ++i) {
      KVCache* c = cache ? &(*cache)[loop * layers + i] : nullptr;
      h = call_block(*layers_[i], h, [=](const Array& x) {
        return (*layers_[i])(x, masks.global, c, masks.position);
      });
    }
    if (!skip_loop_final_norm_) h = (*norm_)(h);
  }
  return skip_loop_final_norm_ ? (*norm_)(h) : h;
}

Nanbeige::Nanbeige(ModelArgs args)
    : args_(std::move(args)), model_(register_module("model", NanbeigeModel(args_))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array Nanbeige::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = model_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : model_.embed_tokens().as_linear(h);
}

std::vector<KVCache> Nanbeige::make_cache() const {
  return std::vector<KVCache>(static_cast<size_t>(args_.num_loops) *
                              static_cast<size_t>(args_.num_hidden_layers));
}

}  // namespace ferry::lm
