#include "client/array.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/error.h"
#include "core/ops.h"

namespace ferry {
namespace detail {

ArrayNode::~ArrayNode() {
  std::vector<std::shared_ptr<ArrayNode>> pending = std::move(inputs);
  while (!pending.empty()) {
    std::shared_ptr<ArrayNode> node = std::move(pending.back());
    pending.pop_back();
    if (node && node.use_count() == 1) {
      for (std::shared_ptr<ArrayNode>& input : node->inputs) pending.push_back(std::move(input));
      node->inputs.clear();
    }
  }
}

void ArrayNode::Materialize(std::shared_ptr<Buffer> value) {
  buffer = std::move(value);
  op.clear();
  attrs = core::Attrs();
  std::vector<std::shared_ptr<ArrayNode>> dropped = std::move(inputs);
  inputs.clear();
  custom_vjp.reset();  // a value is a constant to autodiff, as its dropped inputs say
  // `dropped` goes here; a chain it alone held is freed through ~ArrayNode's loop.
}

void ThrowOpError(const std::string& op, const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, absl::StrCat("[", op, "] ", message));
}

Array MakeOp(const std::string& op, const std::vector<Array>& inputs, core::Attrs attrs) {
  if (inputs.empty()) ThrowOpError(op, "needs at least one input array");
  const Device& device = inputs[0].node()->device;
  std::vector<core::TensorType> types;
  types.reserve(inputs.size());
  for (const Array& input : inputs) {
    if (input.node()->device != device) {
      ThrowOpError(op, absl::StrCat("inputs are on different devices: ", device.description(),
                                    " and ", input.node()->device.description()));
    }
    types.push_back(input.node()->type);
  }
  absl::StatusOr<core::TensorType> type = core::InferOp(op, types, attrs);
  if (!type.ok()) throw Error(ErrorCode::kInvalidArgument, std::string(type.status().message()));
  auto node = std::make_shared<ArrayNode>(*std::move(type), device);
  node->op = op;
  node->attrs = std::move(attrs);
  node->inputs.reserve(inputs.size());
  for (const Array& input : inputs) {
    node->inputs.push_back(input.node());
    node->needs_copy |= input.node()->needs_copy && !input.node()->materialized();
  }
  return Array(std::move(node));
}

Array AsFloating(const Array& a) {
  return core::IsFloating(a.dtype()) ? a : MakeOp("astype", {a}, {{"dtype", Dtype::kFloat32}});
}

Array MakeLeaf(const std::string& op, core::Attrs attrs, const Device& device) {
  absl::StatusOr<core::TensorType> type = core::InferOp(op, {}, attrs);
  if (!type.ok()) throw Error(ErrorCode::kInvalidArgument, std::string(type.status().message()));
  auto node = std::make_shared<ArrayNode>(*std::move(type), device);
  node->op = op;
  node->attrs = std::move(attrs);
  return Array(std::move(node));
}

Array FromHostBytes(const core::TensorType& type, const void* data, const Device& device) {
  auto node = std::make_shared<ArrayNode>(type, device);
  node->buffer = device.impl().FromHostBytes(type, data);
  return Array(std::move(node));
}

std::vector<Array> FromHostReader(const std::vector<core::TensorType>& types,
                                  const DeviceImpl::HostReader& read, const Device& device) {
  std::vector<std::shared_ptr<Buffer>> buffers = device.impl().FromHostReader(types, read);
  std::vector<Array> arrays;
  for (size_t i = 0; i < types.size(); ++i) {
    auto node = std::make_shared<ArrayNode>(types[i], device);
    node->buffer = std::move(buffers[i]);
    arrays.push_back(Array(std::move(node)));
  }
  return arrays;
}

}  // namespace detail

Array::Array(std::shared_ptr<detail::ArrayNode> node) : node_(std::move(node)) {}

const Shape& Array::shape() const { return node_->type.shape; }

int64_t Array::shape(int axis) const {
  const int rank = ndim();
  if (axis < -rank || axis >= rank) {
    throw Error(
        ErrorCode::kInvalidArgument,
        absl::StrCat("[shape] axis ", axis, " is out of range for an array of rank ", rank, "."));
  }
  return shape()[axis < 0 ? axis + rank : axis];
}

Dtype Array::dtype() const { return node_->type.dtype; }
int Array::ndim() const { return static_cast<int>(node_->type.shape.size()); }
int64_t Array::size() const { return core::NumElements(node_->type.shape); }
int64_t Array::nbytes() const { return size() * static_cast<int64_t>(core::SizeOf(dtype())); }
Device Array::device() const { return node_->device; }
bool Array::is_available() const { return node_->materialized(); }

void Array::eval() { ferry::eval({*this}); }

void Array::read_bytes(void* dst, Dtype dtype, const char* caller) {
  if (dtype != this->dtype()) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[", caller, "] the array is ", core::DTypeName(this->dtype()),
                             ", not ", core::DTypeName(dtype), "; convert it with astype."));
  }
  if (!is_available()) eval();
  if (size() == 0) return;
  node_->device.impl().Read(*node_->buffer, dst);
}

void Array::copy_to(void* dst, size_t nbytes) {
  if (nbytes != static_cast<size_t>(this->nbytes())) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[copy_to] the array has ", this->nbytes(), " bytes (",
                             core::DTypeName(dtype()), core::ShapeToString(shape()),
                             "); got room for ", nbytes, "."));
  }
  read_bytes(dst, dtype(), "copy_to");
}

void Array::require_one_element() const {
  if (size() != 1) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("[item] the array has ", size(), " elements (shape ",
                             core::ShapeToString(shape()), "); item needs exactly one."));
  }
}

}  // namespace ferry
