#ifndef FERRY_CLIENT_LM_GRANITEMOE_H_
#define FERRY_CLIENT_LM_GRANITEMOE_H_

// IBM Granite 3.x MoE as mlx-lm builds it (models/granitemoe.py): Granite's layers with a
// mixture of experts for the MLP ("block_sparse_moe"): a router ("router.layer") whose top-k
// logits are softmaxed into the chosen experts' weights, the experts a SwitchGLU
// ("switch_mlp") of intermediate_size.

#include <optional>
#include <string>
#include <utility>

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

class GraniteMoeBlock : public nn::Layer {
 public:
  explicit GraniteMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  nn::Linear& router_;
  SwitchGLU& switch_mlp_;
};

class GraniteMoe : public Llama {
 public:
  explicit GraniteMoe(ModelArgs args);
  // Hugging Face's experts: block_sparse_moe.input_linear (E, 2 * intermediate, hidden),
  // gate's rows then up's, and output_linear, as switch_mlp's gate_proj, up_proj, down_proj.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's quant_predicate: the routers, o_proj and lm_head at 8 bits in groups of 64.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GRANITEMOE_H_
