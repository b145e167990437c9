#ifndef FERRY_CORE_VALIDATE_H_
#define FERRY_CORE_VALIDATE_H_

#include <cstdint>

#include "absl/status/status.h"
#include "core/graph.h"

namespace ferry::core {

struct GraphLimits {
  int64_t max_nodes = 1 << 20;
};

// Checks that `graph` is well formed and means what it says: at least one node and one
// output; every input refers to an earlier node (so no cycles); every op is known with the
// right arity and valid attributes; shapes are non-negative and not overflowing; each
// node's declared type equals the inferred one; parameters are numbered 0..N-1 once each.
// Errors are INVALID_ARGUMENT and name the node: "node 3 (add): [add] shapes ...".
absl::Status ValidateGraph(const Graph& graph, const GraphLimits& limits = {});

}  // namespace ferry::core

#endif  // FERRY_CORE_VALIDATE_H_
