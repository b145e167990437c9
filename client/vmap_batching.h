#ifndef FERRY_CLIENT_VMAP_BATCHING_H_
#define FERRY_CLIENT_VMAP_BATCHING_H_

// Internal to vmap: rebuilding a function's graph, traced once on one example, for every
// example at once. Each op on the path from the example's inputs is rebuilt by a batching rule
// with the batch on axis 0 (elementwise ops, reductions and scans, layout ops, matmul,
// quantized_matmul of a batched x, gather of batched indices, depends); an op without a rule
// makes the whole rebuild give up, and vmap unrolls instead.

#include <optional>
#include <unordered_map>
#include <vector>

#include "client/array.h"

namespace ferry::detail {

struct ArrayNode;

// `outputs` traced on the sources (each an example's slice of an input); `batched` holds
// each source's batch, the batch on axis 0 and `n` long. Returns the outputs for the whole
// batch (batch on axis 0), or nullopt when an op on the way has no rule.
std::optional<std::vector<Array>> BatchTrace(
    const std::vector<Array>& outputs, const std::unordered_map<const ArrayNode*, Array>& batched,
    int64_t n);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_VMAP_BATCHING_H_
