#include "client/nn/activations.h"

#include "client/ops.h"

namespace ferry::nn {

ReLU::ReLU() : Lambda([](const Array& x) { return relu(x); }) {}
GELU::GELU() : Lambda([](const Array& x) { return gelu(x); }) {}
SiLU::SiLU() : Lambda([](const Array& x) { return silu(x); }) {}
Sigmoid::Sigmoid() : Lambda([](const Array& x) { return sigmoid(x); }) {}
Tanh::Tanh() : Lambda([](const Array& x) { return tanh(x); }) {}

}  // namespace ferry::nn
