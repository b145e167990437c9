#ifndef FERRY_CLIENT_LM_OLMOE_H_
#define FERRY_CLIENT_LM_OLMOE_H_

// OLMoE as mlx-lm builds it (models/olmoe.py): Llama's layers with OLMo 2's attention (q and k
// normalized over the whole projections: ModelArgs::qk_norm_whole), and in every layer an
// "mlp" of Qwen3-MoE's router and experts (the top num_experts_per_tok of the softmax of the
// gates, renormalized when norm_topk_prob), intermediate_size wide, biased when mlp_bias.

#include "client/lm/llama.h"

namespace ferry::lm {

class Olmoe : public Llama {
 public:
  explicit Olmoe(ModelArgs args);
  // Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as mlp.switch_mlp's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_OLMOE_H_
