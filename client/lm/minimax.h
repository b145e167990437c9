#ifndef FERRY_CLIENT_LM_MINIMAX_H_
#define FERRY_CLIENT_LM_MINIMAX_H_

// MiniMax-M2 (model_type minimax) as mlx-lm builds it (models/minimax.py): Llama's attention
// with q and k normalized over the whole projections (use_qk_norm: ModelArgs::qk_norm_whole)
// and RoPE over the first rotary_dim features of each head (ModelArgs::partial_rotary_factor),
// and in every layer a "block_sparse_moe" of experts routed by sigmoid scores ranked with a
// correction bias.

#include <optional>
#include <string>
#include <utility>

#include "client/lm/llama.h"
#include "client/lm/switch_layers.h"
#include "client/nn/linear.h"

namespace ferry::lm {

// "gate", "switch_mlp" and "e_score_correction_bias" (num_experts,): the sigmoids of the
// gates of x in float32, plus the bias, rank the experts; the top num_experts_per_tok are
// weighted by their sigmoids divided by their sum (plus 1e-20).
class MinimaxSparseMoeBlock : public nn::Layer {
 public:
  explicit MinimaxSparseMoeBlock(const ModelArgs& args);
  Array operator()(const Array& x) override;

 private:
  int top_k_;
  nn::Linear& gate_;
  SwitchGLU& switch_mlp_;
};

class Minimax : public Llama {
 public:
  explicit Minimax(ModelArgs args);
  // mlx-lm's: Hugging Face's block_sparse_moe.experts.E.{w1,w2,w3} stacked as
  // block_sparse_moe.switch_mlp.{gate,down,up}_proj. FP8 checkpoints (weight_scale_inv),
  // which mlx-lm dequantizes, throw UNIMPLEMENTED.
  nn::Parameters sanitize(nn::Parameters weights) const override;
  // mlx-lm's: e_score_correction_bias kept in its dtype.
  bool casts(const std::string& name) const override;
  // mlx-lm's: the routers (block_sparse_moe.gate) in 8 bits.
  std::optional<std::pair<int, int>> own_quantization(const std::string& path) const override;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_MINIMAX_H_
