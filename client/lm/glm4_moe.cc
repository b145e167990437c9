#include "client/lm/glm4_moe.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/switch_layers.h"

namespace ferry::lm {

Glm4Moe::Glm4Moe(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        return a.num_experts > 0 && index >= a.first_k_dense_replace
                   ? TransformerBlock(a, "mlp", DeepseekV3MoE(a))
                   : TransformerBlock(a);
      }) {}

nn::Parameters Glm4Moe::sanitize(nn::Parameters weights) const {
  // mlx-lm drops every name starting so (its prefix test, kept as it is).
  const std::string prediction = absl::StrCat("model.layers.", args().num_hidden_layers);
  nn::Parameters kept;
  for (auto& [name, weight] : weights) {
    if (!absl::StartsWith(name, prediction)) kept.emplace_back(std::move(name), std::move(weight));
  }
  return stack_experts(
      std::move(kept), args().num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

bool Glm4Moe::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias");
}

}  // namespace ferry::lm
