// Indexing with arrays, after MLX's ops.cpp: gather and the scatter family map onto their
// primitives; take, take_along_axis, put_along_axis and slice_update are built on them
// the way MLX builds them.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/error.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry {
namespace {

// `update` as an array of src's dtype on src's device.
Array InDtypeOf(const Operand& update, const Array& src) {
  return update.array() ? astype(*update.array(), src.dtype())
                        : detail::Constant(update, src.dtype(), src.device());
}

void CheckIndices(const std::string& op, const Array& indices) {
  if (!core::IsInteger(indices.dtype())) {
    detail::ThrowOpError(
        op, absl::StrCat("indices must be integers, got ", core::DTypeName(indices.dtype()), "."));
  }
}

Shape Broadcast(const std::string& op, const Shape& a, const Shape& b) {
  absl::StatusOr<Shape> shape = core::BroadcastShapes(a, b);
  if (!shape.ok()) {
    detail::ThrowOpError(op, absl::StrCat("shapes ", core::ShapeToString(a), " and ",
                                          core::ShapeToString(b), " cannot be broadcast."));
  }
  return *shape;
}

std::vector<int64_t> IndexAxes(const std::string& op, const std::vector<int>& axes, int rank,
                               size_t num_indices) {
  if (axes.size() != num_indices) {
    detail::ThrowOpError(op, absl::StrCat("needs one axis per index array; got ", axes.size(),
                                          " axes for ", num_indices, " arrays."));
  }
  return detail::NormalizeAxes(op, axes, rank, /*sort=*/false);
}

// The index arrays that address every element along the axes other than `axis`: arange
// over each, shaped to broadcast against `indices` (MLX's take_along_axis).
std::vector<Array> AlongAxisIndices(const Array& a, const Array& indices, int64_t axis) {
  std::vector<Array> nd;
  for (int d = 0; d < a.ndim(); ++d) {
    if (d == axis) {
      nd.push_back(indices);
      continue;
    }
    Shape shape(a.ndim(), 1);
    shape[d] = a.shape()[d];
    nd.push_back(
        reshape(arange(0, static_cast<double>(a.shape()[d]), 1, int32, a.device()), shape));
  }
  return nd;
}

Shape WithoutAxis(Shape shape, int64_t axis) {
  shape.erase(shape.begin() + axis);
  return shape;
}

}  // namespace

Array gather(const Array& a, const std::vector<Array>& indices, const std::vector<int>& axes,
             const Shape& slice_sizes) {
  for (const Array& idx : indices) CheckIndices("gather", idx);
  std::vector<Array> inputs = {a};
  inputs.insert(inputs.end(), indices.begin(), indices.end());
  return detail::MakeOp("gather", inputs,
                        {{"axes", IndexAxes("gather", axes, a.ndim(), indices.size())},
                         {"slice_sizes", slice_sizes}});
}

Array take(const Array& a, const Array& indices, int axis) {
  CheckIndices("take", indices);
  const int64_t ax = detail::NormalizeAxis("take", axis, a.ndim());
  if (a.shape()[ax] == 0 && indices.size() > 0) {
    detail::ThrowOpError("take", absl::StrCat("cannot take from axis ", axis, " of length 0."));
  }
  if (a.shape()[ax] == 0) {  // nothing to read: the result is empty
    Shape shape = WithoutAxis(a.shape(), ax);
    shape.insert(shape.begin() + ax, indices.shape().begin(), indices.shape().end());
    return zeros(shape, a.dtype(), a.device());
  }
  Shape sizes = a.shape();
  sizes[ax] = 1;
  Array g = gather(a, {indices}, {static_cast<int>(ax)}, sizes);
  // (indices..., a with axis 1) -> a[:axis] + indices + a[axis+1:].
  const int k = indices.ndim();
  Shape squeezed = indices.shape();
  const Shape rest = WithoutAxis(a.shape(), ax);
  squeezed.insert(squeezed.end(), rest.begin(), rest.end());
  g = reshape(g, squeezed);
  std::vector<int> perm;
  for (int d = 0; d < ax; ++d) perm.push_back(k + d);
  for (int d = 0; d < k; ++d) perm.push_back(d);
  for (int d = k + static_cast<int>(ax); d < static_cast<int>(squeezed.size()); ++d) {
    perm.push_back(d);
  }
  return transpose(g, perm);
}

Array take(const Array& a, const Array& indices) { return take(reshape(a, {-1}), indices, 0); }

Array take(const Array& a, int64_t index, int axis) {
  return take(a, from_host(std::vector<int64_t>{index}, {}, a.device()), axis);
}

Array as_strided(const Array& a, const Shape& shape, const Shape& strides, int64_t offset) {
  if (strides.size() != shape.size()) {
    detail::ThrowOpError("as_strided",
                         absl::StrCat("shape ", core::ShapeToString(shape), " and strides ",
                                      core::ShapeToString(strides), " differ in length."));
  }
  // The lowest and highest flat positions read; MLX reads whatever memory they name, here
  // they must lie inside a.
  int64_t low = offset, high = offset;
  bool empty = false, overflow = false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) {
      detail::ThrowOpError("as_strided",
                           absl::StrCat("shape ", core::ShapeToString(shape), " is negative."));
    }
    empty = empty || shape[d] == 0;
    int64_t reach = 0;
    overflow =
        overflow || __builtin_mul_overflow(std::max<int64_t>(shape[d] - 1, 0), strides[d], &reach);
    overflow =
        overflow || __builtin_add_overflow(reach < 0 ? low : high, reach, reach < 0 ? &low : &high);
  }
  if (!empty && (overflow || low < 0 || high >= a.size())) {
    detail::ThrowOpError("as_strided",
                         absl::StrCat("shape ", core::ShapeToString(shape), " with strides ",
                                      core::ShapeToString(strides), " from offset ", offset,
                                      " reads outside the ", a.size(), " elements of the array."));
  }
  // Each position as offset + sum of index * stride, one broadcast arange per axis.
  Array position = full({}, static_cast<double>(offset), int64, a.device());
  for (size_t d = 0; d < shape.size(); ++d) {
    Shape along(shape.size(), 1);
    along[d] = shape[d];
    position =
        position +
        reshape(arange(static_cast<double>(shape[d]), int64, a.device()) * strides[d], along);
  }
  return take(a, broadcast_to(position, shape));
}

Array take_along_axis(const Array& a, const Array& indices, int axis) {
  CheckIndices("take_along_axis", indices);
  if (indices.ndim() != a.ndim()) {
    detail::ThrowOpError("take_along_axis",
                         absl::StrCat("indices of rank ", indices.ndim(),
                                      " do not match an array of rank ", a.ndim(), "."));
  }
  const int64_t ax = detail::NormalizeAxis("take_along_axis", axis, a.ndim());
  // Broadcast a and indices against each other on every axis but `axis`.
  Shape a_shape = a.shape(), idx_shape = indices.shape();
  const Shape joined =
      Broadcast("take_along_axis", WithoutAxis(a.shape(), ax), WithoutAxis(indices.shape(), ax));
  for (int d = 0, j = 0; d < a.ndim(); ++d) {
    if (d == ax) continue;
    a_shape[d] = idx_shape[d] = joined[j++];
  }
  const Array src = a_shape == a.shape() ? a : broadcast_to(a, a_shape);
  const Array idx = idx_shape == indices.shape() ? indices : broadcast_to(indices, idx_shape);
  if (src.shape()[ax] == 0) {
    if (idx.size() > 0) {
      detail::ThrowOpError("take_along_axis",
                           absl::StrCat("cannot take from axis ", axis, " of length 0."));
    }
    return zeros(idx_shape, a.dtype(), a.device());
  }
  std::vector<int> axes;
  for (int d = 0; d < a.ndim(); ++d) axes.push_back(d);
  Array g = gather(src, AlongAxisIndices(src, idx, ax), axes, Shape(a.ndim(), 1));
  return reshape(g, idx_shape);
}

Array take_along_axis(const Array& a, const Array& indices) {
  return take_along_axis(reshape(a, {-1}), reshape(indices, {-1}), 0);
}

namespace {

using ScatterFn = Array (*)(const Array&, const std::vector<Array>&, const Array&,
                            const std::vector<int>&);

// values (broadcast to indices' shape, cast to a's dtype) combined into a at the indices
// along `axis` by `scatter_fn`.
Array ScatterAlongAxis(const char* op, ScatterFn scatter_fn, const Array& a, const Array& indices,
                       const Operand& values, int axis) {
  CheckIndices(op, indices);
  if (indices.ndim() != a.ndim()) {
    detail::ThrowOpError(op, absl::StrCat("indices of rank ", indices.ndim(),
                                          " do not match an array of rank ", a.ndim(), "."));
  }
  const int64_t ax = detail::NormalizeAxis(op, axis, a.ndim());
  Shape idx_shape = indices.shape();
  for (int d = 0; d < a.ndim(); ++d) {
    if (d == ax) continue;
    if (idx_shape[d] != a.shape()[d] && idx_shape[d] != 1) {
      detail::ThrowOpError(op,
                           absl::StrCat("indices of shape ", core::ShapeToString(indices.shape()),
                                        " do not broadcast against an array of shape ",
                                        core::ShapeToString(a.shape()), " off axis ", axis, "."));
    }
    idx_shape[d] = a.shape()[d];
  }
  Array update = InDtypeOf(values, a);
  update = broadcast_to(update, Broadcast(op, update.shape(), idx_shape));
  if (update.shape() != idx_shape) {
    detail::ThrowOpError(
        op, absl::StrCat("values of shape ", core::ShapeToString(update.shape()),
                         " do not fit indices of shape ", core::ShapeToString(idx_shape), "."));
  }
  Shape upd_shape = idx_shape;
  upd_shape.insert(upd_shape.end(), a.ndim(), 1);
  std::vector<int> axes;
  for (int d = 0; d < a.ndim(); ++d) axes.push_back(d);
  return scatter_fn(a, AlongAxisIndices(a, indices, ax), reshape(update, upd_shape), axes);
}

}  // namespace

Array put_along_axis(const Array& a, const Array& indices, const Operand& values, int axis) {
  return ScatterAlongAxis("put_along_axis", &scatter, a, indices, values, axis);
}

Array scatter_add_axis(const Array& a, const Array& indices, const Operand& values, int axis) {
  return ScatterAlongAxis("scatter_add_axis", &scatter_add, a, indices, values, axis);
}

namespace {

Array Scatter(const std::string& op, const Array& a, const std::vector<Array>& indices,
              const Array& updates, const std::vector<int>& axes) {
  Shape index_shape;
  for (const Array& idx : indices) {
    CheckIndices(op, idx);
    index_shape = Broadcast(op, index_shape, idx.shape());
  }
  const size_t k = index_shape.size();
  if (updates.ndim() != static_cast<int>(k) + a.ndim()) {
    detail::ThrowOpError(
        op, absl::StrCat("updates of rank ", updates.ndim(), " must have the indices' rank (", k,
                         ") plus the array's (", a.ndim(), ")."));
  }
  Shape upd_shape = updates.shape();
  const Shape lead(upd_shape.begin(), upd_shape.begin() + k);
  const Shape joined = Broadcast(op, lead, index_shape);
  std::copy(joined.begin(), joined.end(), upd_shape.begin());
  Array upd = astype(updates, a.dtype());
  if (upd_shape != updates.shape()) upd = broadcast_to(upd, upd_shape);
  std::vector<Array> inputs = {a};
  inputs.insert(inputs.end(), indices.begin(), indices.end());
  inputs.push_back(upd);
  return detail::MakeOp(op, inputs, {{"axes", IndexAxes(op, axes, a.ndim(), indices.size())}});
}

}  // namespace

Array scatter(const Array& a, const std::vector<Array>& indices, const Array& updates,
              const std::vector<int>& axes) {
  return Scatter("scatter", a, indices, updates, axes);
}
Array scatter_add(const Array& a, const std::vector<Array>& indices, const Array& updates,
                  const std::vector<int>& axes) {
  return Scatter("scatter_add", a, indices, updates, axes);
}
Array scatter_prod(const Array& a, const std::vector<Array>& indices, const Array& updates,
                   const std::vector<int>& axes) {
  return Scatter("scatter_prod", a, indices, updates, axes);
}
Array scatter_max(const Array& a, const std::vector<Array>& indices, const Array& updates,
                  const std::vector<int>& axes) {
  return Scatter("scatter_max", a, indices, updates, axes);
}
Array scatter_min(const Array& a, const std::vector<Array>& indices, const Array& updates,
                  const std::vector<int>& axes) {
  return Scatter("scatter_min", a, indices, updates, axes);
}

namespace {

// src[start:stop:strides], with slice's errors named for `op`.
Array Region(const char* op, const Array& src, const Shape& start, const Shape& stop,
             const Shape& strides) {
  try {
    return slice(src, start, stop, strides);  // normalizes the bounds as slice does
  } catch (const Error& e) {
    std::string message = e.what();
    const std::string prefix = "[slice] ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    detail::ThrowOpError(op, message);
  }
}

// src with its slice replaced by combine(slice, update).
Array SliceUpdateWith(const char* op, Array (*combine)(const Operand&, const Operand&),
                      const Array& src, const Operand& update, const Shape& start,
                      const Shape& stop, const Shape& strides) {
  const Shape steps = strides.empty() ? Shape(src.ndim(), 1) : strides;
  const Array region = Region(op, src, start, stop, steps);
  return slice_update(src, astype(combine(region, InDtypeOf(update, src)), src.dtype()), start,
                      stop, steps);
}

}  // namespace

Array slice_update(const Array& src, const Operand& update, const Shape& start, const Shape& stop,
                   const Shape& strides) {
  Array region = Region("slice_update", src, start, stop, strides);
  Array upd = InDtypeOf(update, src);
  if (upd.shape() != region.shape()) {
    absl::StatusOr<Shape> joined = core::BroadcastShapes(upd.shape(), region.shape());
    if (!joined.ok() || *joined != region.shape()) {
      detail::ThrowOpError("slice_update",
                           absl::StrCat("update of shape ", core::ShapeToString(upd.shape()),
                                        " does not broadcast to the slice's shape ",
                                        core::ShapeToString(region.shape()), "."));
    }
    upd = broadcast_to(upd, region.shape());
  }
  return detail::MakeOp("slice_update", {src, upd}, region.node()->attrs);
}

Array slice_update(const Array& src, const Operand& update, const Shape& start, const Shape& stop) {
  return slice_update(src, update, start, stop, Shape(src.ndim(), 1));
}

namespace {

// The scalar starts of a dynamic slice along `axes`, one per element of `start`.
std::vector<Array> DynamicStarts(const char* op, const Array& start, const std::vector<int>& axes) {
  CheckIndices(op, start);
  if (start.ndim() > 1 || start.size() != static_cast<int64_t>(axes.size())) {
    detail::ThrowOpError(
        op, absl::StrCat("start must have one element per axis (", axes.size(), "), got shape ",
                         core::ShapeToString(start.shape()), "."));
  }
  const Array flat = reshape(start, {static_cast<int64_t>(axes.size())});
  std::vector<Array> starts;
  for (int64_t k = 0; k < static_cast<int64_t>(axes.size()); ++k) {
    starts.push_back(reshape(slice(flat, {k}, {k + 1}), {}));
  }
  return starts;
}

// Refuses a block of `size` that cannot fit in `shape` (rank or a size too large).
void CheckBlock(const char* op, const char* what, const Shape& size, const Shape& shape) {
  bool fits = size.size() == shape.size();
  for (size_t d = 0; fits && d < size.size(); ++d) fits = size[d] >= 0 && size[d] <= shape[d];
  if (!fits) {
    detail::ThrowOpError(op, absl::StrCat(what, " ", core::ShapeToString(size),
                                          " does not fit in shape ", core::ShapeToString(shape),
                                          " (one size per axis, each at most the axis)."));
  }
}

}  // namespace

Array detail::DynamicSlice(const Array& a, const Array& start, const std::vector<int>& axes,
                           const Shape& slice_size) {
  CheckBlock("slice", "slice_size", slice_size, a.shape());
  return gather(a, DynamicStarts("slice", start, axes), axes, slice_size);
}

Array detail::DynamicSliceUpdate(const Array& src, const Array& update, const Array& start,
                                 const std::vector<int>& axes) {
  CheckBlock("slice_update", "update of shape", update.shape(), src.shape());
  return scatter(src, DynamicStarts("slice_update", start, axes), astype(update, src.dtype()),
                 axes);
}

Array slice_update_add(const Array& src, const Operand& update, const Shape& start,
                       const Shape& stop, const Shape& strides) {
  return SliceUpdateWith("slice_update_add", &add, src, update, start, stop, strides);
}
Array slice_update_prod(const Array& src, const Operand& update, const Shape& start,
                        const Shape& stop, const Shape& strides) {
  return SliceUpdateWith("slice_update_prod", &multiply, src, update, start, stop, strides);
}
Array slice_update_max(const Array& src, const Operand& update, const Shape& start,
                       const Shape& stop, const Shape& strides) {
  return SliceUpdateWith("slice_update_max", &maximum, src, update, start, stop, strides);
}
Array slice_update_min(const Array& src, const Operand& update, const Shape& start,
                       const Shape& stop, const Shape& strides) {
  return SliceUpdateWith("slice_update_min", &minimum, src, update, start, stop, strides);
}

Array masked_scatter(const Array& a, const Array& mask, const Array& src) {
  if (mask.dtype() != bool_) {
    detail::ThrowOpError("masked_scatter", absl::StrCat("mask must be bool, got ",
                                                        core::DTypeName(mask.dtype()), "."));
  }
  if (Broadcast("masked_scatter", mask.shape(), a.shape()) != a.shape()) {
    detail::ThrowOpError(
        "masked_scatter",
        absl::StrCat("mask of shape ", core::ShapeToString(mask.shape()),
                     " does not broadcast to a's shape ", core::ShapeToString(a.shape()), "."));
  }
  if (src.size() == 0) detail::ThrowOpError("masked_scatter", "src has no elements.");
  // The k-th true position reads src's k-th element; a src too short fails the eval with
  // gather's "index ... is out of range".
  const Array where_true = broadcast_to(mask, a.shape());
  const Array position = cumsum(astype(reshape(where_true, {-1}), int64), 0) - 1;
  const Array picked = take(reshape(src, {-1}), maximum(position, 0), 0);
  return where(where_true, reshape(astype(picked, a.dtype()), a.shape()), a);
}

}  // namespace ferry
