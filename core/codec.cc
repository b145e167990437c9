#include "core/codec.h"

#include "absl/strings/str_cat.h"

namespace ferry::core {
namespace {

// "context: message", keeping the code.
absl::Status Within(absl::string_view context, const absl::Status& status) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

void AttrToProto(const std::string& name, const AttrValue& value, v1::Attribute* proto) {
  proto->set_name(name);
  std::visit(
      [proto](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          proto->set_i(v);
        } else if constexpr (std::is_same_v<T, double>) {
          proto->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          proto->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          proto->mutable_ints()->mutable_values()->Add(v.begin(), v.end());
        } else if constexpr (std::is_same_v<T, DType>) {
          proto->set_dtype(DTypeToProto(v));
        } else {
          static_assert(std::is_same_v<T, HostTensor>);
          HostTensorToProto(v, proto->mutable_tensor());
        }
      },
      value);
}

absl::StatusOr<AttrValue> AttrFromProto(const v1::Attribute& proto) {
  switch (proto.value_case()) {
    case v1::Attribute::kI:
      return AttrValue(proto.i());
    case v1::Attribute::kF:
      return AttrValue(proto.f());
    case v1::Attribute::kS:
      return AttrValue(proto.s());
    case v1::Attribute::kInts:
      return AttrValue(
          std::vector<int64_t>(proto.ints().values().begin(), proto.ints().values().end()));
    case v1::Attribute::kDtype: {
      absl::StatusOr<DType> dtype = DTypeFromProto(proto.dtype());
      if (!dtype.ok()) return dtype.status();
      return AttrValue(*dtype);
    }
    case v1::Attribute::kTensor: {
      absl::StatusOr<HostTensor> tensor = HostTensorFromProto(proto.tensor());
      if (!tensor.ok()) return tensor.status();
      return AttrValue(*std::move(tensor));
    }
    case v1::Attribute::VALUE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("no value is set");
}

absl::StatusOr<Node> NodeFromProto(const v1::Node& proto, int index) {
  const std::string context = absl::StrCat("node ", index, " (", proto.op(), ")");
  Node node;
  node.op = proto.op();
  node.inputs.assign(proto.inputs().begin(), proto.inputs().end());
  for (const v1::Attribute& attr : proto.attrs()) {
    const std::string where = absl::StrCat(context, ": attribute '", attr.name(), "'");
    if (attr.name().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(context, ": an attribute has no name"));
    }
    if (node.attrs.Has(attr.name())) {
      return absl::InvalidArgumentError(absl::StrCat(where, " appears twice"));
    }
    if (attr.value_case() == v1::Attribute::VALUE_NOT_SET) {
      return absl::InvalidArgumentError(absl::StrCat(where, " has no value"));
    }
    absl::StatusOr<AttrValue> value = AttrFromProto(attr);
    if (!value.ok()) return Within(where, value.status());
    node.attrs.Set(attr.name(), *std::move(value));
  }
  absl::StatusOr<TensorType> out = TypeFromProto(proto.out());
  if (!out.ok()) return Within(absl::StrCat(context, ": output"), out.status());
  node.out = *std::move(out);
  return node;
}

}  // namespace

v1::DType DTypeToProto(DType dtype) {
  switch (dtype) {
    case DType::kBool:
      return v1::BOOL;
    case DType::kUInt8:
      return v1::UINT8;
    case DType::kUInt16:
      return v1::UINT16;
    case DType::kUInt32:
      return v1::UINT32;
    case DType::kUInt64:
      return v1::UINT64;
    case DType::kInt8:
      return v1::INT8;
    case DType::kInt16:
      return v1::INT16;
    case DType::kInt32:
      return v1::INT32;
    case DType::kInt64:
      return v1::INT64;
    case DType::kFloat16:
      return v1::FLOAT16;
    case DType::kBFloat16:
      return v1::BFLOAT16;
    case DType::kFloat32:
      return v1::FLOAT32;
    case DType::kFloat64:
      return v1::FLOAT64;
    case DType::kComplex64:
      return v1::COMPLEX64;
  }
  return v1::DTYPE_UNSPECIFIED;
}

absl::StatusOr<DType> DTypeFromProto(int dtype) {
  switch (dtype) {
    case v1::BOOL:
      return DType::kBool;
    case v1::UINT8:
      return DType::kUInt8;
    case v1::UINT16:
      return DType::kUInt16;
    case v1::UINT32:
      return DType::kUInt32;
    case v1::UINT64:
      return DType::kUInt64;
    case v1::INT8:
      return DType::kInt8;
    case v1::INT16:
      return DType::kInt16;
    case v1::INT32:
      return DType::kInt32;
    case v1::INT64:
      return DType::kInt64;
    case v1::FLOAT16:
      return DType::kFloat16;
    case v1::BFLOAT16:
      return DType::kBFloat16;
    case v1::FLOAT32:
      return DType::kFloat32;
    case v1::FLOAT64:
      return DType::kFloat64;
    case v1::COMPLEX64:
      return DType::kComplex64;
    case v1::DTYPE_UNSPECIFIED:
      return absl::InvalidArgumentError("dtype is unspecified");
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown dtype ", dtype));
}

void TypeToProto(const TensorType& type, v1::TensorSpec* spec) {
  spec->set_dtype(DTypeToProto(type.dtype));
  spec->mutable_shape()->Assign(type.shape.begin(), type.shape.end());
}

absl::StatusOr<TensorType> TypeFromProto(const v1::TensorSpec& spec) {
  absl::StatusOr<DType> dtype = DTypeFromProto(spec.dtype());
  if (!dtype.ok()) return dtype.status();
  TensorType type{*dtype, Shape(spec.shape().begin(), spec.shape().end())};
  if (absl::Status s = CheckShape(type.shape); !s.ok()) return s;
  return type;
}

void HostTensorToProto(const HostTensor& tensor, v1::Tensor* proto) {
  TypeToProto(tensor.type, proto->mutable_spec());
  proto->set_data(tensor.data);
}

absl::StatusOr<HostTensor> HostTensorFromProto(const v1::Tensor& proto) {
  absl::StatusOr<TensorType> type = TypeFromProto(proto.spec());
  if (!type.ok()) return type.status();
  const int64_t nbytes = NumElements(type->shape) * static_cast<int64_t>(SizeOf(type->dtype));
  if (static_cast<int64_t>(proto.data().size()) != nbytes) {
    return absl::InvalidArgumentError(absl::StrCat("tensor data has ", proto.data().size(),
                                                   " bytes but ", TypeToString(*type), " needs ",
                                                   nbytes));
  }
  return HostTensor{*std::move(type), proto.data()};
}

void GraphToProto(const Graph& graph, v1::Graph* proto) {
  proto->Clear();
  for (const Node& node : graph.nodes) {
    v1::Node* out = proto->add_nodes();
    out->set_op(node.op);
    out->mutable_inputs()->Assign(node.inputs.begin(), node.inputs.end());
    for (const auto& [name, value] : node.attrs.values()) {
      AttrToProto(name, value, out->add_attrs());
    }
    TypeToProto(node.out, out->mutable_out());
  }
  proto->mutable_outputs()->Assign(graph.outputs.begin(), graph.outputs.end());
}

absl::StatusOr<Graph> GraphFromProto(const v1::Graph& proto) {
  Graph graph;
  graph.nodes.reserve(proto.nodes_size());
  for (int i = 0; i < proto.nodes_size(); ++i) {
    absl::StatusOr<Node> node = NodeFromProto(proto.nodes(i), i);
    if (!node.ok()) return node.status();
    graph.nodes.push_back(*std::move(node));
  }
  graph.outputs.assign(proto.outputs().begin(), proto.outputs().end());
  return graph;
}

}  // namespace ferry::core
