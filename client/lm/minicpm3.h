#ifndef FERRY_CLIENT_LM_MINICPM3_H_
#define FERRY_CLIENT_LM_MINICPM3_H_

// MiniCPM3 as mlx-lm builds it (models/minicpm3.py): MiniCPM's layers and scales (minicpm.h)
// around DeepSeek V2's latent attention (deepseek_v2.h: q_a_proj, q_a_layernorm, q_b_proj,
// kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj, the whole keys and values cached),
// its latent norms of eps 1e-5, v_head_dim hidden_size / heads, the scale q_head_dim^-0.5,
// and SuScaledRoPE (Rope's "longrope") over the qk_rope_head_dim features. No sanitize.

#include <utility>

#include "client/lm/minicpm.h"

namespace ferry::lm {

// model_type "minicpm3".
class MiniCPM3 : public MiniCPM {
 public:
  explicit MiniCPM3(ModelArgs args) : MiniCPM(std::move(args)) {}
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MINICPM3_H_
