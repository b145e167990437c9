#include "client/lm/olmoe.h"

#include <utility>

#include "client/lm/qwen3_moe.h"
#include "client/lm/switch_layers.h"

namespace ferry::lm {

Olmoe::Olmoe(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int) {
        return TransformerBlock(a, "mlp", Qwen3MoeSparseMoeBlock(a));
      }) {}

nn::Parameters Olmoe::sanitize(nn::Parameters weights) const {
  return stack_experts(
      std::move(weights), args().num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

}  // namespace ferry::lm
