// where(cond, x, y): x where cond is nonzero, else y; all three broadcast.
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

absl::StatusOr<TensorType> InferWhere(absl::Span<const TensorType> inputs, const Attrs&) {
  absl::StatusOr<Shape> shape = BroadcastShapes(inputs[0].shape, inputs[1].shape);
  if (shape.ok()) shape = BroadcastShapes(*shape, inputs[2].shape);
  if (!shape.ok()) {
    return OpError("where",
                   absl::StrCat("shapes ", ShapeToString(inputs[0].shape), ", ",
                                ShapeToString(inputs[1].shape), " and ",
                                ShapeToString(inputs[2].shape), " cannot be broadcast together"));
  }
  return TensorType{PromoteTypes(inputs[1].dtype, inputs[2].dtype), *shape};
}

}  // namespace

void RegisterWhereOp(OpTable& table) { table.push_back({"where", 3, 3, &InferWhere, {}}); }

}  // namespace ferry::core::ops_internal
