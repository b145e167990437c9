// Sorting along one axis: sort argsort partition argpartition.
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

// sort and argsort: axis; argsort gives uint32 indices, as MLX.
template <bool kIndices>
absl::StatusOr<TensorType> InferSort(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  const char* op = kIndices ? "argsort" : "sort";
  const int rank = static_cast<int>(x.shape.size());
  if (rank == 0) return OpError(op, "cannot sort a scalar");
  absl::StatusOr<int> axis = GetAxis(op, attrs, "axis", rank);
  if (!axis.ok()) return axis.status();
  return TensorType{kIndices ? DType::kUInt32 : x.dtype, x.shape};
}

// partition and argpartition: axis and kth, 0 <= kth < dim.
template <bool kIndices>
absl::StatusOr<TensorType> InferPartition(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  const char* op = kIndices ? "argpartition" : "partition";
  const int rank = static_cast<int>(x.shape.size());
  if (rank == 0) return OpError(op, "cannot partition a scalar");
  absl::StatusOr<int> axis = GetAxis(op, attrs, "axis", rank);
  if (!axis.ok()) return axis.status();
  absl::StatusOr<int64_t> kth = GetAttr<int64_t>(op, attrs, "kth");
  if (!kth.ok()) return kth.status();
  if (*kth < 0 || *kth >= x.shape[*axis]) {
    return OpError(op, absl::StrCat("kth ", *kth, " is out of range for axis ", *axis,
                                    " of length ", x.shape[*axis]));
  }
  return TensorType{kIndices ? DType::kUInt32 : x.dtype, x.shape};
}

}  // namespace

void RegisterSortOps(OpTable& table) {
  table.push_back({"sort", 1, 1, &InferSort<false>, {"axis"}});
  table.push_back({"argsort", 1, 1, &InferSort<true>, {"axis"}});
  table.push_back({"partition", 1, 1, &InferPartition<false>, {"axis", "kth"}});
  table.push_back({"argpartition", 1, 1, &InferPartition<true>, {"axis", "kth"}});
}

}  // namespace ferry::core::ops_internal
