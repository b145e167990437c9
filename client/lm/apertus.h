#ifndef FERRY_CLIENT_LM_APERTUS_H_
#define FERRY_CLIENT_LM_APERTUS_H_

// Apertus as mlx-lm builds it (models/apertus.py): Llama's layers with each head's queries
// and keys normalized before RoPE (ModelArgs::qk_norm), no attention biases, its norms named
// "attention_layernorm" and "feedforward_layernorm", and an MLP of one projection through
// xIELU (nn::XieLU) instead of a gated one. mlx-lm reads post_norm and qk_norm and builds the
// same whatever they say.

#include "client/lm/llama.h"
#include "client/nn/activations.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "up_proj", "act_fn" (XieLU's alpha_p, alpha_n, beta, eps), "down_proj"; biased when
// mlp_bias.
class ApertusMlp : public nn::Layer {
 public:
  explicit ApertusMlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &up_proj_, &down_proj_;
  nn::XieLU& act_fn_;
};

class Apertus : public Llama {
 public:
  explicit Apertus(ModelArgs args);
  // mlx-lm's: Hugging Face's alpha_p and alpha_n (shape (1,)) squeezed to scalars.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_APERTUS_H_
