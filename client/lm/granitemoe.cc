#include "client/lm/granitemoe.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "client/ops.h"

namespace ferry::lm {

GraniteMoeBlock::GraniteMoeBlock(const ModelArgs& args)
    : top_k_(args.num_experts_per_tok),
      router_(
          register_module("router.layer", nn::Linear(args.hidden_size, args.num_experts, false))),
      switch_mlp_(register_module(
          "switch_mlp", SwitchGLU(args.hidden_size, args.intermediate_size, args.num_experts))) {}

Array GraniteMoeBlock::operator()(const Array& x) {
  const Array logits = router_(x);
  const Array indices =
      stop_gradient(slice_last_axis(argpartition(-logits, top_k_ - 1, -1), 0, top_k_));
  // The softmax of the chosen logits only, in float32 (mlx-lm's GraniteMoeTopKGating).
  const Array gates = softmax(astype(take_along_axis(logits, indices, -1), float32), -1);
  const Array y = switch_mlp_(x, indices);
  return astype(sum(y * expand_dims(gates, -1), -2), y.dtype());
}

GraniteMoe::GraniteMoe(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int) {
        return TransformerBlock(a, "block_sparse_moe", GraniteMoeBlock(a));
      }) {}

nn::Parameters GraniteMoe::sanitize(nn::Parameters weights) const {
  nn::Parameters out;
  for (auto& [name, value] : weights) {
    if (absl::EndsWith(name, "block_sparse_moe.input_linear.weight")) {
      // (E, 2 * intermediate, hidden): gate's rows first, then up's.
      std::vector<Array> halves = split(value, 2, 1);
      out.emplace_back(absl::StrReplaceAll(name, {{"input_linear", "switch_mlp.gate_proj"}}),
                       halves[0]);
      out.emplace_back(absl::StrReplaceAll(name, {{"input_linear", "switch_mlp.up_proj"}}),
                       halves[1]);
    } else if (absl::EndsWith(name, "block_sparse_moe.output_linear.weight")) {
      out.emplace_back(absl::StrReplaceAll(name, {{"output_linear", "switch_mlp.down_proj"}}),
                       std::move(value));
    } else {
      out.emplace_back(name, std::move(value));
    }
  }
  return out;
}

std::optional<std::pair<int, int>> GraniteMoe::own_quantization(const std::string& path) const {
  if (absl::EndsWith(path, "block_sparse_moe.router.layer") ||
      absl::EndsWith(path, "self_attn.o_proj") || absl::EndsWith(path, "mlp.down_proj") ||
      path == "lm_head") {
    return kRouterQuantization;
  }
  return std::nullopt;
}

}  // namespace ferry::lm
