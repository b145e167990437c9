#include "client/lm/ernie4_5_moe.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "client/ops.h"

namespace ferry::lm {

Ernie45MoeBlock::Ernie45MoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      sigmoid_(args.sigmoid_router),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(
          register_module("switch_mlp", SwitchGLU(args.hidden_size, args.moe_intermediate_size,
                                                  args.num_experts, args.mlp_bias))) {
  if (args.n_shared_experts > 0) {
    shared_experts_ = &register_module(
        "shared_experts",
        Mlp(args.hidden_size, args.moe_intermediate_size * args.n_shared_experts, args.mlp_bias));
  }
}

Array Ernie45MoeBlock::operator()(const Array& x) {
  const Array logits = astype(gate_(x), float32);
  const Array gates = sigmoid_ ? sigmoid(logits) : softmax(logits, -1);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-gates, top_k_ - 1, -1), 0, top_k_));
  Array scores = take_along_axis(gates, indices, -1);
  scores = scores / maximum(sum(scores, -1, /*keepdims=*/true), 1e-12f);
  const Array routed = switch_mlp_(x, indices);
  const Array y = astype(sum(routed * expand_dims(scores, -1), -2), routed.dtype());
  return shared_experts_ ? y + (*shared_experts_)(x) : y;
}

Ernie45Moe::Ernie45Moe(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        const std::vector<int>& dense = a.mlp_only_layers;
        const bool sparse = std::find(dense.begin(), dense.end(), index) == dense.end() &&
                            (index + 1) % a.decoder_sparse_step == 0;
        return sparse ? TransformerBlock(a, "mlp", Ernie45MoeBlock(a)) : TransformerBlock(a);
      }) {}

nn::Parameters Ernie45Moe::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, weight] : weights) {
    const bool unused =
        absl::StrContains(name, "mtp_block.") || absl::StrContains(name, "mtp_linear_proj.") ||
        absl::StrContains(name, "mtp_hidden_norm.") || absl::StrContains(name, "mtp_emb_norm.") ||
        absl::StrContains(name, "e_score_correction_bias");
    if (!unused) kept.emplace_back(std::move(name), std::move(weight));
  }
  return stack_experts(
      std::move(kept), args().num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

}  // namespace ferry::lm
