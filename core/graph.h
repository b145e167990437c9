#ifndef FERRY_CORE_GRAPH_H_
#define FERRY_CORE_GRAPH_H_

#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace ferry::core {

// A dtype and a shape: what inference computes for every node.
struct TensorType {
  DType dtype = DType::kFloat32;
  Shape shape;

  bool operator==(const TensorType& o) const { return dtype == o.dtype && shape == o.shape; }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
};

// The bytes a dense tensor of `type` holds.
inline size_t NumBytes(const TensorType& type) {
  return static_cast<size_t>(NumElements(type.shape)) * SizeOf(type.dtype);
}

// "float32(2, 3)".
std::string TypeToString(const TensorType& type);

// A small tensor held in host memory: constants, inline bindings and inline results.
// Bytes are little-endian, row-major, densely packed.
struct HostTensor {
  TensorType type;
  std::string data;

  bool operator==(const HostTensor& o) const { return type == o.type && data == o.data; }
};

using AttrValue =
    std::variant<int64_t, double, std::string, std::vector<int64_t>, DType, HostTensor>;

// Named attributes of a node. Lookups fail with INVALID_ARGUMENT naming the attribute.
class Attrs {
 public:
  Attrs() = default;
  Attrs(std::initializer_list<std::pair<const std::string, AttrValue>> init) : values_(init) {}

  void Set(const std::string& name, AttrValue value) { values_[name] = std::move(value); }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }

  // The attribute as T; INVALID_ARGUMENT if it is missing or of another kind. Get<double>
  // also accepts an integer attribute.
  template <typename T>
  absl::StatusOr<T> Get(const std::string& name) const;

  // Sorted by name, so iteration order is canonical.
  const std::map<std::string, AttrValue>& values() const { return values_; }
  bool operator==(const Attrs& o) const { return values_ == o.values_; }

 private:
  std::map<std::string, AttrValue> values_;
};

// One operation: op name (see core/ops.h for the vocabulary), inputs by index of earlier
// nodes, attributes, and its output type.
struct Node {
  std::string op;
  std::vector<int32_t> inputs;
  Attrs attrs;
  TensorType out;
};

// Parameter `index` of a graph, of `type`: the "parameter" node with its attributes.
Node ParameterNode(int64_t index, const TensorType& type);

// Nodes in topological order; outputs name nodes. Parameters are "parameter" nodes with an
// "index" attribute, numbered 0..N-1, bound to data when the graph runs.
struct Graph {
  std::vector<Node> nodes;
  std::vector<int32_t> outputs;

  // The parameter nodes' types, by parameter index. Assumes a validated graph.
  std::vector<TensorType> ParameterTypes() const;
};

}  // namespace ferry::core

#endif  // FERRY_CORE_GRAPH_H_
