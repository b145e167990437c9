#ifndef FERRY_CLIENT_LOWER_H_
#define FERRY_CLIENT_LOWER_H_

// Internal to the client library: the lazy arrays reachable from eval's targets become one
// core::Graph.

#include <memory>
#include <vector>

#include "client/array_node.h"
#include "core/graph.h"

namespace ferry::detail {

struct LoweredGraph {
  // Built once and then only read: a daemon's device keeps it for a resend as it is.
  std::shared_ptr<core::Graph> graph;
  std::vector<std::shared_ptr<Buffer>> parameters;  // parameter i's value
  // Which parameters' arrays die with this eval (what reads them lets go of them once the
  // targets are computed, and nothing else holds them), and where the held outputs start.
  ExecuteHints hints;
  std::vector<ArrayNode*> outputs;                 // graph output i's array
  std::vector<std::shared_ptr<Buffer>> available;  // targets already materialized
};

// What eval does with the lazy arrays it computes on the way to its targets that the program
// (or a lazy array outside the graph) still holds and that still read a parameter's array
// nothing else holds. kMaterialize makes them outputs too (as MLX keeps every held array):
// the old weights a training loop's held gradients read can then be donated, and reading
// the loss afterwards runs nothing. An export traces a function and leaves them.
enum class HeldArrays { kMaterialize, kLeaveLazy };

// Lowers what `targets` need, inputs first: materialized arrays become parameters, the
// lazy targets (each once) the outputs, then (kMaterialize) the held arrays. Equal small
// constants (the scalars of `x * 2 + 1`) that are not targets share one node; each target
// has a node of its own.
LoweredGraph Lower(const std::vector<ArrayNode*>& targets,
                   HeldArrays held = HeldArrays::kMaterialize);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_LOWER_H_
