#include "client/lm/gemma_layers.h"

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

GemmaMlp::GemmaMlp(int64_t dims, int64_t hidden_dims)
    : gate_proj_(register_module("gate_proj", nn::Linear(dims, hidden_dims, false))),
      down_proj_(register_module("down_proj", nn::Linear(hidden_dims, dims, false))),
      up_proj_(register_module("up_proj", nn::Linear(dims, hidden_dims, false))) {}

Array GemmaMlp::operator()(const Array& x) {
  return down_proj_(nn::gelu_approx(gate_proj_(x)) * up_proj_(x));
}

}  // namespace ferry::lm
