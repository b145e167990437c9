#ifndef FERRY_CLIENT_LM_QWEN2_MOE_H_
#define FERRY_CLIENT_LM_QWEN2_MOE_H_

// Qwen1.5-MoE and Qwen2-MoE as mlx-lm builds them (models/qwen2_moe.py): Qwen2's attention
// (biased q, k and v), and in each layer an "mlp" of routed experts beside a shared one.

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate" and "switch_mlp": the top-k experts by the softmax of all the gates, weighted by
// it (renormalized over the k with norm_topk_prob: Qwen3-Next's); plus "shared_expert", an
// Mlp every token takes, scaled by the sigmoid of "shared_expert_gate".
class Qwen2MoeSparseMoeBlock : public nn::Layer {
 public:
  explicit Qwen2MoeSparseMoeBlock(const ModelArgs& args, bool norm_topk_prob = false);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  bool norm_topk_prob_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
  Mlp& shared_expert_;
  nn::Linear& shared_expert_gate_;
};

class Qwen2Moe : public Llama {
 public:
  explicit Qwen2Moe(ModelArgs args);
  // Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as mlp.switch_mlp's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_QWEN2_MOE_H_
