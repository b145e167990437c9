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

// The outputs of fun(primals), and the Jacobian-vector product of fun at primals with the
// tangents (one per primal, of its shape): the tangent of each output. Computed as the VJP
// of the VJP (which is linear in its cotangent), so it needs the vjp rules of the ops in
// fun's backward graph too; each op's forward-mode rule (as MLX has) would save that pass.
// Real dtypes only: complex primals or outputs throw kUnimplemented.
std::pair<std::vector<Array>, std::vector<Array>> jvp(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<Array>& primals, const std::vector<Array>& tangents);
std::pair<Array, Array> jvp(const std::function<Array(const Array&)>& fun, const Array& primal,
                            const Array& tangent);

// fun with its VJP given by fun_vjp(primals, cotangents, outputs), which returns one
// cotangent per primal (of its shape), instead of by the ops fun is built of: a
// straight-through estimator, a clipped or numerically safer gradient. fun_vjp must be
// linear in the cotangents (any VJP is): an output's gradient is asked for on its own,
// the other outputs' cotangents zero, and the answers are added.
using CustomVjpFn = std::function<std::vector<Array>(const std::vector<Array>& primals,
                                                     const std::vector<Array>& cotangents,
                                                     const std::vector<Array>& outputs)>;
std::function<std::vector<Array>(const std::vector<Array>&)> custom_vjp(
    std::function<std::vector<Array>(const std::vector<Array>&)> fun, CustomVjpFn fun_vjp);

// fun, whose backward pass recomputes fun's intermediates from its primals rather than use
// the forward pass's (gradient checkpointing, as MLX's checkpoint): the forward's are then
// needed only until the forward pass has used them. Same values and gradients as fun.
std::function<std::vector<Array>(const std::vector<Array>&)> checkpoint(
    std::function<std::vector<Array>(const std::vector<Array>&)> fun);

}  // namespace ferry

#endif  // FERRY_CLIENT_AUTODIFF_H_
