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
  // Whether parameter i's array dies with this eval (what reads it lets go of it once the
  // targets are computed, and nothing else holds it): its buffer may be given to the run
  // (DeviceImpl::Execute).
  std::vector<bool> donatable;
  std::vector<ArrayNode*> outputs;                 // graph output i's array
  std::vector<std::shared_ptr<Buffer>> available;  // targets already materialized
};

// Lowers what `targets` need, inputs first: materialized arrays become parameters, the
// lazy targets (each once) the outputs. Equal small constants (the scalars of `x * 2 + 1`)
// that are not targets share one node; each target has a node of its own.
LoweredGraph Lower(const std::vector<ArrayNode*>& targets);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_LOWER_H_
