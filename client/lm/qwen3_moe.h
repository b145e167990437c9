#ifndef FERRY_CLIENT_LM_QWEN3_MOE_H_
#define FERRY_CLIENT_LM_QWEN3_MOE_H_

// Qwen3-MoE as mlx-lm builds it (models/qwen3_moe.py): Qwen3's attention (q and k normalized
// per head), and in each sparse layer an "mlp" of routed experts; the others (mlp_only_layers,
// or off decoder_sparse_step) keep a dense Mlp of intermediate_size.

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate" and "switch_mlp": the top-k experts by the softmax of all the gates, weighted by
// it, renormalized to sum to 1 when norm_topk_prob; the experts biased when mlp_bias
// (OLMoE's).
class Qwen3MoeSparseMoeBlock : public nn::Layer {
 public:
  explicit Qwen3MoeSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  bool norm_topk_prob_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
};

class Qwen3Moe : public Llama {
 public:
  explicit Qwen3Moe(ModelArgs args);
  // Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as mlp.switch_mlp's.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: the router (mlp.gate) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_QWEN3_MOE_H_
