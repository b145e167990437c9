#include "client/lm/qwen3_moe.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "client/ops.h"

namespace ferry::lm {

Qwen3MoeSparseMoeBlock::Qwen3MoeSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      norm_topk_prob_(args.norm_topk_prob),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(
          register_module("switch_mlp", SwitchGLU(args.hidden_size, args.moe_intermediate_size,
                                                  args.num_experts, args.mlp_bias))) {}

Array Qwen3MoeSparseMoeBlock::operator()(const Array& x) {
  const auto [indices, scores] = softmax_top_k(gate_(x), top_k_, norm_topk_prob_);
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

std::optional<std::pair<int, int>> Qwen3Moe::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "mlp.gate")) return kRouterQuantization;
  return std::nullopt;
}

}  // namespace ferry::lm
