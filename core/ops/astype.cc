// astype: the same values converted to another dtype.
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

absl::StatusOr<TensorType> InferAstype(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<DType> dtype = GetDType("astype", attrs);
  if (!dtype.ok()) return dtype.status();
  return TensorType{*dtype, inputs[0].shape};
}

}  // namespace

void RegisterAstypeOp(OpTable& table) {
  table.push_back({"astype", 1, 1, &InferAstype, {"dtype"}});
}

}  // namespace ferry::core::ops_internal
