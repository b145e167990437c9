#ifndef FERRY_CLIENT_LM_GRANITE_H_
#define FERRY_CLIENT_LM_GRANITE_H_

// IBM Granite 3.x as mlx-lm builds it (models/granite.py): Llama with its embeddings,
// attention scale, residual branches and logits scaled by the config's multipliers
// (ModelArgs::embedding_multiplier, attention_multiplier, residual_multiplier,
// logits_scaling: options of Llama's layers).

#include <optional>
#include <string>
#include <utility>

#include "client/lm/llama.h"

namespace ferry::lm {

class Granite : public Llama {
 public:
  explicit Granite(ModelArgs args) : Llama(std::move(args)) {}
  // mlx-lm's quant_predicate: o_proj, down_proj and lm_head at 8 bits in groups of 64.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GRANITE_H_
