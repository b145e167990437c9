// Linear algebra.

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry {

Array matmul(const Array& a, const Array& b) { return detail::MakeOp("matmul", {a, b}, {}); }

// Composed, so it needs no kernel of its own; a fused kernel can come with a GPU backend.
Array addmm(const Array& c, const Array& a, const Array& b, float alpha, float beta) {
  Array product = matmul(a, b);
  if (alpha != 1.0f) product = product * alpha;
  if (beta != 0.0f) return product + (beta == 1.0f ? c : c * beta);
  // beta 0 does not read c (as BLAS), so a NaN in c stays out; it still shapes the result.
  absl::StatusOr<Shape> shape = core::BroadcastShapes(product.shape(), c.shape());
  if (!shape.ok()) {
    detail::ThrowOpError("addmm", absl::StrCat("c of shape ", core::ShapeToString(c.shape()),
                                               " does not broadcast with the product's ",
                                               core::ShapeToString(product.shape()), "."));
  }
  return astype(broadcast_to(product, *shape), core::PromoteTypes(product.dtype(), c.dtype()));
}

}  // namespace ferry
