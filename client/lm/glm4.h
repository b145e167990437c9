#ifndef FERRY_CLIENT_LM_GLM4_H_
#define FERRY_CLIENT_LM_GLM4_H_

// GLM-4 (GLM-4-0414: model_type "glm4") as mlx-lm builds it (models/glm4.py): Llama's
// attention (q, k and v biased when attention_bias, traditional RoPE over the first
// head_dim * partial_rotary_factor features, rope_scaling unread) and Phi-3's MLP (gate and up
// in one gate_up_proj), each followed by a norm of what it adds (ModelArgs::sandwich_norms:
// post_self_attn_layernorm, post_mlp_layernorm); an lm_head of its own.

#include "client/lm/llama.h"

namespace ferry::lm {

class Glm4 : public Llama {
 public:
  explicit Glm4(ModelArgs args);
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GLM4_H_
