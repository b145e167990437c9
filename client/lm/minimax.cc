#include "client/lm/minimax.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/error.h"
#include "client/lm/deepseek_v3.h"
#include "client/ops.h"

namespace ferry::lm {

MinimaxSparseMoeBlock::MinimaxSparseMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      gate_(register_module("gate", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp",
          SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts))) {
  register_parameter("e_score_correction_bias", zeros({args.num_experts}));
}

Array MinimaxSparseMoeBlock::operator()(const Array& x) {
  const Array scores = sigmoid(gate_(astype(x, float32)));
  // Normalized whatever top_k, as mlx-lm's block does (not group_expert_select's way).
  auto [indices, weights] =
      select_grouped_experts(scores, parameter("e_score_correction_bias"), top_k_, 1, 1, 1.0f,
                             /*norm_topk_prob=*/false);
  weights = weights / (sum(weights, -1, /*keepdims=*/true) + 1e-20f);
  const Array y = switch_mlp_(x, indices);
  return sum(y * expand_dims(astype(weights, x.dtype()), -1), -2);
}

Minimax::Minimax(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int) {
        return TransformerBlock(a, "block_sparse_moe", MinimaxSparseMoeBlock(a));
      }) {}

nn::Parameters Minimax::sanitize(nn::Parameters weights) const {
  for (const auto& [name, weight] : weights) {
    if (absl::StrContains(name, "weight_scale_inv")) {
      throw Error(ErrorCode::kUnimplemented,
                  absl::StrCat("[load_model] ", name,
                               ": MiniMax's FP8 checkpoints are not read by ferry::lm (mlx-lm's "
                               "conversions of them are)."));
    }
  }
  return stack_experts(std::move(weights), args().num_experts, "block_sparse_moe.experts",
                       "block_sparse_moe.switch_mlp",
                       {{"w1", "gate_proj"}, {"w2", "down_proj"}, {"w3", "up_proj"}});
}

bool Minimax::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias");
}

std::optional<std::pair<int, int>> Minimax::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "block_sparse_moe.gate")) return kRouterQuantization;
  return std::nullopt;
}

}  // namespace ferry::lm
