#ifndef FERRY_CLIENT_LM_ERNIE4_5_MOE_H_
#define FERRY_CLIENT_LM_ERNIE4_5_MOE_H_

// ERNIE 4.5 as mlx-lm builds it (models/ernie4_5.py, ernie4_5_moe.py): Llama's layers, every
// projection and MLP biased when use_bias, traditional plain RoPE. The dense model
// ("ernie4_5") is Llama itself; the mixture's ("ernie4_5_moe") sparse layers (every
// moe_layer_interval-th between moe_layer_start_index and moe_layer_end_index) have an "mlp"
// of routed experts beside shared ones, the others a dense Mlp.

#include <optional>

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate", "switch_mlp" and, with n_shared_experts, "shared_experts" (an Mlp of
// n_shared_experts * moe_intermediate_size every token takes). The top-k experts by the
// softmax (or, sigmoid_router, the sigmoids) of the gates in float32, their weights
// renormalized to sum to 1.
class Ernie45MoeBlock : public nn::Layer {
 public:
  explicit Ernie45MoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  bool sigmoid_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
  Mlp* shared_experts_ = nullptr;
};

class Ernie45Moe : public Llama {
 public:
  explicit Ernie45Moe(ModelArgs args);
  // mlx-lm's: the multi-token prediction layers (mtp_*) and the routers'
  // e_score_correction_bias dropped (unused), Hugging Face's mlp.experts.E.{gate,up,down}_proj
  // stacked as mlp.switch_mlp's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_ERNIE4_5_MOE_H_
