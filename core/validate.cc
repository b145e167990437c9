#include "core/validate.h"

#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ops.h"

namespace ferry::core {
namespace {

absl::Status NodeError(size_t index, const Node& node, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("node ", index, " (", node.op, "): ", message));
}

bool IsKnownDType(DType dtype) { return static_cast<size_t>(dtype) < std::size(kAllDTypes); }

// Everything about one node that needs only the nodes before it.
absl::Status ValidateNode(const Graph& graph, size_t index) {
  const Node& node = graph.nodes[index];
  if (FindOp(node.op) == nullptr) {
    return NodeError(index, node, absl::StrCat("unknown op '", node.op, "'"));
  }
  std::vector<TensorType> inputs;
  inputs.reserve(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const int32_t input = node.inputs[i];
    if (input < 0 || static_cast<size_t>(input) >= index) {
      return NodeError(
          index, node,
          absl::StrCat("input ", i, " refers to node ", input, ", which does not come before it"));
    }
    inputs.push_back(graph.nodes[input].out);
  }
  if (!IsKnownDType(node.out.dtype)) {
    return NodeError(index, node,
                     absl::StrCat("declares unknown dtype ", static_cast<int>(node.out.dtype)));
  }
  if (absl::Status s = CheckShape(node.out.shape); !s.ok()) {
    return NodeError(index, node, absl::StrCat("declared ", s.message()));
  }
  absl::StatusOr<TensorType> inferred = InferOp(node.op, inputs, node.attrs);
  if (!inferred.ok()) return NodeError(index, node, inferred.status().message());
  if (*inferred != node.out) {
    return NodeError(index, node,
                     absl::StrCat("declares ", TypeToString(node.out), " but ",
                                  inputs.empty() ? "its attributes" : "inputs", " give ",
                                  TypeToString(*inferred)));
  }
  return absl::OkStatus();
}

// Parameters are bound by index, so the indices must be exactly 0..N-1.
absl::Status ValidateParameters(const Graph& graph) {
  std::vector<int64_t> node_of;  // parameter index -> node, -1 where none
  size_t count = 0;
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const Node& node = graph.nodes[i];
    if (node.op != "parameter") continue;
    ++count;
    // Validated nodes hold a non-negative integer index.
    const int64_t index = std::get<int64_t>(node.attrs.values().at("index"));
    if (index >= static_cast<int64_t>(graph.nodes.size())) continue;  // leaves a gap below
    if (static_cast<int64_t>(node_of.size()) <= index) node_of.resize(index + 1, -1);
    if (node_of[index] != -1) {
      return NodeError(
          i, node,
          absl::StrCat("parameter index ", index, " is already used by node ", node_of[index]));
    }
    node_of[index] = static_cast<int64_t>(i);
  }
  for (size_t index = 0; index < count; ++index) {
    if (index >= node_of.size() || node_of[index] == -1) {
      return absl::InvalidArgumentError(absl::StrCat("parameters must be numbered 0..N-1: index ",
                                                     index, " is missing (the graph has ", count,
                                                     " parameters)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateGraph(const Graph& graph, const GraphLimits& limits) {
  const size_t n = graph.nodes.size();
  if (n == 0) return absl::InvalidArgumentError("the graph has no nodes");
  if (static_cast<int64_t>(n) > limits.max_nodes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the graph has ", n, " nodes, more than the limit of ", limits.max_nodes));
  }
  if (graph.outputs.empty()) return absl::InvalidArgumentError("the graph has no outputs");
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    const int32_t output = graph.outputs[i];
    if (output < 0 || static_cast<size_t>(output) >= n) {
      return absl::InvalidArgumentError(absl::StrCat("output ", i, " refers to node ", output,
                                                     " but the graph has ", n, " nodes"));
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (absl::Status s = ValidateNode(graph, i); !s.ok()) return s;
  }
  return ValidateParameters(graph);
}

}  // namespace ferry::core
