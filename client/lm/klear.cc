#include "client/lm/klear.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "client/ops.h"

namespace ferry::lm {

KlearSparseMoeBlock::KlearSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      norm_topk_prob_(args.norm_topk_prob),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      experts_(register_module(
          "experts", SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))),
      shared_experts_(register_module(
          "shared_experts",
          Mlp(args.hidden_size, args.moe_intermediate_size * args.n_shared_experts))),
      coefficient_(register_module("coefficient", nn::Linear(args.hidden_size, 2, true))) {
  register_parameter("expert_bias", zeros({args.num_experts}));
}

Array KlearSparseMoeBlock::operator()(const Array& x) {
  const Array routing = sigmoid(astype(gate_(x), float32));
  const Array biased = routing + parameter("expert_bias");
  // mlx-lm's argpartition(-biased, k - 1)[..., :k]: the same experts in the same order.
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-biased, top_k_ - 1, -1), 0, top_k_));
  Array scores = take_along_axis(routing, indices, -1);
  if (norm_topk_prob_) scores = scores / sum(scores, -1, /*keepdims=*/true);
  scores = astype(scores, x.dtype());
  const Array routed = sum(experts_(x, indices) * expand_dims(scores, -1), -2);
  // softmax(precise=True): computed in float32, returned in the logits' dtype.
  const Array logits = coefficient_(x);
  const Array coef = astype(softmax(astype(logits, float32), -1), logits.dtype());
  return routed * slice_last_axis(coef, 0, 1) + shared_experts_(x) * slice_last_axis(coef, 1, 2);
}

Klear::Klear(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        const std::vector<int>& dense = a.mlp_only_layers;
        const bool sparse = std::find(dense.begin(), dense.end(), index) == dense.end() &&
                            a.num_experts > 0 && (index + 1) % a.decoder_sparse_step == 0;
        return sparse ? TransformerBlock(a, "mlp", KlearSparseMoeBlock(a))
                      : TransformerBlock(a, "mlp", Mlp(a.hidden_size, a.intermediate_size));
      }) {}

nn::Parameters Klear::sanitize(nn::Parameters weights) const {
  return stack_experts(
      std::move(weights), args().num_experts, "mlp.experts", "mlp.experts",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

std::optional<std::pair<int, int>> Klear::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "mlp.gate")) return kRouterQuantization;
  return std::nullopt;
}

bool Klear::casts(const std::string& name) const { return !absl::StrContains(name, "expert_bias"); }

}  // namespace ferry::lm
