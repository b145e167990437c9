#include "core/graph.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry::core {
namespace {

template <typename T>
constexpr const char* KindName() {
  if constexpr (std::is_same_v<T, int64_t>) return "an integer";
  if constexpr (std::is_same_v<T, double>) return "a number";
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) return "a list of integers";
  if constexpr (std::is_same_v<T, DType>) return "a dtype";
  if constexpr (std::is_same_v<T, HostTensor>) return "a tensor";
  return "a value";
}

}  // namespace

std::string TypeToString(const TensorType& type) {
  return absl::StrCat(DTypeName(type.dtype), ShapeToString(type.shape));
}

template <typename T>
absl::StatusOr<T> Attrs::Get(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("missing attribute '", name, "'"));
  }
  if (const T* value = std::get_if<T>(&it->second)) return *value;
  if constexpr (std::is_same_v<T, double>) {
    if (const int64_t* value = std::get_if<int64_t>(&it->second)) {
      return static_cast<double>(*value);
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("attribute '", name, "' must be ", KindName<T>()));
}

template absl::StatusOr<int64_t> Attrs::Get(const std::string&) const;
template absl::StatusOr<double> Attrs::Get(const std::string&) const;
template absl::StatusOr<std::string> Attrs::Get(const std::string&) const;
template absl::StatusOr<std::vector<int64_t>> Attrs::Get(const std::string&) const;
template absl::StatusOr<DType> Attrs::Get(const std::string&) const;
template absl::StatusOr<HostTensor> Attrs::Get(const std::string&) const;

Node ParameterNode(int64_t index, const TensorType& type) {
  Node parameter;
  parameter.op = "parameter";
  parameter.attrs.Set("index", index);
  parameter.attrs.Set("dtype", type.dtype);
  parameter.attrs.Set("shape", type.shape);
  parameter.out = type;
  return parameter;
}

std::vector<TensorType> Graph::ParameterTypes() const {
  std::vector<TensorType> types;
  for (const Node& node : nodes) {
    if (node.op != "parameter") continue;
    const int64_t index = std::get<int64_t>(node.attrs.values().at("index"));
    if (static_cast<int64_t>(types.size()) <= index) types.resize(index + 1);
    types[index] = node.out;
  }
  return types;
}

}  // namespace ferry::core
