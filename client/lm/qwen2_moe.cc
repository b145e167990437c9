#include "client/lm/qwen2_moe.h"

#include <utility>

#include "client/ops.h"

namespace ferry::lm {

Qwen2MoeSparseMoeBlock::Qwen2MoeSparseMoeBlock(const ModelArgs& args, bool norm_topk_prob)
    : top_k_(args.num_experts_per_tok),
      norm_topk_prob_(norm_topk_prob),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp", SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))),
      shared_expert_(register_module("shared_expert",
                                     Mlp(args.hidden_size, args.shared_expert_intermediate_size))),
      shared_expert_gate_(
          register_module("shared_expert_gate", nn::Linear(args.hidden_size, 1, false))) {}

Array Qwen2MoeSparseMoeBlock::operator()(const Array& x) {
  const auto [indices, scores] = softmax_top_k(gate_(x), top_k_, norm_topk_prob_);
  const Array y = sum(switch_mlp_(x, indices) * expand_dims(scores, -1), -2);
  return y + sigmoid(shared_expert_gate_(x)) * shared_expert_(x);
}

Qwen2Moe::Qwen2Moe(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int) {
        return TransformerBlock(a, "mlp", Qwen2MoeSparseMoeBlock(a));
      }) {}

nn::Parameters Qwen2Moe::sanitize(nn::Parameters weights) const {
  return stack_experts(
      std::move(weights), args().num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

}  // namespace ferry::lm
