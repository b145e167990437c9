#ifndef FERRY_CLIENT_LM_MIMO_H_
#define FERRY_CLIENT_LM_MIMO_H_

// MiMo (Xiaomi: model_type "mimo") as mlx-lm builds it (models/mimo.py): Qwen2's layers (q,
// k and v biased, RMSNorms), RoPE as initialize_rope makes it, lm_head unless tied. Its
// multi-token-prediction layers are not part of mlx-lm's model: sanitize drops them.

#include <utility>

#include "client/lm/llama.h"

namespace ferry::lm {

class Mimo : public Llama {
 public:
  explicit Mimo(ModelArgs args) : Llama(std::move(args)) {}
  // mlx-lm's: lm_head.weight dropped where the embeddings are tied, and every
  // self_attn.rotary_emb.inv_freq and model.mtp_layers.* weight.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MIMO_H_
