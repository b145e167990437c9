#ifndef FERRY_CLIENT_LM_GLM4_MOE_H_
#define FERRY_CLIENT_LM_GLM4_MOE_H_

// GLM-4.5 and GLM-4.6 (model_type glm4_moe) as mlx-lm builds them (models/glm4_moe.py):
// Llama's attention (biased q, k and v when attention_bias, q and k normalized per head when
// use_qk_norm, RoPE over the first head_dim * partial_rotary_factor features, rope_scaling
// unread), and from first_k_dense_replace on DeepSeek V3's mixture of experts (sigmoid
// router with the correction bias, grouped choice, shared experts).

#include "client/lm/llama.h"

namespace ferry::lm {

class Glm4Moe : public Llama {
 public:
  explicit Glm4Moe(ModelArgs args);
  // Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as mlp.switch_mlp's, and the
  // multi-token prediction layer (model.layers.<num_hidden_layers>) dropped.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: e_score_correction_bias kept in its dtype.
  bool casts(const std::string& name) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GLM4_MOE_H_
