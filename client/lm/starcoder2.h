#ifndef FERRY_CLIENT_LM_STARCODER2_H_
#define FERRY_CLIENT_LM_STARCODER2_H_

// StarCoder 2 as mlx-lm builds it (models/starcoder2.py): Llama's attention with every
// projection biased, LayerNorm with bias where Llama has RMSNorm (ModelArgs::layer_norm),
// and an MLP of c_fc and c_proj around gelu. mlx-lm attends over every position whatever
// the config's sliding_window says, and so does this.

#include "client/lm/llama.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// c_proj(gelu(c_fc(x))), both biased; gelu the exact (erf) one, as MLX's nn.gelu.
class Starcoder2Mlp : public nn::Layer {
 public:
  explicit Starcoder2Mlp(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &c_fc_, &c_proj_;
};

class Starcoder2 : public Llama {
 public:
  explicit Starcoder2(ModelArgs args);
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_STARCODER2_H_
