#ifndef FERRY_CLIENT_LM_DOTS1_H_
#define FERRY_CLIENT_LM_DOTS1_H_

// dots.llm1 (model_type dots1) as mlx-lm builds it (models/dots1.py): Qwen3's attention (q and
// k normalized per head, RoPE as rope_scaling says), first_k_dense_replace dense layers, then
// DeepSeek V3's mixture of experts (sigmoid router with the correction bias, grouped choice,
// shared experts), its routed experts named "experts"; the dense MLPs and shared experts
// biased when mlp_bias.

#include <utility>

#include "client/lm/llama.h"

namespace ferry::lm {

class Dots1 : public Llama {
 public:
  explicit Dots1(ModelArgs args);
  // mlx-lm's: Hugging Face's mlp.experts.E.{gate,up,down}_proj (weight, scales, biases)
  // stacked as mlp.experts', the rotary_emb.inv_freq buffers dropped, and lm_head dropped
  // where the embeddings are tied.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_DOTS1_H_
