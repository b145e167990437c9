#ifndef FERRY_CLIENT_VJP_REGISTRY_H_
#define FERRY_CLIENT_VJP_REGISTRY_H_

// Internal to the client library: the vector-Jacobian product of each op, keyed by op
// name. A rule gets the op's inputs, its output and the cotangent of that output, and
// builds (lazily, with the ordinary ops) the cotangent of each input that needs one.
//
// Adding an op's rule is one function and one line in its family's Register function
// (client/vjp/<family>.cc), beside the op's declaration in core/ops/<family>.cc.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "client/array.h"
#include "core/graph.h"

namespace ferry::detail {

struct VjpArgs {
  const std::vector<Array>& inputs;
  const Array& output;
  const Array& cotangent;  // the output's shape and dtype
  const core::Attrs& attrs;
  // Whether inputs[i] needs a cotangent; a rule may skip building the others.
  const std::vector<bool>& needs;
};

// One entry per input: an array of that input's shape (its dtype is fixed up by the
// caller), or nullopt for "no gradient" (treated as zeros, as MLX does for comparisons,
// indices and integer inputs).
using VjpResult = std::vector<std::optional<Array>>;
using VjpRule = VjpResult (*)(const VjpArgs& args);
using VjpTable = std::map<std::string, VjpRule, std::less<>>;

// The rule for `op`, or nullptr when it has none.
VjpRule FindVjp(std::string_view op);

// The ops declared in core (with at least one input) that have no rule, sorted.
std::vector<std::string> OpsWithoutVjp();

// A rule for ops whose inputs get no gradient (comparisons, indices, random keys).
VjpResult NoGradient(const VjpArgs& args);

// One per op family; registry.cc calls each once.
void RegisterUnaryVjps(VjpTable& table);   // neg abs exp ... erf
void RegisterBinaryVjps(VjpTable& table);  // add sub ... logical_or
void RegisterWhereVjp(VjpTable& table);    // where
void RegisterAstypeVjp(VjpTable& table);   // astype view
void RegisterReduceVjps(VjpTable& table);  // sum prod mean max min argmax argmin
void RegisterMatmulVjp(VjpTable& table);   // matmul gather_mm
void RegisterLayoutVjps(
    VjpTable& table);  // reshape depends transpose broadcast_to slice concatenate
void RegisterSoftmaxVjps(VjpTable& table);  // softmax logsumexp
void RegisterRandomVjps(VjpTable& table);   // random_uniform random_normal random_bits
// vjp2
void RegisterScanVjps(VjpTable& table);        // cumsum cumprod cummax cummin logcumsumexp
void RegisterSortVjps(VjpTable& table);        // sort argsort partition argpartition
void RegisterIndexingVjps(VjpTable& table);    // gather scatter* slice_update
void RegisterQuantizedVjp(VjpTable& table);    // quantized_matmul gather_qmm
void RegisterConvolutionVjp(VjpTable& table);  // convolution
void RegisterLinalgVjps(VjpTable& table);      // cholesky solve solve_triangular qr svd eigh lu
void RegisterComplexVjps(VjpTable& table);     // real imag conjugate fft
void RegisterCollectiveVjps(VjpTable& table);  // all_sum all_gather sum_scatter
void RegisterCopyVjp(VjpTable& table);         // to (Array::to, another device's array)
void RegisterGatedDeltaVjp(VjpTable& table);   // gated_delta

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_VJP_REGISTRY_H_
