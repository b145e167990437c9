// Linear systems and inverses (ops.h, namespace linalg): solve and solve_triangular are core
// ops; the inverses solve against the identity, as LAPACK's drivers do; pinv goes through svd.

#include <algorithm>
#include <limits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace ferry::linalg {
namespace {

// a (..., n, n) and b (..., n, k), or b (n,) as a vector, with their batches broadcast; the
// solution has b's form.
Array SolveOp(const char* op, const Array& a, const Array& b, core::Attrs attrs) {
  if (a.ndim() < 2 || a.shape()[a.ndim() - 1] != a.shape()[a.ndim() - 2]) {
    detail::ThrowOpError(op, absl::StrCat("a must be square matrices (rank >= 2), got shape ",
                                          core::ShapeToString(a.shape()), "."));
  }
  const int64_t n = a.shape().back();
  const bool vector = b.ndim() == 1;
  const Array rhs = vector ? expand_dims(b, 1) : b;
  if (rhs.ndim() < 2 || rhs.shape()[rhs.ndim() - 2] != n) {
    detail::ThrowOpError(
        op, absl::StrCat("b must have ", n, " rows to match a ", core::ShapeToString(a.shape()),
                         ", got shape ", core::ShapeToString(b.shape()), "."));
  }
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2);
  const Shape b_batch(rhs.shape().begin(), rhs.shape().end() - 2);
  absl::StatusOr<Shape> batch = core::BroadcastShapes(a_batch, b_batch);
  if (!batch.ok()) {
    detail::ThrowOpError(
        op, absl::StrCat("the batches of a ", core::ShapeToString(a.shape()), " and b ",
                         core::ShapeToString(b.shape()), " do not broadcast."));
  }
  const int64_t k = rhs.shape().back();
  if (core::NumElements(a_batch) == 1 && core::NumElements(b_batch) > 1) {
    // One matrix for a batch of right-hand sides: factor it once, with the batch's columns
    // side by side (n, batch * k), rather than a copy of it per batch entry.
    const int batch_rank = static_cast<int>(b_batch.size());
    std::vector<int> rows_first = {batch_rank};
    for (int d = 0; d < batch_rank; ++d) rows_first.push_back(d);
    rows_first.push_back(batch_rank + 1);
    const Array columns = reshape(transpose(detail::AsFloating(rhs), rows_first), {n, -1});
    const Array x =
        detail::MakeOp(op, {reshape(detail::AsFloating(a), {n, n}), columns}, std::move(attrs));
    Shape split = {n};
    split.insert(split.end(), b_batch.begin(), b_batch.end());
    split.push_back(k);
    std::vector<int> back;
    for (int d = 1; d <= batch_rank; ++d) back.push_back(d);
    back.insert(back.end(), {0, batch_rank + 1});
    Array result = transpose(reshape(x, split), back);
    // a's own (all 1) batch axes, when it has more than b.
    Shape shape = *batch;
    shape.insert(shape.end(), {n, k});
    result = reshape(result, shape);
    return vector ? squeeze(result, -1) : result;
  }
  Shape a_shape = *batch, b_shape = *batch;
  a_shape.insert(a_shape.end(), {n, n});
  b_shape.insert(b_shape.end(), {n, k});
  const Array x = detail::MakeOp(op,
                                 {broadcast_to(detail::AsFloating(a), a_shape),
                                  broadcast_to(detail::AsFloating(rhs), b_shape)},
                                 std::move(attrs));
  return vector ? squeeze(x, -1) : x;
}

// The identity broadcast to a's shape, in a's floating dtype.
Array IdentityLike(const Array& a) {
  const Array x = detail::AsFloating(a);
  const int64_t n = a.ndim() >= 2 ? a.shape().back() : 0;
  return broadcast_to(eye(n, x.dtype(), a.device()), x.shape());
}

}  // namespace

Array solve(const Array& a, const Array& b) { return SolveOp("solve", a, b, {}); }

Array solve_triangular(const Array& a, const Array& b, bool upper) {
  return SolveOp("solve_triangular", a, b, {{"upper", int64_t{upper}}});
}

Array inv(const Array& a) {
  if (a.ndim() < 2) SolveOp("inv", a, a, {});  // throws the shape error
  return solve(a, IdentityLike(a));
}

Array tri_inv(const Array& a, bool upper) {
  if (a.ndim() < 2) SolveOp("tri_inv", a, a, {});
  return solve_triangular(a, IdentityLike(a), upper);
}

// a = L L^T gives a^-1 = L^-T L^-1; a = U^T U gives U^-1 U^-T.
Array cholesky_inv(const Array& factor, bool upper) {
  const Array t = tri_inv(factor, upper);
  const Array t_transposed = swapaxes(t, -1, -2);
  return upper ? matmul(t, t_transposed) : matmul(t_transposed, t);
}

// V diag(1/s) U^T over the singular values above rtol * max(s), rtol = max(m, n) * eps as
// NumPy's default; the others count as zero.
Array pinv(const Array& a) {
  if (a.ndim() < 2) {
    detail::ThrowOpError("pinv", absl::StrCat("needs matrices (an array of rank >= 2), got shape ",
                                              core::ShapeToString(a.shape()), "."));
  }
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape().back(), k = std::min(m, n);
  const std::vector<Array> usv = svd(a, true);
  const Dtype dtype = usv[1].dtype();
  const double eps = dtype == float64    ? std::numeric_limits<double>::epsilon()
                     : dtype == float16  ? 0x1p-10
                     : dtype == bfloat16 ? 0x1p-7
                                         : std::numeric_limits<float>::epsilon();
  const Array& s = usv[1];
  if (k == 0) return zeros(swapaxes(a, -1, -2).shape(), dtype, a.device());
  const Array cutoff = max(s, -1, true) * (static_cast<double>(std::max(m, n)) * eps);
  const Array inverse_s = where(s > cutoff, 1.0 / s, 0.0);
  // Only the first k columns of U and rows of Vt meet a singular value.
  const Array u = detail::LeadingColumns(usv[0], k);
  const Array vt = detail::LeadingRows(usv[2], k);
  return matmul(swapaxes(vt, -1, -2) * expand_dims(inverse_s, -2), swapaxes(u, -1, -2));
}

}  // namespace ferry::linalg
