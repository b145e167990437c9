#ifndef FERRY_CLIENT_VMAP_H_
#define FERRY_CLIENT_VMAP_H_

// MLX's vmap and compile, so code written for MLX keeps its shape.
//
// vmap(fun, in_axes, out_axes)(inputs) maps fun over an axis of its inputs: each input with
// in_axes[i] >= 0 is sliced along that axis (all those axes of one size n), the others passed
// whole, and output k stacks fun's n results along out_axes[k] (0 by default). fun runs once,
// on the first example, and the graph it builds is rebuilt for all n at once, op by op, by
// batching rules (vmap_batching.h: elementwise ops, reductions, scans and sorts, reshape,
// transpose, broadcast_to, slice, concatenate, matmul of matrices, quantized_matmul of a
// batched x, gather of batched indices, depends), as MLX batches its primitives. Where an op
// on the way has no rule, fun is called once per example instead (n copies of its graph, still
// evaluated in one execute). fun must not eval what it builds from its inputs (as for grad).

#include <functional>
#include <vector>

#include "client/array.h"

namespace ferry {

std::function<std::vector<Array>(const std::vector<Array>&)> vmap(
    const std::function<std::vector<Array>(const std::vector<Array>&)>& fun,
    const std::vector<int>& in_axes = {}, const std::vector<int>& out_axes = {});
std::function<Array(const Array&)> vmap(const std::function<Array(const Array&)>& fun,
                                        int in_axis = 0, int out_axis = 0);
std::function<Array(const Array&, const Array&)> vmap(
    const std::function<Array(const Array&, const Array&)>& fun, int in_axis_a = 0,
    int in_axis_b = 0, int out_axis = 0);

// fun itself: ferry compiles every graph it evaluates already (elementwise chains fused, the
// plan cached by the daemon under the graph's fingerprint), so there is nothing to add; kept
// so MLX's compile(fun) ports unchanged.
template <typename Fn>
Fn compile(Fn fun, bool /*shapeless*/ = false) {
  return fun;
}

}  // namespace ferry

#endif  // FERRY_CLIENT_VMAP_H_
