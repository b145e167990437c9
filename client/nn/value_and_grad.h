#ifndef FERRY_CLIENT_NN_VALUE_AND_GRAD_H_
#define FERRY_CLIENT_NN_VALUE_AND_GRAD_H_

#include <functional>
#include <utility>
#include <vector>

#include "client/nn/module.h"

namespace ferry::nn {

// MLX's nn.value_and_grad: fn's scalar value and its gradient with respect to model's
// trainable parameters, named as trainable_parameters() names them (what
// Optimizer::update(model, grads) takes). fn computes through the model; the returned
// function passes its inputs on to fn.
//
//   auto loss_and_grads = nn::value_and_grad(model, [&](const std::vector<Array>& in) {
//     return nn::losses::cross_entropy(model(in[0]), in[1], nn::losses::Reduction::kMean);
//   });
//   auto [loss, grads] = loss_and_grads({x, y});
//   optimizer.update(model, grads);
using ModuleLossFn = std::function<Array(const std::vector<Array>& inputs)>;
std::function<std::pair<Array, Parameters>(const std::vector<Array>& inputs)> value_and_grad(
    Module& model, ModuleLossFn fn);
// fn returning its loss first and auxiliary values after (an accuracy, the logits): all
// of them, and the gradient of the first.
using ModuleLossAndAuxFn = std::function<std::vector<Array>(const std::vector<Array>& inputs)>;
std::function<std::pair<std::vector<Array>, Parameters>(const std::vector<Array>& inputs)>
value_and_grad(Module& model, ModuleLossAndAuxFn fn);

// MLX's nn.utils.checkpoint: fn, computing through `module`, whose backward pass
// recomputes fn's intermediates from its inputs and the module's trainable parameters
// (ferry::checkpoint over both) instead of keeping them from the forward pass: less memory
// for a deep model's activations, at the cost of a second forward pass. Same values and
// gradients as fn.
using ModuleFn = std::function<std::vector<Array>(const std::vector<Array>& inputs)>;
ModuleFn checkpoint(Module& module, ModuleFn fn);

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_VALUE_AND_GRAD_H_
