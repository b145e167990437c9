#ifndef FERRY_CLIENT_LM_DEEPSEEK_V2_H_
#define FERRY_CLIENT_LM_DEEPSEEK_V2_H_

// What DeepSeek V2 (models/deepseek_v2.py: DeepSeek-V2, V2.5, V2-Lite, Coder-V2) does other
// than V3 (deepseek_v3.h, which builds both): its attention and its router.

#include <optional>
#include <utility>

#include "client/lm/deepseek_v3.h"
#include "client/lm/mla.h"

namespace ferry::lm {

// MlaProjections' layers and "kv_b_proj": the latent up-projected into each head's
// qk_nope_head_dim key features and v_head_dim values, the rotated key features repeated
// for every head beside them, and those keys and values cached as any model's (no latent in
// the cache).
class DeepseekV2Attention : public MlaProjections {
 public:
  explicit DeepseekV2Attention(const ModelArgs& args);
  Array operator()(const Array& x, const std::optional<Array>& mask, KVCache* cache,
                   const std::optional<Array>& position);

 private:
  nn::Linear& kv_b_proj_;
};

// mlx-lm's DeepSeek V2 MoEGate: the softmax of the router logits `gates`; with n_group > 1
// (topk_method "group_limited_greedy") only the topk_group groups of the highest single
// score compete; the top_k experts, weighted by their softmax times routed_scaling_factor
// (not renormalized).
std::pair<Array, Array> deepseek_v2_select(const Array& gates, int top_k, int n_group,
                                           int topk_group, float routed_scaling_factor);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_DEEPSEEK_V2_H_
