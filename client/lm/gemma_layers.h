#ifndef FERRY_CLIENT_LM_GEMMA_LAYERS_H_
#define FERRY_CLIENT_LM_GEMMA_LAYERS_H_

// What Gemma 2 and Gemma 3 share as mlx-lm builds them (models/gemma2.py, gemma3_text.py):
// their RMSNorm, whose weights are offsets from one, and their GELU (tanh) gated MLP (Gemma
// 4's too).

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
  // Of another width (Gemma 4's double-wide MLPs in its KV-shared layers).
  GemmaMlp(int64_t dims, int64_t hidden_dims);
  Array operator()(const Array& x) override;

 private:
  nn::Linear &gate_proj_, &down_proj_, &up_proj_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GEMMA_LAYERS_H_
