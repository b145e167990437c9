#include "tests/random_graphs.h"

#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/ops.h"

namespace ferry::testing {

std::vector<std::string> OpsToDraw() {
  std::vector<std::string> ops;
  for (const std::string& op : core::OpNames()) {
    if (op != "parameter") ops.push_back(op);
  }
  return ops;
}

bool IsClientError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kUnimplemented:
      return true;
    default:
      return false;
  }
}

const std::vector<std::string>& OpAndAttributeNames() {
  static const std::vector<std::string>* names = [] {
    auto* names = new std::vector<std::string>(core::OpNames());
    for (const std::string& op : core::OpNames()) {
      for (const std::string& attr : core::FindOp(op)->attrs) names->push_back(attr);
    }
    return names;
  }();
  return *names;
}

int64_t RandomGraphs::Int() {
  if (OneIn(25)) {
    const int64_t extremes[] = {std::numeric_limits<int64_t>::max(),
                                std::numeric_limits<int64_t>::min(),
                                int64_t{1} << 62,
                                int64_t{1} << 31,
                                -(int64_t{1} << 31),
                                1000000};
    return extremes[Below(6)];
  }
  return Below(8) - 2;
}

double RandomGraphs::Float() {
  if (OneIn(25)) {
    const double extremes[] = {1e300, -1e300, 1e-300, std::numeric_limits<double>::infinity(),
                               std::numeric_limits<double>::quiet_NaN()};
    return extremes[Below(5)];
  }
  return (Below(41) - 20) / 4.0;
}

std::vector<int64_t> RandomGraphs::Ints() {
  std::vector<int64_t> values(Below(4));
  for (int64_t& v : values) v = OneIn(3) ? Int() : Below(4);
  return values;
}

core::DType RandomGraphs::DType() {
  return core::kAllDTypes[Below(static_cast<int>(std::size(core::kAllDTypes)))];
}

core::TensorType RandomGraphs::Type() {
  core::TensorType type{DType(), {}};
  const int rank = Below(4);
  const int64_t square = 1 + Below(4);
  const bool all_equal = OneIn(3);
  for (int d = 0; d < rank; ++d) {
    type.shape.push_back(all_equal ? square : OneIn(12) ? 0 : 1 + Below(4));
  }
  return type;
}

core::HostTensor RandomGraphs::Tensor(const core::TensorType& type) {
  core::HostTensor tensor{type, {}};
  const size_t bytes =
      static_cast<size_t>(core::NumElements(type.shape)) * core::SizeOf(type.dtype);
  // Bools 0 or 1 but now and then (validation refuses other bytes).
  const uint32_t mask = type.dtype == core::DType::kBool && !OneIn(8) ? 1 : 0xff;
  for (size_t i = 0; i < bytes; ++i) tensor.data.push_back(static_cast<char>(random_() & mask));
  // Finite, moderate floating values mostly: random bits are often NaN or 1e38.
  if (!OneIn(4) && type.dtype == core::DType::kFloat32) {
    for (size_t i = 0; i + 4 <= bytes; i += 4) {
      const float value = static_cast<float>(Float());
      std::memcpy(&tensor.data[i], &value, 4);
    }
  }
  return tensor;
}

core::AttrValue RandomGraphs::Attr(const std::string& name) {
  if (OneIn(15)) {
    switch (Below(4)) {
      case 0:
        return Int();
      case 1:
        return Float();
      case 2:
        return Ints();
      default:
        return std::string("x");
    }
  }
  if (name == "dtype") return DType();
  if (name == "axes") {  // distinct and ascending, as the client sends them
    std::vector<int64_t> axes;
    for (int64_t axis = 0; axis < 4; ++axis) {
      if (OneIn(3)) axes.push_back(axis);
    }
    return axes;
  }
  if (name == "keepdims" || name == "inclusive" || name == "reverse" || name == "inverse" ||
      name == "real" || name == "upper" || name == "transpose" || name == "compute_uv" ||
      name == "compute_vectors") {
    return int64_t{Below(2)};
  }
  if (name == "value") return OneIn(2) ? core::AttrValue(Float()) : core::AttrValue(Tensor(Type()));
  if (name.back() == 's' || name == "shape" || name == "perm" || name == "slice_sizes") {
    return Ints();
  }
  if (name == "start" || name == "stop" || name == "step") {
    return OneIn(2) ? core::AttrValue(Ints()) : core::AttrValue(Float());
  }
  if (name == "low" || name == "high" || name == "loc" || name == "scale") return Float();
  return OneIn(4) ? core::AttrValue(Float()) : core::AttrValue(Int());
}

core::Graph RandomGraphs::Graph(const std::vector<std::string>& ops, bool* well_formed) {
  core::Graph graph;
  const int constants = 1 + Below(3);
  for (int i = 0; i < constants; ++i) {
    core::Node node{"constant", {}, {}, {}};
    core::HostTensor value = Tensor(Type());
    node.out = value.type;
    node.attrs.Set("value", std::move(value));
    graph.nodes.push_back(std::move(node));
  }
  *well_formed = true;
  const int count = 1 + Below(3);
  for (int k = 0; k < count; ++k) {
    const std::string& op = ops[Below(static_cast<int>(ops.size()))];
    const core::OpDef* def = core::FindOp(op);
    core::Node node{op, {}, {}, {}};
    bool inferred = false;
    for (int attempt = 0; attempt < 60 && !inferred; ++attempt) {
      node.inputs.clear();
      node.attrs = core::Attrs();
      const int most = def->max_inputs < 0 ? def->min_inputs + 2 : def->max_inputs;
      const int arity = def->min_inputs + Below(most - def->min_inputs + 1);
      // Inputs: earlier nodes, or new constants (added to the graph if the op takes them).
      std::vector<core::TensorType> types;
      std::vector<core::Node> fresh;
      for (int i = 0; i < arity; ++i) {
        if (OneIn(2)) {
          node.inputs.push_back(Below(static_cast<int>(graph.nodes.size())));
          types.push_back(graph.nodes[node.inputs.back()].out);
        } else {
          // Another input's type, when it is small: inference lets through results of up to
          // 2^48 elements (shapes drawn as attributes), too many to fill here.
          const bool reuse = OneIn(2) && !types.empty() &&
                             core::NumElements(types.back().shape) <= (int64_t{1} << 16);
          core::HostTensor value = Tensor(reuse ? types.back() : Type());
          types.push_back(value.type);
          fresh.push_back({"constant", {}, {}, value.type});
          fresh.back().attrs.Set("value", std::move(value));
          node.inputs.push_back(-static_cast<int32_t>(fresh.size()));  // placed below
        }
      }
      for (const std::string& name : def->attrs) node.attrs.Set(name, Attr(name));
      absl::StatusOr<core::TensorType> out = core::InferOp(op, types, node.attrs);
      if (out.ok() || attempt == 59) {
        const int32_t first_fresh = static_cast<int32_t>(graph.nodes.size());
        for (core::Node& constant : fresh) graph.nodes.push_back(std::move(constant));
        for (int32_t& input : node.inputs) {
          if (input < 0) input = first_fresh - input - 1;
        }
      }
      if (out.ok()) {
        node.out = *out;
        inferred = true;
      }
    }
    if (!inferred) {
      node.out = Type();
      *well_formed = false;
    }
    graph.nodes.push_back(std::move(node));
    graph.outputs.push_back(static_cast<int32_t>(graph.nodes.size()) - 1);
    if (!inferred) break;  // nothing after it would be well-formed either
  }
  return graph;
}

}  // namespace ferry::testing
