#ifndef FERRY_CLIENT_LM_MIXTRAL_H_
#define FERRY_CLIENT_LM_MIXTRAL_H_

// Mixtral as mlx-lm builds it (models/mixtral.py): Llama's attention (no biases, plain
// RoPE), and in each layer a "block_sparse_moe" routing every token to its top-k experts.

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate" (the router) and "switch_mlp": the sum of the top-k experts' outputs, weighted by
// the softmax of their gates.
class MixtralSparseMoeBlock : public nn::Layer {
 public:
  explicit MixtralSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
};

class Mixtral : public Llama {
 public:
  explicit Mixtral(ModelArgs args);
  // Hugging Face's block_sparse_moe.experts.E.w1, w2, w3 stacked as switch_mlp's gate_proj,
  // down_proj, up_proj.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MIXTRAL_H_
