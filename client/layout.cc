// Ops that move elements without computing: reshape, transpose, broadcast_to, slice,
// concatenate. Python's conventions (-1 dims, negative indices, clamped bounds) are
// resolved here so the graph carries only normalized attributes.

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry {
namespace {

// Python's slice.indices for one axis: start and stop clamped for the stride's direction,
// and the number of elements taken.
struct Range {
  int64_t start, stop;
};

Range ClampRange(int64_t start, int64_t stop, int64_t stride, int64_t dim) {
  const int64_t lo = stride > 0 ? 0 : -1;
  const int64_t hi = stride > 0 ? dim : dim - 1;
  auto clamp = [&](int64_t index) {
    if (index < 0) index += dim;
    return std::min(std::max(index, lo), hi);
  };
  return {clamp(start), clamp(stop)};
}

}  // namespace

Array reshape(const Array& a, const Shape& shape) {
  Shape resolved = shape;
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      if (unknown >= 0) detail::ThrowOpError("reshape", "only one dim may be -1.");
      unknown = static_cast<int>(i);
    } else if (shape[i] < 0) {
      detail::ThrowOpError("reshape", absl::StrCat("dim ", shape[i], " is negative."));
    } else {
      known *= shape[i];
    }
  }
  if (unknown >= 0) {
    if (known == 0 || a.size() % known != 0) {
      detail::ThrowOpError("reshape", absl::StrCat("cannot reshape an array of shape ",
                                                   core::ShapeToString(a.shape()), " into (",
                                                   absl::StrJoin(shape, ", "), ")."));
    }
    resolved[unknown] = a.size() / known;
  }
  return detail::MakeOp("reshape", {a}, {{"shape", resolved}});
}

Array transpose(const Array& a) {
  std::vector<int64_t> perm = detail::AllAxes(a.ndim());
  std::reverse(perm.begin(), perm.end());
  return detail::MakeOp("transpose", {a}, {{"perm", std::move(perm)}});
}

Array transpose(const Array& a, const std::vector<int>& axes) {
  return detail::MakeOp(
      "transpose", {a},
      {{"perm", detail::NormalizeAxes("transpose", axes, a.ndim(), /*sort=*/false)}});
}

Array broadcast_to(const Array& a, const Shape& shape) {
  return detail::MakeOp("broadcast_to", {a}, {{"shape", shape}});
}

Array slice(const Array& a, const Shape& start, const Shape& stop) {
  return slice(a, start, stop, Shape(a.ndim(), 1));
}

Array slice(const Array& a, const Shape& start, const Shape& stop, const Shape& strides) {
  const size_t rank = static_cast<size_t>(a.ndim());
  if (start.size() != rank || stop.size() != rank || strides.size() != rank) {
    detail::ThrowOpError("slice", absl::StrCat("start, stop and strides need one entry per axis (",
                                               rank, "); got ", start.size(), ", ", stop.size(),
                                               " and ", strides.size(), "."));
  }
  Shape starts(rank), stops(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (strides[i] == 0) detail::ThrowOpError("slice", absl::StrCat("stride of axis ", i, " is 0."));
    const Range range = ClampRange(start[i], stop[i], strides[i], a.shape()[i]);
    starts[i] = range.start;
    stops[i] = range.stop;
  }
  return detail::MakeOp("slice", {a},
                        {{"start", std::move(starts)}, {"stop", std::move(stops)},
                         {"strides", strides}});
}

Array concatenate(const std::vector<Array>& arrays, int axis) {
  if (arrays.empty()) detail::ThrowOpError("concatenate", "needs at least one array.");
  return detail::MakeOp(
      "concatenate", arrays,
      {{"axis", detail::NormalizeAxis("concatenate", axis, arrays[0].ndim())}});
}

}  // namespace ferry
