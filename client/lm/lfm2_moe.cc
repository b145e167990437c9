#include "client/lm/lfm2_moe.h"

#include <utility>

#include "absl/strings/str_replace.h"
#include "client/lm/conv_weights.h"
#include "client/ops.h"

namespace ferry::lm {

Lfm2MoeSparseMoeBlock::Lfm2MoeSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      norm_topk_prob_(args.norm_topk_prob),
      use_expert_bias_(args.use_expert_bias),
      routed_scaling_factor_(args.routed_scaling_factor),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp",
          SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))) {
  if (use_expert_bias_) register_parameter("expert_bias", zeros({args.num_experts}));
}

Array Lfm2MoeSparseMoeBlock::operator()(const Array& x) {
  const Array weights = sigmoid(gate_(x));
  const Array ranked =
      use_expert_bias_ ? astype(weights, float32) + parameter("expert_bias") : weights;
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(ranked, -top_k_, -1), -top_k_, ranked.shape(-1)));
  Array scores = take_along_axis(weights, indices, -1);
  if (norm_topk_prob_) scores = scores / (sum(scores, -1, /*keepdims=*/true) + 1e-6);
  scores = astype(scores * routed_scaling_factor_, x.dtype());
  return sum(switch_mlp_(x, indices) * expand_dims(scores, -1), -2);
}

Lfm2Moe::Lfm2Moe(ModelArgs args)
    : Lfm2(std::move(args), [](const ModelArgs& a, int index) {
        return index < a.first_k_dense_replace
                   ? Lfm2Block(a, index, Mlp(a.hidden_size, a.intermediate_size))
                   : Lfm2Block(a, index, Lfm2MoeSparseMoeBlock(a));
      }) {}

nn::Parameters Lfm2Moe::sanitize(nn::Parameters weights) const {
  for (auto& [name, array] : weights) {
    name = absl::StrReplaceAll(name, {{"w1.weight", "gate_proj.weight"},
                                      {"w2.weight", "down_proj.weight"},
                                      {"w3.weight", "up_proj.weight"}});
  }
  return stack_experts(
      sanitize_conv_weights(std::move(weights), "conv.conv.weight"), args().num_experts,
      "feed_forward.experts", "feed_forward.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

}  // namespace ferry::lm
