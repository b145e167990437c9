#include "client/lm/dots1.h"

#include <utility>

#include "absl/strings/match.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/switch_layers.h"

namespace ferry::lm {

Dots1::Dots1(ModelArgs args)
    : Llama(std::move(args), [](const ModelArgs& a, int index) {
        return index >= a.first_k_dense_replace
                   ? TransformerBlock(a, "mlp", DeepseekV3MoE(a, "experts"))
                   : TransformerBlock(a);
      }) {}

nn::Parameters Dots1::sanitize(nn::Parameters weights) const {
  nn::Parameters kept;
  for (auto& [name, weight] : weights) {
    const bool unused = absl::StrContains(name, "rotary_emb.inv_freq") ||
                        (args().tie_word_embeddings && name == "lm_head.weight");
    if (!unused) kept.emplace_back(std::move(name), std::move(weight));
  }
  return stack_experts(
      std::move(kept), args().num_experts, "mlp.experts", "mlp.experts",
      {{"gate_proj", "gate_proj"}, {"up_proj", "up_proj"}, {"down_proj", "down_proj"}});
}

}  // namespace ferry::lm
