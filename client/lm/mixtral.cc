#include "client/lm/mixtral.h"

#include <utility>

#include "client/ops.h"

namespace ferry::lm {

MixtralSparseMoeBlock::MixtralSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp", SwitchGLU(args.hidden_size, args.intermediate_size, args.num_experts))) {}

Array MixtralSparseMoeBlock::operator()(const Array& x) {
  const Array gates = gate_(x);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-gates, top_k_ - 1, -1), 0, top_k_));
  // Mixtral's softmax is over the chosen gates only.
  const Array scores = softmax(take_along_axis(gates, indices, -1), -1);
  return sum(switch_mlp_(x, indices) * expand_dims(scores, -1), -2);
}

Mixtral::Mixtral(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int) {
        return TransformerBlock(a, "block_sparse_moe", MixtralSparseMoeBlock(a));
      }) {}

nn::Parameters Mixtral::sanitize(nn::Parameters weights) const {
  return stack_experts(std::move(weights), args().num_experts, "block_sparse_moe.experts",
                       "block_sparse_moe.switch_mlp",
                       {{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}});
}

}  // namespace ferry::lm
