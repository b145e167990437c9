#ifndef FERRY_CLIENT_LM_KLEAR_H_
#define FERRY_CLIENT_LM_KLEAR_H_

// Klear as mlx-lm builds it (models/Klear.py, model_type "Klear"): Qwen3's attention (q and
// k normalized per head, llama.h) with biases where attention_bias; in each sparse layer
// (not in mlp_only_layers, on decoder_sparse_step) routed experts beside a shared MLP, the
// two mixed by the softmax of a biased "coefficient" Linear; the other layers a dense MLP.

#include <optional>
#include <string>
#include <utility>

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate", "experts", "shared_experts", "coefficient", "expert_bias": the top-k experts by
// sigmoid(gate) + expert_bias, weighted by the sigmoid alone (renormalized to sum to 1 when
// norm_topk_prob); y = experts * c0 + shared * c1, c = softmax(coefficient(x)) (precise).
class KlearSparseMoeBlock : public nn::Layer {
 public:
  explicit KlearSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  bool norm_topk_prob_;
  nn::Linear& gate_;
  SwitchGLU& experts_;
  Mlp& shared_experts_;
  nn::Linear& coefficient_;
};

class Klear : public Llama {
 public:
  explicit Klear(ModelArgs args);
  // Hugging Face's mlp.experts.E.{gate,up,down}_proj stacked as mlp.experts'.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's quant_predicate: the router (mlp.gate) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
  // mlx-lm's cast_predicate: expert_bias stays float32.
  bool casts(const std::string& name) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_KLEAR_H_
