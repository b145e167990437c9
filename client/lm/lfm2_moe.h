#ifndef FERRY_CLIENT_LM_LFM2_MOE_H_
#define FERRY_CLIENT_LM_LFM2_MOE_H_

// LFM2-MoE as mlx-lm builds it (models/lfm2_moe.py): LFM2's attention and short
// convolutions (lfm2.h), the first num_dense_layers (first_k_dense_replace) layers' feed-forward
// a dense Mlp of intermediate_size, the others' a mixture of experts routed by sigmoid scores.

#include "client/lm/lfm2.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate", "switch_mlp" and, with use_expert_bias, "expert_bias": the top-k experts by the
// sigmoid of the gates (plus expert_bias, in float32, when it is used: it only chooses),
// weighted by their sigmoid scores, renormalized when norm_topk_prob (their sum + 1e-6),
// times routed_scaling_factor.
class Lfm2MoeSparseMoeBlock : public nn::Layer {
 public:
  explicit Lfm2MoeSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  bool norm_topk_prob_, use_expert_bias_;
  float routed_scaling_factor_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
};

// model_type "lfm2_moe".
class Lfm2Moe : public Lfm2 {
 public:
  explicit Lfm2Moe(ModelArgs args);
  // mlx-lm's, for a Hugging Face checkpoint: the conv weights as LFM2's, w1, w3 and w2 renamed
  // gate_proj, up_proj and down_proj, and each layer's experts stacked as its switch_mlp.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_LFM2_MOE_H_
