#include "client/lm/gemma_layers.h"

#include <cmath>

#include "client/fast.h"
#include "client/nn/activations.h"
#include "client/ops.h"

namespace ferry::lm {

GemmaRMSNorm::GemmaRMSNorm(int64_t dims, float eps) : eps_(eps) {
  register_parameter("weight", ones({dims}));
}

Array GemmaRMSNorm::operator()(const Array& x) {
  return fast::rms_norm(x, parameter("weight") + 1.0f, eps_);
}

GemmaMlp::GemmaMlp(int64_t dims, int64_t hidden_dims, float activation_sparsity)
    : gate_proj_(register_module("gate_proj", nn::Linear(dims, hidden_dims, false))),
      down_proj_(register_module("down_proj", nn::Linear(hidden_dims, dims, false))),
      up_proj_(register_module("up_proj", nn::Linear(dims, hidden_dims, false))),
      activation_sparsity_(activation_sparsity) {}

Array GemmaMlp::operator()(const Array& x) {
  Array gate = gate_proj_(x);
  if (activation_sparsity_ > 0) {
    // mlx-lm's _std_multiplier: sqrt(2) * mx.erfinv (float32) of 2 s - 1.
    const Array multiplier = erfinv(full({}, 2.0 * static_cast<double>(activation_sparsity_) - 1.0,
                                         float32, gate.device())) *
                             static_cast<float>(std::sqrt(2.0));
    const Array deviation = std(gate, -1, true);
    const Array cutoff = mean(gate, -1, true) + deviation * astype(multiplier, deviation.dtype());
    gate = maximum(0.0f, gate - cutoff);
  }
  return down_proj_(nn::gelu_approx(gate) * up_proj_(x));
}

}  // namespace ferry::lm
