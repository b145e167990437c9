// Sorting along an axis (or the flattened array), and topk built on partition as MLX does.

#include <string>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace ferry {
namespace {

Array Sort(const char* op, const Array& a, int axis) {
  if (a.ndim() == 0) detail::ThrowOpError(op, "cannot sort a scalar; use the flattening form.");
  return detail::MakeOp(op, {a}, {{"axis", detail::NormalizeAxis(op, axis, a.ndim())}});
}

Array Partition(const char* op, const Array& a, int kth, int axis) {
  if (a.ndim() == 0) detail::ThrowOpError(op, "cannot partition a scalar.");
  const int64_t ax = detail::NormalizeAxis(op, axis, a.ndim());
  const int64_t n = a.shape()[ax];
  if (kth < -n || kth >= n) {
    detail::ThrowOpError(
        op, absl::StrCat("kth ", kth, " is out of range for axis ", axis, " of length ", n, "."));
  }
  return detail::MakeOp(op, {a}, {{"axis", ax}, {"kth", int64_t{kth < 0 ? kth + n : kth}}});
}

}  // namespace

Array sort(const Array& a) { return Sort("sort", reshape(a, {-1}), 0); }
Array sort(const Array& a, int axis) { return Sort("sort", a, axis); }
Array argsort(const Array& a) { return Sort("argsort", reshape(a, {-1}), 0); }
Array argsort(const Array& a, int axis) { return Sort("argsort", a, axis); }

Array partition(const Array& a, int kth) {
  return Partition("partition", reshape(a, {-1}), kth, 0);
}
Array partition(const Array& a, int kth, int axis) { return Partition("partition", a, kth, axis); }
Array argpartition(const Array& a, int kth) {
  return Partition("argpartition", reshape(a, {-1}), kth, 0);
}
Array argpartition(const Array& a, int kth, int axis) {
  return Partition("argpartition", a, kth, axis);
}

Array topk(const Array& a, int k) { return topk(reshape(a, {-1}), k, 0); }

Array topk(const Array& a, int k, int axis) {
  if (a.ndim() == 0) detail::ThrowOpError("topk", "needs an array of rank at least 1.");
  const int64_t ax = detail::NormalizeAxis("topk", axis, a.ndim());
  const int64_t n = a.shape()[ax];
  if (k < 0 || k > n) {
    detail::ThrowOpError(
        "topk", absl::StrCat("k ", k, " is out of range for axis ", axis, " of length ", n, "."));
  }
  Shape start(a.ndim(), 0), stop = a.shape();
  start[ax] = n - k;
  if (k == 0) return slice(a, start, stop);
  return slice(partition(a, static_cast<int>(n - k), static_cast<int>(ax)), start, stop);
}

Array searchsorted(const Array& sorted_sequence, const Array& values, const std::string& side) {
  if (side != "left" && side != "right") {
    detail::ThrowOpError("searchsorted",
                         absl::StrCat("side must be \"left\" or \"right\", got \"", side, "\"."));
  }
  if (sorted_sequence.ndim() != 1) {
    detail::ThrowOpError("searchsorted",
                         absl::StrCat("sorted_sequence must be 1-D, got shape ",
                                      core::ShapeToString(sorted_sequence.shape()), "."));
  }
  // Counts of the elements before each value, in sort's order (NaN last, after every number).
  const Array v = expand_dims(values, -1);
  Array before = side == "left" ? sorted_sequence < v : sorted_sequence <= v;
  if (core::IsFloating(core::PromoteTypes(sorted_sequence.dtype(), values.dtype()))) {
    const Array nan_value = isnan(v);
    before = logical_or(before, side == "left"
                                    ? logical_and(nan_value, logical_not(isnan(sorted_sequence)))
                                    : nan_value);
  }
  return astype(sum(before, -1), uint32);
}

}  // namespace ferry
