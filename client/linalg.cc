// Linear algebra.

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
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

// One matmul: a's free axes then its summed ones, against b's summed then free ones.
Array tensordot(const Array& a, const Array& b, const std::vector<int>& axes_a,
                const std::vector<int>& axes_b) {
  if (axes_a.size() != axes_b.size()) {
    detail::ThrowOpError("tensordot", absl::StrCat("sums ", axes_a.size(), " axes of a against ",
                                                   axes_b.size(), " of b."));
  }
  const std::vector<int64_t> sum_a = detail::NormalizeAxes("tensordot", axes_a, a.ndim(), false);
  const std::vector<int64_t> sum_b = detail::NormalizeAxes("tensordot", axes_b, b.ndim(), false);
  int64_t k = 1;
  for (size_t i = 0; i < sum_a.size(); ++i) {
    if (a.shape()[sum_a[i]] != b.shape()[sum_b[i]]) {
      detail::ThrowOpError(
          "tensordot",
          absl::StrCat("axis ", sum_a[i], " of a (", a.shape()[sum_a[i]], ") does not match axis ",
                       sum_b[i], " of b (", b.shape()[sum_b[i]], ")."));
    }
    k *= a.shape()[sum_a[i]];
  }
  auto free_axes = [](int rank, const std::vector<int64_t>& summed) {
    std::vector<int> free;
    for (int d = 0; d < rank; ++d) {
      if (std::find(summed.begin(), summed.end(), d) == summed.end()) free.push_back(d);
    }
    return free;
  };
  std::vector<int> order_a = free_axes(a.ndim(), sum_a);
  const std::vector<int> free_b = free_axes(b.ndim(), sum_b);
  Shape shape;
  int64_t m = 1, n = 1;
  for (int d : order_a) {
    shape.push_back(a.shape()[d]);
    m *= a.shape()[d];
  }
  for (int d : free_b) {
    shape.push_back(b.shape()[d]);
    n *= b.shape()[d];
  }
  order_a.insert(order_a.end(), sum_a.begin(), sum_a.end());
  std::vector<int> order_b(sum_b.begin(), sum_b.end());
  order_b.insert(order_b.end(), free_b.begin(), free_b.end());
  const Array left = reshape(transpose(a, order_a), {m, k});
  const Array right = reshape(transpose(b, order_b), {k, n});
  return reshape(matmul(left, right), shape);
}

Array tensordot(const Array& a, const Array& b, int axes) {
  if (axes < 0 || axes > a.ndim() || axes > b.ndim()) {
    detail::ThrowOpError("tensordot", absl::StrCat("cannot sum ", axes, " axes of arrays of rank ",
                                                   a.ndim(), " and ", b.ndim(), "."));
  }
  std::vector<int> axes_a, axes_b;
  for (int i = 0; i < axes; ++i) {
    axes_a.push_back(a.ndim() - axes + i);
    axes_b.push_back(i);
  }
  return tensordot(a, b, axes_a, axes_b);
}

Array inner(const Array& a, const Array& b) {
  if (a.ndim() == 0 || b.ndim() == 0) return a * b;  // as NumPy
  return tensordot(a, b, {-1}, {-1});
}

Array outer(const Array& a, const Array& b) { return reshape(a, {-1, 1}) * reshape(b, {1, -1}); }

}  // namespace ferry
