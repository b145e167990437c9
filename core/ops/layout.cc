// Ops that move elements without computing: reshape depends transpose broadcast_to slice
// concatenate.
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

std::string List(const std::vector<int64_t>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ", "), "]");
}

absl::StatusOr<TensorType> InferReshape(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  absl::StatusOr<Shape> shape = GetShape("reshape", attrs);
  if (!shape.ok()) return shape.status();
  const int64_t from = NumElements(x.shape);
  const int64_t to = NumElements(*shape);
  if (from != to) {
    return OpError("reshape",
                   absl::StrCat("cannot reshape ", ShapeToString(x.shape), " (", from,
                                " elements) to ", ShapeToString(*shape), " (", to, " elements)"));
  }
  return TensorType{x.dtype, *shape};
}

absl::StatusOr<TensorType> InferDepends(absl::Span<const TensorType> inputs, const Attrs&) {
  return inputs[0];
}

absl::StatusOr<TensorType> InferTranspose(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  absl::StatusOr<std::vector<int64_t>> perm =
      GetAttr<std::vector<int64_t>>("transpose", attrs, "perm");
  if (!perm.ok()) return perm.status();
  const size_t rank = x.shape.size();
  std::vector<bool> seen(rank, false);
  bool ok = perm->size() == rank;
  for (size_t i = 0; ok && i < perm->size(); ++i) {
    const int64_t axis = (*perm)[i];
    ok = axis >= 0 && axis < static_cast<int64_t>(rank) && !seen[axis];
    if (ok) seen[axis] = true;
  }
  if (!ok) {
    return OpError("transpose", absl::StrCat("perm ", List(*perm),
                                             " is not a permutation of the axes of an array "
                                             "of rank ",
                                             rank));
  }
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) out[i] = x.shape[(*perm)[i]];
  return TensorType{x.dtype, out};
}

absl::StatusOr<TensorType> InferBroadcastTo(absl::Span<const TensorType> inputs,
                                            const Attrs& attrs) {
  const TensorType& x = inputs[0];
  absl::StatusOr<Shape> shape = GetShape("broadcast_to", attrs);
  if (!shape.ok()) return shape.status();
  absl::StatusOr<Shape> joined = BroadcastShapes(x.shape, *shape);
  if (x.shape.size() > shape->size() || !joined.ok() || *joined != *shape) {
    return OpError("broadcast_to", absl::StrCat("cannot broadcast ", ShapeToString(x.shape), " to ",
                                                ShapeToString(*shape)));
  }
  return TensorType{x.dtype, *shape};
}

// The length of start:stop:stride over an axis of length dim, or an error naming the axis.
absl::StatusOr<int64_t> SliceLength(int axis, int64_t dim, int64_t start, int64_t stop,
                                    int64_t stride) {
  const auto range_error = [&](const char* rule) {
    return OpError(
        "slice", absl::StrCat("axis ", axis, " of length ", dim, ": start ", start, ", stop ", stop,
                              " with stride ", stride, " must satisfy ", rule));
  };
  if (stride == 0) return OpError("slice", absl::StrCat("stride on axis ", axis, " is 0"));
  if (stride > 0) {
    if (start < 0 || start > dim || stop < 0 || stop > dim) {
      return range_error("0 <= start, stop <= dim");
    }
    if (stop <= start) return 0;
    return (stop - start - 1) / stride + 1;
  }
  if (start < -1 || start > dim - 1 || stop < -1 || stop > dim - 1) {
    return range_error("-1 <= start, stop <= dim - 1");
  }
  if (start <= stop) return 0;
  // |stride| without negating INT64_MIN.
  const uint64_t magnitude = static_cast<uint64_t>(-(stride + 1)) + 1;
  return static_cast<int64_t>(static_cast<uint64_t>(start - stop - 1) / magnitude + 1);
}

absl::StatusOr<TensorType> InferSlice(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  const size_t rank = x.shape.size();
  std::vector<int64_t> lists[3];
  const char* names[3] = {"start", "stop", "strides"};
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::vector<int64_t>> list =
        GetAttr<std::vector<int64_t>>("slice", attrs, names[i]);
    if (!list.ok()) return list.status();
    if (list->size() != rank) {
      return OpError("slice", absl::StrCat("attribute '", names[i], "' has ", list->size(),
                                           " values for an array of rank ", rank));
    }
    lists[i] = *std::move(list);
  }
  Shape out(rank);
  for (size_t axis = 0; axis < rank; ++axis) {
    absl::StatusOr<int64_t> length = SliceLength(static_cast<int>(axis), x.shape[axis],
                                                 lists[0][axis], lists[1][axis], lists[2][axis]);
    if (!length.ok()) return length.status();
    out[axis] = *length;
  }
  return TensorType{x.dtype, out};
}

absl::StatusOr<TensorType> InferConcatenate(absl::Span<const TensorType> inputs,
                                            const Attrs& attrs) {
  const TensorType& first = inputs[0];
  const int rank = static_cast<int>(first.shape.size());
  if (rank == 0) return OpError("concatenate", "cannot concatenate scalars");
  absl::StatusOr<int> axis = GetAxis("concatenate", attrs, "axis", rank);
  if (!axis.ok()) return axis.status();
  TensorType out = first;
  for (size_t i = 1; i < inputs.size(); ++i) {
    const Shape& shape = inputs[i].shape;
    if (static_cast<int>(shape.size()) != rank) {
      return OpError("concatenate", absl::StrCat("input ", i, " has rank ", shape.size(),
                                                 " but input 0 has rank ", rank));
    }
    for (int d = 0; d < rank; ++d) {
      if (d != *axis && shape[d] != first.shape[d]) {
        return OpError("concatenate",
                       absl::StrCat("input ", i, " has shape ", ShapeToString(shape),
                                    " but input 0 has shape ", ShapeToString(first.shape),
                                    "; all dimensions except axis ", *axis, " must match"));
      }
    }
    // Each dim is at most 2^48 (CheckShape), so the sum only overflows after 2^15 inputs.
    if (out.shape[*axis] > std::numeric_limits<int64_t>::max() - shape[*axis]) {
      return OpError("concatenate", absl::StrCat("axis ", *axis, " grows past 2^63"));
    }
    out.shape[*axis] += shape[*axis];
    out.dtype = PromoteTypes(out.dtype, inputs[i].dtype);
  }
  return out;
}

}  // namespace

void RegisterLayoutOps(OpTable& table) {
  table.push_back({"reshape", 1, 1, &InferReshape, {"shape"}});
  table.push_back({"depends", 1, -1, &InferDepends, {}});
  table.push_back({"transpose", 1, 1, &InferTranspose, {"perm"}});
  table.push_back({"broadcast_to", 1, 1, &InferBroadcastTo, {"shape"}});
  table.push_back({"slice", 1, 1, &InferSlice, {"start", "stop", "strides"}});
  table.push_back({"concatenate", 1, -1, &InferConcatenate, {"axis"}});
}

}  // namespace ferry::core::ops_internal
