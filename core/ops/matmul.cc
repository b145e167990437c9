// matmul(a, b) with NumPy's rules: a 1-D operand is promoted to a matrix and the added
// dimension dropped from the result; batch dimensions broadcast.
#include "absl/strings/str_cat.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

absl::StatusOr<TensorType> InferMatmul(absl::Span<const TensorType> inputs, const Attrs&) {
  const TensorType& a = inputs[0];
  const TensorType& b = inputs[1];
  if (a.shape.empty() || b.shape.empty()) {
    return OpError("matmul", absl::StrCat("operands must have at least one dimension, got ",
                                          ShapeToString(a.shape), " @ ", ShapeToString(b.shape)));
  }
  if (!IsFloating(a.dtype) || !IsFloating(b.dtype)) {
    return OpError("matmul", absl::StrCat("only floating dtypes are supported, got ",
                                          DTypeName(a.dtype), " and ", DTypeName(b.dtype)));
  }
  Shape sa = a.shape;
  Shape sb = b.shape;
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  const int64_t k_a = sa[sa.size() - 1];
  const int64_t k_b = sb[sb.size() - 2];
  if (k_a != k_b) {
    return OpError("matmul", absl::StrCat("inner dimensions differ: ", ShapeToString(a.shape),
                                          " @ ", ShapeToString(b.shape)));
  }
  const Shape batch_a(sa.begin(), sa.end() - 2);
  const Shape batch_b(sb.begin(), sb.end() - 2);
  absl::StatusOr<Shape> out = BroadcastShapes(batch_a, batch_b);
  if (!out.ok()) {
    return OpError("matmul",
                   absl::StrCat("batch dimensions ", ShapeToString(batch_a), " and ",
                                ShapeToString(batch_b), " of ", ShapeToString(a.shape), " @ ",
                                ShapeToString(b.shape), " cannot be broadcast together"));
  }
  if (a.shape.size() > 1) out->push_back(sa[sa.size() - 2]);
  if (b.shape.size() > 1) out->push_back(sb[sb.size() - 1]);
  return TensorType{PromoteTypes(a.dtype, b.dtype), *out};
}

// gather_mm(a, b, lhs_indices, rhs_indices): for each element of the index arrays (one
// shape, broadcast by the client), a's matrix lhs_indices[i] @ b's matrix rhs_indices[i],
// the matrices numbered over each operand's flattened batch axes.
absl::StatusOr<TensorType> InferGatherMm(absl::Span<const TensorType> inputs, const Attrs&) {
  constexpr char kOp[] = "gather_mm";
  const TensorType& a = inputs[0];
  const TensorType& b = inputs[1];
  const TensorType& lhs = inputs[2];
  const TensorType& rhs = inputs[3];
  if (a.shape.size() < 2 || b.shape.size() < 2 || a.shape.back() != b.shape[b.shape.size() - 2]) {
    return OpError(kOp, absl::StrCat("needs matrices (..., M, K) and (..., K, N), got ",
                                     ShapeToString(a.shape), " and ", ShapeToString(b.shape)));
  }
  if (!IsFloating(a.dtype) || !IsFloating(b.dtype)) {
    return OpError(kOp, absl::StrCat("only floating dtypes are supported, got ", DTypeName(a.dtype),
                                     " and ", DTypeName(b.dtype)));
  }
  if (!IsInteger(lhs.dtype) || !IsInteger(rhs.dtype) || lhs.shape != rhs.shape) {
    return OpError(kOp, absl::StrCat("lhs_indices and rhs_indices must be integers of one shape, "
                                     "got ",
                                     DTypeName(lhs.dtype), " ", ShapeToString(lhs.shape), " and ",
                                     DTypeName(rhs.dtype), " ", ShapeToString(rhs.shape)));
  }
  Shape out = lhs.shape;
  out.push_back(a.shape[a.shape.size() - 2]);
  out.push_back(b.shape.back());
  return TensorType{PromoteTypes(a.dtype, b.dtype), out};
}

}  // namespace

void RegisterMatmulOp(OpTable& table) {
  table.push_back({"matmul", 2, 2, &InferMatmul, {}});
  table.push_back({"gather_mm", 4, 4, &InferGatherMm, {}});
}

}  // namespace ferry::core::ops_internal
