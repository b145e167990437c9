#include "client/lm/qwen3_moe.h"

#include <algorithm>
#include <utility>

#include "client/ops.h"

namespace ferry::lm {

Qwen3MoeSparseMoeBlock::Qwen3MoeSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      norm_topk_prob_(args.norm_topk_prob),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp",
          SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))) {}

Array Qwen3MoeSparseMoeBlock::operator()(const Array& x) {
  const Array gates = softmax(gate_(x), -1);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(gates, -top_k_, -1), -top_k_, gates.shape(-1)));
  Array scores = take_along_axis(gates, indices, -1);
  if (norm_topk_prob_) scores = scores / sum(scores, -1, /*keepdims=*/true);
  const Array y = switch_mlp_(x, indices);
  return astype(sum(y * expand_dims(scores, -1), -2), y.dtype());
}

Qwen3Moe::Qwen3Moe(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        const std::vector<int>& dense = a.mlp_only_layers;
        const bool sparse = std::find(dense.begin(), dense.end(), index) == dense.end() &&
                            a.num_experts > 0 && (index + 1) % a.decoder_sparse_step == 0;
        return sparse ? TransformerBlock(a, "mlp", Qwen3MoeSparseMoeBlock(a))
                      : TransformerBlock(a, "mlp", Mlp(a.hidden_size, a.intermediate_size));
      }) {}

nn::Parameters Qwen3Moe::sanitize(nn::Parameters weights) const {
  return stack_experts(
      std::move(weights), args().num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

}  // namespace ferry::lm
