// Ops that move elements without computing: reshape, transpose, broadcast_to, slice,
// concatenate. Python's conventions (-1 dims, negative indices, clamped bounds) are
// resolved here so the graph carries only normalized attributes.

#include <algorithm>
#include <limits>
#include <utility>
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
    detail::ThrowOpError(
        "slice", absl::StrCat("start, stop and strides need one entry per axis (", rank, "); got ",
                              start.size(), ", ", stop.size(), " and ", strides.size(), "."));
  }
  Shape starts(rank), stops(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (strides[i] == 0)
      detail::ThrowOpError("slice", absl::StrCat("stride of axis ", i, " is 0."));
    const Range range = ClampRange(start[i], stop[i], strides[i], a.shape()[i]);
    starts[i] = range.start;
    stops[i] = range.stop;
  }
  return detail::MakeOp(
      "slice", {a},
      {{"start", std::move(starts)}, {"stop", std::move(stops)}, {"strides", strides}});
}

Array concatenate(const std::vector<Array>& arrays, int axis) {
  if (arrays.empty()) detail::ThrowOpError("concatenate", "needs at least one array.");
  return detail::MakeOp("concatenate", arrays,
                        {{"axis", detail::NormalizeAxis("concatenate", axis, arrays[0].ndim())}});
}

// ---- part A: compositions, as MLX builds them ----

Array squeeze(const Array& a) {
  Shape shape;
  for (int64_t dim : a.shape()) {
    if (dim != 1) shape.push_back(dim);
  }
  return reshape(a, shape);
}

Array squeeze(const Array& a, int axis) { return squeeze(a, std::vector<int>{axis}); }

Array squeeze(const Array& a, const std::vector<int>& axes) {
  const std::vector<int64_t> drop = detail::NormalizeAxes("squeeze", axes, a.ndim(), true);
  Shape shape;
  for (int i = 0; i < a.ndim(); ++i) {
    if (!std::binary_search(drop.begin(), drop.end(), i)) {
      shape.push_back(a.shape()[i]);
    } else if (a.shape()[i] != 1) {
      detail::ThrowOpError("squeeze", absl::StrCat("cannot squeeze axis ", i, " of size ",
                                                   a.shape()[i], "; it must have size 1."));
    }
  }
  return reshape(a, shape);
}

Array expand_dims(const Array& a, int axis) { return expand_dims(a, std::vector<int>{axis}); }

Array expand_dims(const Array& a, const std::vector<int>& axes) {
  const int rank = a.ndim() + static_cast<int>(axes.size());
  const std::vector<int64_t> inserted = detail::NormalizeAxes("expand_dims", axes, rank, true);
  Shape shape;
  auto dim = a.shape().begin();
  for (int i = 0; i < rank; ++i) {
    shape.push_back(std::binary_search(inserted.begin(), inserted.end(), i) ? 1 : *dim++);
  }
  return reshape(a, shape);
}

Array flatten(const Array& a, int start_axis, int end_axis) {
  if (a.ndim() == 0) return reshape(a, {1});
  const int64_t start = detail::NormalizeAxis("flatten", start_axis, a.ndim());
  const int64_t end = detail::NormalizeAxis("flatten", end_axis, a.ndim());
  if (start > end) {
    detail::ThrowOpError("flatten", absl::StrCat("start_axis ", start_axis,
                                                 " comes after end_axis ", end_axis, "."));
  }
  Shape shape(a.shape().begin(), a.shape().begin() + start);
  int64_t merged = 1;
  for (int64_t i = start; i <= end; ++i) merged *= a.shape()[i];
  shape.push_back(merged);
  shape.insert(shape.end(), a.shape().begin() + end + 1, a.shape().end());
  return reshape(a, shape);
}

Array swapaxes(const Array& a, int axis1, int axis2) {
  const int64_t i = detail::NormalizeAxis("swapaxes", axis1, a.ndim());
  const int64_t j = detail::NormalizeAxis("swapaxes", axis2, a.ndim());
  std::vector<int> perm(a.ndim());
  for (int k = 0; k < a.ndim(); ++k) perm[k] = k;
  std::swap(perm[i], perm[j]);
  return transpose(a, perm);
}

Array moveaxis(const Array& a, int source, int destination) {
  const int64_t from = detail::NormalizeAxis("moveaxis", source, a.ndim());
  const int64_t to = detail::NormalizeAxis("moveaxis", destination, a.ndim());
  std::vector<int> perm;
  for (int k = 0; k < a.ndim(); ++k) {
    if (k != from) perm.push_back(k);
  }
  perm.insert(perm.begin() + to, static_cast<int>(from));
  return transpose(a, perm);
}

Array stack(const std::vector<Array>& arrays, int axis) {
  if (arrays.empty()) detail::ThrowOpError("stack", "needs at least one array.");
  const Shape& shape = arrays[0].shape();
  const int64_t at = detail::NormalizeAxis("stack", axis, arrays[0].ndim() + 1);
  std::vector<Array> expanded;
  for (const Array& array : arrays) {
    if (array.shape() != shape) {
      detail::ThrowOpError(
          "stack", absl::StrCat("arrays must have one shape; got ", core::ShapeToString(shape),
                                " and ", core::ShapeToString(array.shape()), "."));
    }
    expanded.push_back(expand_dims(array, static_cast<int>(at)));
  }
  return concatenate(expanded, static_cast<int>(at));
}

namespace {

// a[lo:hi] along `axis` (Python rules for lo and hi), everything along the others.
Array SliceAxis(const Array& a, int64_t axis, int64_t lo, int64_t hi) {
  Shape start(a.ndim(), 0), stop = a.shape();
  start[axis] = lo;
  stop[axis] = hi;
  return slice(a, start, stop);
}

}  // namespace

std::vector<Array> split(const Array& a, int num_splits, int axis) {
  const int64_t at = detail::NormalizeAxis("split", axis, a.ndim());
  const int64_t dim = a.shape()[at];
  if (num_splits <= 0 || dim % num_splits != 0) {
    detail::ThrowOpError("split", absl::StrCat("cannot split axis ", at, " of size ", dim, " into ",
                                               num_splits, " equal parts."));
  }
  Shape indices;
  for (int64_t i = 1; i < num_splits; ++i) indices.push_back(i * (dim / num_splits));
  return split(a, indices, static_cast<int>(at));
}

std::vector<Array> split(const Array& a, const Shape& indices, int axis) {
  const int64_t at = detail::NormalizeAxis("split", axis, a.ndim());
  std::vector<Array> parts;
  int64_t lo = 0;
  for (int64_t hi : indices) {
    parts.push_back(SliceAxis(a, at, lo, hi));
    lo = hi;
  }
  parts.push_back(SliceAxis(a, at, lo, std::numeric_limits<int64_t>::max()));
  return parts;
}

Array pad(const Array& a, const std::vector<std::pair<int64_t, int64_t>>& pad_width, double value) {
  const size_t rank = static_cast<size_t>(a.ndim());
  if (pad_width.size() != rank && pad_width.size() != 1) {
    detail::ThrowOpError("pad", absl::StrCat("needs one (before, after) pair per axis (", rank,
                                             ") or one for all; got ", pad_width.size(), "."));
  }
  Array out = a;
  for (size_t axis = 0; axis < rank; ++axis) {
    const auto [before, after] = pad_width.size() == 1 ? pad_width[0] : pad_width[axis];
    if (before < 0 || after < 0) {
      detail::ThrowOpError("pad", absl::StrCat("pad widths must be non-negative; got (", before,
                                               ", ", after, ") for axis ", axis, "."));
    }
    if (before == 0 && after == 0) continue;
    std::vector<Array> pieces;
    for (int64_t width : {before, int64_t{-1}, after}) {
      if (width == -1) {
        pieces.push_back(out);
      } else if (width > 0) {
        Shape shape = out.shape();
        shape[axis] = width;
        pieces.push_back(full(shape, value, a.dtype(), a.device()));
      }
    }
    out = concatenate(pieces, static_cast<int>(axis));
  }
  return out;
}

Array pad(const Array& a, int64_t pad_width, double value) {
  return pad(a, {{pad_width, pad_width}}, value);
}

Array tile(const Array& a, const Shape& reps) {
  for (int64_t rep : reps) {
    if (rep < 0) {
      detail::ThrowOpError("tile", absl::StrCat("reps must be non-negative; got ", rep, "."));
    }
  }
  Shape shape = a.shape();
  Shape r = reps;
  if (r.size() < shape.size()) r.insert(r.begin(), shape.size() - r.size(), 1);
  if (shape.size() < r.size()) shape.insert(shape.begin(), r.size() - shape.size(), 1);
  Shape expanded, broadcast, final_shape;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (r[i] != 1) {
      expanded.push_back(1);
      broadcast.push_back(r[i]);
    }
    expanded.push_back(shape[i]);
    broadcast.push_back(shape[i]);
    final_shape.push_back(r[i] * shape[i]);
  }
  return reshape(broadcast_to(reshape(a, expanded), broadcast), final_shape);
}

Array repeat(const Array& a, int64_t repeats, int axis) {
  const int64_t at = detail::NormalizeAxis("repeat", axis, a.ndim());
  if (repeats < 0) {
    detail::ThrowOpError("repeat",
                         absl::StrCat("repeats must be non-negative; got ", repeats, "."));
  }
  Shape broadcast = a.shape();
  broadcast.insert(broadcast.begin() + at + 1, repeats);
  Shape final_shape = a.shape();
  final_shape[at] *= repeats;
  Array expanded = expand_dims(a, static_cast<int>(at) + 1);
  return reshape(broadcast_to(expanded, broadcast), final_shape);
}

Array repeat(const Array& a, int64_t repeats) { return repeat(flatten(a), repeats, 0); }

Array roll(const Array& a, int64_t shift) {
  return reshape(roll(flatten(a), Shape{shift}, {0}), a.shape());
}

Array roll(const Array& a, int64_t shift, int axis) { return roll(a, Shape{shift}, {axis}); }

Array roll(const Array& a, const Shape& shifts, const std::vector<int>& axes) {
  if (shifts.size() != axes.size()) {
    detail::ThrowOpError("roll", absl::StrCat("needs one shift per axis; got ", shifts.size(),
                                              " shifts and ", axes.size(), " axes."));
  }
  Array out = a;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t at = detail::NormalizeAxis("roll", axes[i], a.ndim());
    const int64_t dim = a.shape()[at];
    if (dim == 0) continue;
    const int64_t split_at = dim - ((shifts[i] % dim) + dim) % dim;
    if (split_at == dim) continue;
    out = concatenate({SliceAxis(out, at, split_at, dim), SliceAxis(out, at, 0, split_at)},
                      static_cast<int>(at));
  }
  return out;
}

// ---- Part D ---------------------------------------------------------------------------------

Array atleast_1d(const Array& a) { return a.ndim() >= 1 ? a : reshape(a, {1}); }

Array atleast_2d(const Array& a) {
  if (a.ndim() >= 2) return a;
  return reshape(a, {1, a.ndim() == 1 ? a.shape()[0] : 1});
}

Array atleast_3d(const Array& a) {  // NumPy's: (n) -> (1, n, 1), (m, n) -> (m, n, 1)
  if (a.ndim() >= 3) return a;
  if (a.ndim() == 2) return reshape(a, {a.shape()[0], a.shape()[1], 1});
  return reshape(a, {1, a.ndim() == 1 ? a.shape()[0] : 1, 1});
}

namespace {

std::vector<Array> EachOf(const std::vector<Array>& arrays, Array (*f)(const Array&)) {
  std::vector<Array> out;
  out.reserve(arrays.size());
  for (const Array& a : arrays) out.push_back(f(a));
  return out;
}

}  // namespace

std::vector<Array> atleast_1d(const std::vector<Array>& arrays) {
  return EachOf(arrays, &atleast_1d);
}
std::vector<Array> atleast_2d(const std::vector<Array>& arrays) {
  return EachOf(arrays, &atleast_2d);
}
std::vector<Array> atleast_3d(const std::vector<Array>& arrays) {
  return EachOf(arrays, &atleast_3d);
}

std::vector<Array> broadcast_arrays(const std::vector<Array>& arrays) {
  Shape shape;
  for (const Array& a : arrays) {
    absl::StatusOr<Shape> joined = core::BroadcastShapes(shape, a.shape());
    if (!joined.ok()) {
      detail::ThrowOpError("broadcast_arrays",
                           absl::StrCat("shapes ", core::ShapeToString(shape), " and ",
                                        core::ShapeToString(a.shape()), " cannot be broadcast."));
    }
    shape = *std::move(joined);
  }
  std::vector<Array> out;
  out.reserve(arrays.size());
  for (const Array& a : arrays) out.push_back(broadcast_to(a, shape));
  return out;
}

Array flip(const Array& a) {
  std::vector<int> axes(a.ndim());
  for (int i = 0; i < a.ndim(); ++i) axes[i] = i;
  return flip(a, axes);
}

Array flip(const Array& a, int axis) { return flip(a, std::vector<int>{axis}); }

Array flip(const Array& a, const std::vector<int>& axes) {
  Shape start(a.ndim(), 0), stop = a.shape(), strides(a.ndim(), 1);
  for (int64_t axis : detail::NormalizeAxes("flip", axes, a.ndim(), /*sort=*/true)) {
    start[axis] = a.shape()[axis] - 1;  // a[dim - 1 : -dim - 1 : -1], Python's a[::-1]
    stop[axis] = -a.shape()[axis] - 1;
    strides[axis] = -1;
  }
  return slice(a, start, stop, strides);
}

std::vector<Array> unstack(const Array& a, int axis) {
  const int64_t at = detail::NormalizeAxis("unstack", axis, a.ndim());
  std::vector<Array> parts;
  parts.reserve(static_cast<size_t>(a.shape()[at]));
  for (int64_t i = 0; i < a.shape()[at]; ++i) {
    parts.push_back(squeeze(SliceAxis(a, at, i, i + 1), static_cast<int>(at)));
  }
  return parts;
}

Array matrix_transpose(const Array& a) {
  if (a.ndim() < 2) {
    detail::ThrowOpError("matrix_transpose", absl::StrCat("needs at least 2 dims, got shape ",
                                                          core::ShapeToString(a.shape()), "."));
  }
  return swapaxes(a, -1, -2);
}

}  // namespace ferry
