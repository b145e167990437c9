#ifndef FERRY_CLIENT_AUTODIFF_H_
#define FERRY_CLIENT_AUTODIFF_H_

// Reverse-mode automatic differentiation, after MLX's C++ API. The function runs once on
// the primals, building its lazy graph as usual; the backward graph is then built from
// each op's vector-Jacobian product rule (client/vjp/), also lazily. Nothing runs until
// eval, so forward pass, backward pass and an optimizer update evaluate together as one
// graph: one Execute on a remote device.
//
//   auto loss_and_grads = ferry::value_and_grad(
//       [&](const std::vector<ferry::Array>& p) { return loss(p[0], p[1], x, y); }, {0, 1});
//   auto [loss, grads] = loss_and_grads({w, b});
//
// Gradients flow to floating inputs only: comparisons, indices, random draws and integer
// arrays contribute zeros, as in MLX. An op without a rule throws ferry::Error
// (kUnimplemented, "[vjp] no gradient for op 'foo'") when the backward graph is built.
// The function must not eval() arrays it differentiates through.

#include <functional>
#include <utility>
#include <vector>

#include "client/array.h"

namespace ferry {

// The outputs of fun(primals), and the vector-Jacobian product of fun at primals with the
// cotangents (one per output, of its shape): the cotangent of each primal, of its shape and
// dtype (zeros for primals the outputs do not depend on).
std::pair<std::vector<Array>, std::vector<Array>> vjp(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<Array>& primals, const std::vector<Array>& cotangents);
std::pair<Array, Array> vjp(const std::function<Array(const Array&)>& fun, const Array& primal,
                            const Array& cotangent);

// value_and_grad(fun, argnums)(primals) returns fun's outputs and the gradient of the first
// output, which must be a scalar (one element), with respect to primals[argnums[i]]; the
// other outputs ride along (auxiliary values such as accuracy).
using ValueAndGradFn =
    std::function<std::pair<std::vector<Array>, std::vector<Array>>(const std::vector<Array>&)>;
// The same for a function returning its scalar alone.
using SimpleValueAndGradFn =
    std::function<std::pair<Array, std::vector<Array>>(const std::vector<Array>&)>;

ValueAndGradFn value_and_grad(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<int>& argnums);
ValueAndGradFn value_and_grad(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun, int argnum = 0);
SimpleValueAndGradFn value_and_grad(const std::function<Array(const std::vector<Array>&)>& fun,
                                    const std::vector<int>& argnums);
SimpleValueAndGradFn value_and_grad(const std::function<Array(const std::vector<Array>&)>& fun,
                                    int argnum = 0);
std::function<std::pair<Array, Array>(const Array&)> value_and_grad(
    const std::function<Array(const Array&)>& fun);

// Only the gradients.
std::function<std::vector<Array>(const std::vector<Array>&)> grad(
    const std::function<Array(const std::vector<Array>&)>& fun, const std::vector<int>& argnums);
std::function<Array(const std::vector<Array>&)> grad(
    const std::function<Array(const std::vector<Array>&)>& fun, int argnum = 0);
std::function<Array(const Array&)> grad(const std::function<Array(const Array&)>& fun);

}  // namespace ferry

#endif  // FERRY_CLIENT_AUTODIFF_H_
