#ifndef FERRY_CLIENT_LM_MINISTRAL3_H_
#define FERRY_CLIENT_LM_MINISTRAL3_H_

// Ministral 3 as mlx-lm builds it (models/ministral3.py; the text model of Ministral 3 and of
// the mistral3 checkpoints whose text_config says "ministral3"): Llama's layers, those
// layer_types calls "sliding_attention" over the last sliding_window positions (a ring of
// the window in make_prompt_cache), and every layer's queries at position p scaled by Llama
// 4's 1 + llama_4_scaling_beta * log(1 + floor(p / original_max_position_embeddings)) (both
// from rope_parameters): ModelArgs::layer_types and llama_4_scaling, options of Llama's.

#include <utility>

#include "client/lm/llama.h"

namespace ferry::lm {

class Ministral3 : public Llama {
 public:
  explicit Ministral3(ModelArgs args) : Llama(std::move(args)) {}
  // mlx-lm's sanitize: a weight with a "<name>_scale_inv" beside it times that scale (FP8
  // checkpoints' per-tensor scales; ferry reads no F8_E4M3 weight itself), activation_scale
  // dropped, and lm_head.weight where the embeddings are tied. INVALID_ARGUMENT names a
  // scale whose weight is missing.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MINISTRAL3_H_
