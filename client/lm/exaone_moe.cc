#include "client/lm/exaone_moe.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/switch_layers.h"

namespace ferry::lm {

ExaoneMoe::ExaoneMoe(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        ModelArgs layer = a;
        layer.rope = a.no_rope_layers.at(static_cast<size_t>(index)) != 0;
        const std::vector<int>& dense = a.mlp_only_layers;
        if (std::find(dense.begin(), dense.end(), index) != dense.end()) {
          return TransformerBlock(layer);
        }
        return TransformerBlock(layer, "mlp", DeepseekV3MoE(layer));
      }) {}

nn::Parameters ExaoneMoe::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    if (absl::StartsWith(name, "mtp.")) continue;
    if (args().tie_word_embeddings && name == "lm_head.weight") continue;
    std::string target = name;
    // Only the sparse layers' bias moves, as mlx-lm's loop over is_moe_layer.
    const std::string bias = ".mlp.e_score_correction_bias";
    if (absl::EndsWith(name, bias)) {
      for (int i = 0; i < args().num_hidden_layers; ++i) {
        const std::vector<int>& dense = args().mlp_only_layers;
        if (name == absl::StrCat("model.layers.", i, bias) &&
            std::find(dense.begin(), dense.end(), i) == dense.end()) {
          target = absl::StrCat("model.layers.", i, ".mlp.gate.e_score_correction_bias");
        }
      }
    }
    kept.emplace_back(std::move(target), std::move(array));
  }
  return stack_experts(
      std::move(kept), args().num_experts, "mlp.experts", "mlp.switch_mlp",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

bool ExaoneMoe::casts(const std::string& name) const {
  return !absl::StrContains(name, "e_score_correction_bias");
}

}  // namespace ferry::lm
