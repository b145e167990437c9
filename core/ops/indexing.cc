// Indexing with arrays of indices, after MLX's Gather, Scatter and SliceUpdate primitives:
// gather scatter scatter_add scatter_prod scatter_max scatter_min slice_update.
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

// The "axes" of a gather or scatter: one distinct, normalized axis per index array.
absl::StatusOr<std::vector<int64_t>> IndexedAxes(std::string_view op, const Attrs& attrs,
                                                 size_t num_indices, int rank) {
  absl::StatusOr<std::vector<int64_t>> axes = GetAttr<std::vector<int64_t>>(op, attrs, "axes");
  if (!axes.ok()) return axes.status();
  if (axes->size() != num_indices) {
    return OpError(op,
                   absl::StrCat("has ", num_indices, " index arrays but ", axes->size(), " axes"));
  }
  std::vector<bool> seen(rank, false);
  for (int64_t axis : *axes) {
    if (axis < 0 || axis >= rank || seen[axis]) {
      return OpError(op, absl::StrCat("axes [", absl::StrJoin(*axes, ", "),
                                      "] must be distinct axes of an array of rank ", rank));
    }
    seen[axis] = true;
  }
  return axes;
}

// The broadcast shape of the index arrays inputs[first, last), which must be integers.
absl::StatusOr<Shape> IndexShape(std::string_view op, absl::Span<const TensorType> inputs,
                                 size_t first, size_t last) {
  Shape shape;
  for (size_t i = first; i < last; ++i) {
    if (!IsInteger(inputs[i].dtype)) {
      return OpError(op, absl::StrCat("indices must be integers, input ", i, " is ",
                                      DTypeName(inputs[i].dtype)));
    }
    absl::StatusOr<Shape> joined = BroadcastShapes(shape, inputs[i].shape);
    if (!joined.ok()) {
      return OpError(op,
                     absl::StrCat("index shapes ", ShapeToString(shape), " and ",
                                  ShapeToString(inputs[i].shape), " cannot be broadcast together"));
    }
    shape = *std::move(joined);
  }
  return shape;
}

// gather(a, indices...): out[i..., s...] = a[start + s] where start[axes[k]] =
// indices[k][i...] and 0 elsewhere; out has shape broadcast(indices) + slice_sizes.
absl::StatusOr<TensorType> InferGather(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& a = inputs[0];
  const int rank = static_cast<int>(a.shape.size());
  absl::StatusOr<std::vector<int64_t>> axes = IndexedAxes("gather", attrs, inputs.size() - 1, rank);
  if (!axes.ok()) return axes.status();
  absl::StatusOr<std::vector<int64_t>> sizes =
      GetAttr<std::vector<int64_t>>("gather", attrs, "slice_sizes");
  if (!sizes.ok()) return sizes.status();
  bool fits = sizes->size() == a.shape.size();
  for (size_t d = 0; fits && d < sizes->size(); ++d) {
    fits = (*sizes)[d] >= 0 && (*sizes)[d] <= a.shape[d];
  }
  if (!fits) {
    return OpError("gather",
                   absl::StrCat("slice_sizes [", absl::StrJoin(*sizes, ", "),
                                "] do not fit an array of shape ", ShapeToString(a.shape)));
  }
  for (int64_t axis : *axes) {
    if (a.shape[axis] == 0) {
      return OpError("gather", absl::StrCat("cannot index axis ", axis, " of length 0"));
    }
  }
  absl::StatusOr<Shape> shape = IndexShape("gather", inputs, 1, inputs.size());
  if (!shape.ok()) return shape.status();
  shape->insert(shape->end(), sizes->begin(), sizes->end());
  return TensorType{a.dtype, *shape};
}

// scatter*(a, indices..., updates): a with the slices updates[i...] written (or combined)
// at the starts the indices give; updates has shape broadcast(indices) + slice shape.
template <const char* kOp>
absl::StatusOr<TensorType> InferScatter(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& a = inputs[0];
  const TensorType& updates = inputs.back();
  const int rank = static_cast<int>(a.shape.size());
  const size_t num_indices = inputs.size() - 2;
  absl::StatusOr<std::vector<int64_t>> axes = IndexedAxes(kOp, attrs, num_indices, rank);
  if (!axes.ok()) return axes.status();
  if (updates.dtype != a.dtype) {
    return OpError(kOp, absl::StrCat("updates are ", DTypeName(updates.dtype), " but the array is ",
                                     DTypeName(a.dtype)));
  }
  absl::StatusOr<Shape> index_shape = IndexShape(kOp, inputs, 1, inputs.size() - 1);
  if (!index_shape.ok()) return index_shape.status();
  const size_t lead = index_shape->size();
  bool fits = updates.shape.size() == lead + a.shape.size();
  for (size_t d = 0; fits && d < lead; ++d) fits = updates.shape[d] == (*index_shape)[d];
  for (size_t d = 0; fits && d < a.shape.size(); ++d) {
    fits = updates.shape[lead + d] <= a.shape[d];
  }
  if (!fits) {
    return OpError(kOp, absl::StrCat("updates of shape ", ShapeToString(updates.shape),
                                     " do not match indices of shape ", ShapeToString(*index_shape),
                                     " into an array of shape ", ShapeToString(a.shape)));
  }
  for (int64_t axis : *axes) {
    if (a.shape[axis] == 0 && NumElements(updates.shape) > 0) {
      return OpError(kOp, absl::StrCat("cannot index axis ", axis, " of length 0"));
    }
  }
  return a;
}

constexpr char kScatter[] = "scatter";
constexpr char kScatterAdd[] = "scatter_add";
constexpr char kScatterProd[] = "scatter_prod";
constexpr char kScatterMax[] = "scatter_max";
constexpr char kScatterMin[] = "scatter_min";

// slice_update(src, update): src with src[start:stop:strides] replaced by update, whose
// shape is that of the slice (the attributes are normalized as slice's).
absl::StatusOr<TensorType> InferSliceUpdate(absl::Span<const TensorType> inputs,
                                            const Attrs& attrs) {
  const TensorType& src = inputs[0];
  const TensorType& update = inputs[1];
  absl::StatusOr<TensorType> region = InferOp("slice", {src}, attrs);
  if (!region.ok()) {
    std::string message(region.status().message());
    const std::string prefix = "[slice] ";
    if (message.rfind(prefix, 0) == 0) message = message.substr(prefix.size());
    return OpError("slice_update", message);
  }
  if (update.dtype != src.dtype) {
    return OpError("slice_update", absl::StrCat("update is ", DTypeName(update.dtype),
                                                " but the array is ", DTypeName(src.dtype)));
  }
  if (update.shape != region->shape) {
    return OpError("slice_update", absl::StrCat("update of shape ", ShapeToString(update.shape),
                                                " does not match the slice's shape ",
                                                ShapeToString(region->shape)));
  }
  return src;
}

}  // namespace

void RegisterIndexingOps(OpTable& table) {
  table.push_back({"gather", 1, -1, &InferGather, {"axes", "slice_sizes"}});
  table.push_back({kScatter, 2, -1, &InferScatter<kScatter>, {"axes"}});
  table.push_back({kScatterAdd, 2, -1, &InferScatter<kScatterAdd>, {"axes"}});
  table.push_back({kScatterProd, 2, -1, &InferScatter<kScatterProd>, {"axes"}});
  table.push_back({kScatterMax, 2, -1, &InferScatter<kScatterMax>, {"axes"}});
  table.push_back({kScatterMin, 2, -1, &InferScatter<kScatterMin>, {"axes"}});
  table.push_back({"slice_update", 2, 2, &InferSliceUpdate, {"start", "stop", "strides"}});
}

}  // namespace ferry::core::ops_internal
