#ifndef FERRY_CLIENT_LM_TUNER_DORA_H_
#define FERRY_CLIENT_LM_TUNER_DORA_H_

// DoRA as mlx-lm's tuner/dora.py builds it: LoRA's low-rank update, then each output row of
// the adapted weight rescaled to a learned magnitude m (its norm at the start, so an adapted
// model starts as the model itself). The adapter computes the layer's whole output
// (nn::ReplacingAdapter) and keeps mlx-lm's names (lora_a, lora_b, m). lora.h's
// linear_to_lora_layers(..., use_dora=true) and fuse use these.

#include <cstdint>

#include "client/lm/tuner/lora.h"
#include "client/nn/dropout.h"
#include "client/nn/embedding.h"
#include "client/nn/linear.h"

namespace ferry::lm::tuner {

// mlx-lm's DoRALinear over `linear` (quantized or not), which owns it once set_adapter took
// it and must not move while it does: lora_a and lora_b as LoRALinear's, m the norms of the
// (dequantized) weight's rows in float32.
class DoRALinear : public nn::Layer, public nn::ReplacingAdapter {
 public:
  DoRALinear(nn::Linear& linear, int rank = 8, double scale = 20.0, double dropout = 0.0);
  // m / |W + scale * B.T A.T| (the norm held constant in the gradient, as mlx-lm) times
  // (x @ W.T + scale * (dropout(x) @ A) @ B), plus the layer's bias.
  Array operator()(const Array& x) override;
  // The fused weight from `weight` (the layer's, dequantized): its rows, updated, rescaled
  // to m.
  Array fused_weight(const Array& weight) const;

 private:
  nn::Linear& linear_;
  double scale_;
  nn::Dropout& dropout_;
};

// mlx-lm's DoRAEmbedding over an unquantized `embedding`: lora_a and lora_b as
// LoRAEmbedding's, m the norms of its rows.
class DoRAEmbedding : public nn::Embedding::Adapter, public nn::ReplacingAdapter {
 public:
  DoRAEmbedding(nn::Embedding& embedding, int rank = 8, double scale = 20.0, double dropout = 0.0);
  // Each row updated, then rescaled to m[i] by its updated norm.
  Array operator()(const Array& indices) override;
  // The tied output layer: x @ the updated weight's transpose, rescaled to m.
  Array as_linear(const Array& x) override;
  Array fused_weight(const Array& weight) const;

 private:
  nn::Embedding& embedding_;
  double scale_;
  nn::Dropout& dropout_;
};

// Adapt a layer in place with DoRA and return its adapter. Throw INVALID_ARGUMENT when it
// is adapted already, or (the embedding) quantized: mlx-lm's DoRAEmbedding cannot be either.
DoRALinear& to_dora(nn::Linear& linear, const LoRAConfig& config);
DoRAEmbedding& to_dora(nn::Embedding& embedding, const LoRAConfig& config);

}  // namespace ferry::lm::tuner

#endif  // FERRY_CLIENT_LM_TUNER_DORA_H_
