#ifndef FERRY_CLIENT_LM_EXAONE_MOE_H_
#define FERRY_CLIENT_LM_EXAONE_MOE_H_

// EXAONE MoE as mlx-lm builds it (models/exaone_moe.py): EXAONE 4's attention (q/k norms per
// head; where any layer slides, RoPE in the sliding layers only, else in every layer) under
// Llama's pre-norm blocks, and in the layers is_moe_layer marks DeepSeek V3's experts
// (deepseek_v3.h: the grouped sigmoid router with its score correction bias, 1e-20 added to
// the weights' sum, shared experts beside); the others Llama's MLP.

#include <string>

#include "client/lm/llama.h"

namespace ferry::lm {

// model_type "exaone_moe": "model" and, unless tied, "lm_head".
class ExaoneMoe : public Llama {
 public:
  explicit ExaoneMoe(ModelArgs args);
  // mlx-lm's: the multi-token-prediction weights (mtp.*) dropped, Hugging Face's
  // mlp.e_score_correction_bias moved under mlp.gate and its mlp.experts.E.* stacked as
  // mlp.switch_mlp's, a tied model's lm_head.weight dropped.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's cast_predicate: e_score_correction_bias keeps its dtype.
  bool casts(const std::string& name) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_EXAONE_MOE_H_
