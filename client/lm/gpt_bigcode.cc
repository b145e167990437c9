#include "client/lm/gpt_bigcode.h"

#include <utility>

namespace ferry::lm {

GptBigCode::GptBigCode(ModelArgs args)
    : args_(std::move(args)),
      transformer_(register_module("transformer", Gpt2Model(args_, /*gelu_approx=*/false))) {
  if (!args_.tie_word_embeddings) {
    lm_head_ = &register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, false));
  }
}

Array GptBigCode::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  const Array h = transformer_(tokens, cache);
  return lm_head_ ? (*lm_head_)(h) : transformer_.wte().as_linear(h);
}

}  // namespace ferry::lm
