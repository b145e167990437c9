#include "client/lm/phimoe.h"

#include <limits>
#include <utility>

#include "client/ops.h"

namespace ferry::lm {

PhimoeSparseMoeBlock::PhimoeSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      jitter_eps_(args.router_jitter_noise),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp", SwitchGLU(args.hidden_size, args.intermediate_size, args.num_experts))) {}

Array PhimoeSparseMoeBlock::operator()(const Array& x) {
  const Array gates = gate_(x);
  const float inf = std::numeric_limits<float>::infinity();
  Array masked = gates;
  std::vector<Array> indices, scores;
  for (int k = 0; k < top_k_; ++k) {
    const Array top = max(masked, -1, /*keepdims=*/true);
    const Array index = stop_gradient(argmax(masked, -1, /*keepdims=*/true));
    // The gates far below the top one (relative to the larger magnitude) leave the softmax.
    const Array factor = maximum(abs(gates), top);
    const Array band = softmax(where((top - gates) / factor > 2 * jitter_eps_, -inf, masked), -1);
    scores.push_back(take_along_axis(band, index, -1));
    indices.push_back(index);
    masked = put_along_axis(masked, index, -inf, -1);
  }
  const Array chosen = concatenate(indices, -1);
  const Array weights = concatenate(scores, -1);
  return sum(switch_mlp_(x, chosen) * expand_dims(weights, -1), -2);
}

Phimoe::Phimoe(ModelArgs args)
    : args_(std::move(args)),
      model_(register_module("model", LlamaModel(args_,
                                                 [](const ModelArgs& a, int) {
                                                   return TransformerBlock(a, "block_sparse_moe",
                                                                           PhimoeSparseMoeBlock(a));
                                                 }))),
      lm_head_(register_module("lm_head", nn::Linear(args_.hidden_size, args_.vocab_size, true))) {}

Array Phimoe::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return lm_head_(model_(tokens, cache));
}

nn::Parameters Phimoe::sanitize(nn::Parameters weights) const {
  return stack_experts(std::move(weights), args_.num_experts, "block_sparse_moe.experts",
                       "block_sparse_moe.switch_mlp",
                       {{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}});
}

}  // namespace ferry::lm
