// softmax and logsumexp: normalizations over axes, computed in a floating dtype.
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

absl::StatusOr<TensorType> InferSoftmax(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  absl::StatusOr<std::vector<bool>> axes =
      GetAxes("softmax", attrs, static_cast<int>(x.shape.size()));
  if (!axes.ok()) return axes.status();
  return TensorType{FloatingResultType(x.dtype), x.shape};
}

absl::StatusOr<TensorType> InferLogsumexp(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const TensorType& x = inputs[0];
  absl::StatusOr<std::vector<bool>> axes =
      GetAxes("logsumexp", attrs, static_cast<int>(x.shape.size()));
  if (!axes.ok()) return axes.status();
  absl::StatusOr<bool> keepdims = GetKeepdims("logsumexp", attrs);
  if (!keepdims.ok()) return keepdims.status();
  return TensorType{FloatingResultType(x.dtype), ReduceShape(x.shape, *axes, *keepdims)};
}

}  // namespace

void RegisterSoftmaxOps(OpTable& table) {
  table.push_back({"softmax", 1, 1, &InferSoftmax, {"axes"}});
  table.push_back({"logsumexp", 1, 1, &InferLogsumexp, {"axes", "keepdims"}});
}

}  // namespace ferry::core::ops_internal
