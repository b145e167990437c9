#ifndef FERRY_CLIENT_LM_HUNYUAN_H_
#define FERRY_CLIENT_LM_HUNYUAN_H_

// Hunyuan's mixture of experts ("hunyuan") as mlx-lm builds it (models/hunyuan.py): Llama's
// layers with each head's queries and keys normalized after RoPE
// (ModelArgs::qk_norm_after_rope), DynamicNTKAlphaRoPE (rope_type "ntk_alpha"), cross-layer
// attention where use_cla (ModelArgs::cla_share_factor: the layers off every
// cla_share_factor-th have no k_proj and v_proj and attend over the last projections), and
// an "mlp" of routed experts beside a shared MLP; the embedding its output layer. The dense
// model ("hunyuan_v1_dense") is Llama itself with those q/k norms and RoPE.

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate.wg", "switch_mlp" and, where shared_expert_intermediate_size (use_mixed_mlp_moe:
// intermediate_size * num_shared_expert), "shared_mlp": the top-k experts by the softmax of
// the gates, weighted by it (not renormalized), plus the shared MLP.
class HunyuanMoeBlock : public nn::Layer {
 public:
  explicit HunyuanMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
  Mlp* shared_mlp_ = nullptr;
};

class Hunyuan : public Llama {
 public:
  explicit Hunyuan(ModelArgs args);
  // mlx-lm's: Hunyuan-Large's fused projections split (self_attn.qkv_proj into q_proj, k_proj
  // and v_proj per key/value head group, mlp.gate_and_up_proj into up_proj and gate_proj)
  // where the checkpoint has model.layers.0.mlp.gate_and_up_proj.weight; Hugging Face's
  // mlp.experts.E.{gate,up,down}_proj stacked as mlp.switch_mlp's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_HUNYUAN_H_
