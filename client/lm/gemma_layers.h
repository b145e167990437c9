#ifndef FERRY_CLIENT_LM_GEMMA_LAYERS_H_
#define FERRY_CLIENT_LM_GEMMA_LAYERS_H_

// What Gemma 2 and Gemma 3 share as mlx-lm builds them (models/gemma2.py, gemma3_text.py):
// their RMSNorm, whose weights are offsets from one, and their GELU (tanh) gated MLP (Gemma
// 3n's and 4's too).

#include <cstdint>

#include "client/lm/model_args.h"
#include "client/nn/linear.h"
#include "client/nn/module.h"

namespace ferry::lm {

// fast::rms_norm with 1 + weight.
class GemmaRMSNorm : public nn::Layer {
 public:
  GemmaRMSNorm(int64_t dims, float eps);
  Array operator()(const Array& x) override;

 private:
  float eps_;
};

// down_proj(gelu_approx(gate_proj(x)) * up_proj(x)), without biases.
class GemmaMlp : public nn::Layer {
 public:
  explicit GemmaMlp(const ModelArgs& args) : GemmaMlp(args.hidden_size, args.intermediate_size) {}
  // Of another width (Gemma 4's double-wide MLPs in its KV-shared layers). With
  // activation_sparsity s > 0 (Gemma 3n's first layers), the gate's features below its mean plus
  // sqrt(2) erfinv(2 s - 1) standard deviations (a gaussian top-k) are zeroed before the GELU:
  // gelu_approx(max(0, gate - cutoff)), as mlx-lm's gelu_topk.
  GemmaMlp(int64_t dims, int64_t hidden_dims, float activation_sparsity = 0.0f);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &gate_proj_, &down_proj_, &up_proj_;
  float activation_sparsity_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GEMMA_LAYERS_H_
