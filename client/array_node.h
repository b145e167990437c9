#ifndef FERRY_CLIENT_ARRAY_NODE_H_
#define FERRY_CLIENT_ARRAY_NODE_H_

// Internal to the client library: what an Array handle points at, and the one function
// every op is built through.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/array.h"
#include "client/device.h"
#include "client/device_impl.h"
#include "client/ops.h"
#include "core/graph.h"
#include "core/linalg_layout.h"

namespace ferry::detail {

struct CustomVjp;

// Lazy: op, inputs and attrs describe how to compute it. Materialized: `buffer` holds the
// value and the op's inputs are dropped, so evaluated graphs do not keep growing.
struct ArrayNode {
  ArrayNode(core::TensorType type, Device device)
      : type(std::move(type)), device(std::move(device)) {}
  // Frees long chains of inputs iteratively (a 100k-op chain would overflow the stack).
  ~ArrayNode();

  bool materialized() const { return buffer != nullptr; }
  void Materialize(std::shared_ptr<Buffer> value);

  core::TensorType type;
  Device device;
  std::string op;
  std::vector<std::shared_ptr<ArrayNode>> inputs;
  core::Attrs attrs;
  std::shared_ptr<Buffer> buffer;  // declared after `device`, so it goes first
  // Made by stop_gradient: autodiff takes it as a constant (it lowers as a plain reshape).
  bool stops_gradient = false;
  // Made by custom_vjp for output `custom_output` of a function: autodiff takes its gradient
  // from the user's rule, straight to the function's primals (it lowers as a plain reshape).
  std::shared_ptr<const CustomVjp> custom_vjp;
  size_t custom_output = 0;
  // Whether a copy from another device (Array::to) not made yet is among the lazy nodes this
  // one needs (or is one itself): eval makes those first (MaterializeCopies).
  bool needs_copy = false;
};

// The op of an Array::to node: a copy of inputs[0], which lives on another device. Never
// lowered: eval makes the copy first, and the node enters its graph as a parameter.
inline constexpr char kCopyOp[] = "to";

// Makes the copies from other devices that `targets` need and are not made yet: their
// sources evaluated together (one graph per device), then each copied (DeviceImpl::CopyFrom).
void MaterializeCopies(const std::vector<ArrayNode*>& targets);

// A function's primals and outputs, and the rule giving the primals' cotangents from the
// outputs' (custom_vjp in client/autodiff.h).
struct CustomVjp {
  std::vector<std::shared_ptr<ArrayNode>> primals;
  std::vector<Array> outputs;
  std::function<std::vector<Array>(const std::vector<Array>&, const std::vector<Array>&,
                                   const std::vector<Array>&)>
      rule;
};

// Builds `op` on `inputs`: checks that they share a device and infers the result's type with
// core::InferOp. Throws ferry::Error(kInvalidArgument, "[op] ...") at once on a bad op.
Array MakeOp(const std::string& op, const std::vector<Array>& inputs, core::Attrs attrs);
// For ops without array inputs (full, arange, constant): `device` says where it lives.
Array MakeLeaf(const std::string& op, core::Attrs attrs, const Device& device);

// An array holding a copy of the bytes of `type` at `data` on `device`, ready to use (a
// graph parameter).
Array FromHostBytes(const core::TensorType& type, const void* data, const Device& device);
// Arrays of `types` on `device` from bytes `read` writes (DeviceImpl::FromHostReader).
std::vector<Array> FromHostReader(const std::vector<core::TensorType>& types,
                                  const DeviceImpl::HostReader& read, const Device& device);

// A scalar `constant` holding `number` converted to `dtype`.
Array Constant(const Operand& number, Dtype dtype, const Device& device);

// The dtype a number takes when it meets an array of `other` (MLX's weak-scalar rule), and
// the one it has on its own (int32, float32 or bool).
Dtype WeakScalarType(const Operand& number, Dtype other);
Dtype StrongScalarType(const Operand& number);

// Core's one-axis `fft` op on `a` (fft.cc; the transforms and their vjp build on it).
Array FftAlongAxis(const Array& a, int64_t axis, int64_t n, bool inverse, bool real);

// `a` as it is when floating, else converted to float32 (how math on integers and bool
// computes, as the unary ops do).
Array AsFloating(const Array& a);

// Result `index` of a factorization packed on the last axis of `packed` as `layout` says
// (core/linalg_layout.h): (..., rows, cols), or (..., cols) for a vector (decompositions.cc).
Array UnpackLinalgPart(const Array& packed, const core::LinalgLayout& layout, int index,
                       bool vector);

// For gather_mm and gather_qmm: the batch index of x's matrices (its axes before the last
// two), the given integer `indices` or, without, every matrix in x's batch shape; and the
// matrices those indices pick, broadcast to `batch`, as one batch axis.
Array MatrixIndices(const std::string& op, const char* name, const Array& x,
                    const std::optional<Array>& indices);
Array PickMatrices(const Array& x, const Array& index, const Shape& batch);
// The batch both index arrays broadcast to; throws "[op] the batches ... do not broadcast."
Shape IndexBatch(const std::string& op, const Array& lhs, const Array& rhs);

// The first `count` columns (last axis) or rows (the axis before) of a batch of matrices.
Array LeadingColumns(const Array& a, int64_t count);
Array LeadingRows(const Array& a, int64_t count);

// Throws the kInvalidArgument error "[op] message".
[[noreturn]] void ThrowOpError(const std::string& op, const std::string& message);

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_ARRAY_NODE_H_
