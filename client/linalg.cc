// Linear algebra.

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/error.h"
#include "client/ops.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace ferry {

Array matmul(const Array& a, const Array& b) {
  if (!core::IsComplex(a.dtype()) && !core::IsComplex(b.dtype())) {
    return detail::MakeOp("matmul", {a, b}, {});
  }
  // (ar + i ai)(br + i bi) from four float32 products.
  const Array ar = astype(real(a), float32), ai = astype(imag(a), float32);
  const Array br = astype(real(b), float32), bi = astype(imag(b), float32);
  return complex(matmul(ar, br) - matmul(ai, bi), matmul(ar, bi) + matmul(ai, br));
}

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

Array hadamard_transform(const Array& a, std::optional<float> scale) {
  const int64_t n = a.ndim() == 0 ? 0 : a.shape().back();
  if (n < 1 || (n & (n - 1)) != 0) {
    detail::ThrowOpError("hadamard_transform",
                         absl::StrCat("the last axis must be a power of two long, got shape ",
                                      core::ShapeToString(a.shape()), "."));
  }
  // Sylvester's butterfly: log2(n) rounds of (x0 + x1, x0 - x1) over halves h apart, in
  // float32 for 16-bit floats and integers (float64 stays), rounded once.
  const Dtype compute = a.dtype() == float64 ? float64 : float32;
  Shape rows(a.shape().begin(), a.shape().end() - 1);
  Array x = astype(a, compute);
  for (int64_t h = 1; h < n; h *= 2) {
    Shape halves = rows;
    halves.insert(halves.end(), {n / (2 * h), 2, h});
    const std::vector<Array> pair = split(reshape(x, halves), 2, -2);
    x = reshape(concatenate({pair[0] + pair[1], pair[0] - pair[1]}, -2), a.shape());
  }
  const double factor = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(n));
  return astype(x * factor, core::FloatingResultType(a.dtype()));
}

namespace detail {

Array MatrixIndices(const std::string& op, const char* name, const Array& x,
                    const std::optional<Array>& indices) {
  if (indices.has_value()) {
    if (!core::IsInteger(indices->dtype())) {
      ThrowOpError(op, absl::StrCat(name, " must be integers, got ",
                                    core::DTypeName(indices->dtype()), "."));
    }
    return *indices;
  }
  const Shape batch(x.shape().begin(), x.shape().end() - 2);
  return reshape(arange(static_cast<double>(core::NumElements(batch)), int64, x.device()), batch);
}

Array PickMatrices(const Array& x, const Array& index, const Shape& batch) {
  const Shape matrix(x.shape().end() - 2, x.shape().end());
  return take(reshape(x, {-1, matrix[0], matrix[1]}), reshape(broadcast_to(index, batch), {-1}), 0);
}

Shape IndexBatch(const std::string& op, const Array& lhs, const Array& rhs) {
  absl::StatusOr<Shape> batch = core::BroadcastShapes(lhs.shape(), rhs.shape());
  if (!batch.ok()) {
    ThrowOpError(op, absl::StrCat("the batches ", core::ShapeToString(lhs.shape()), " and ",
                                  core::ShapeToString(rhs.shape()), " do not broadcast."));
  }
  return *batch;
}

}  // namespace detail

Array gather_mm(const Array& a, const Array& b, const std::optional<Array>& lhs_indices,
                const std::optional<Array>& rhs_indices) {
  if (a.ndim() < 2 || b.ndim() < 2 || a.shape().back() != b.shape()[b.ndim() - 2]) {
    detail::ThrowOpError(
        "gather_mm",
        absl::StrCat("needs matrices (..., M, K) and (..., K, N), got ",
                     core::ShapeToString(a.shape()), " and ", core::ShapeToString(b.shape()), "."));
  }
  const Array lhs = detail::MatrixIndices("gather_mm", "lhs_indices", a, lhs_indices);
  const Array rhs = detail::MatrixIndices("gather_mm", "rhs_indices", b, rhs_indices);
  const Shape batch = detail::IndexBatch("gather_mm", lhs, rhs);
  if (core::IsComplex(a.dtype()) || core::IsComplex(b.dtype())) {
    // The kernels multiply real floats; complex takes matmul's four products, on copies.
    Shape out_shape = batch;
    out_shape.insert(out_shape.end(), {a.shape()[a.ndim() - 2], b.shape().back()});
    return reshape(matmul(detail::PickMatrices(a, lhs, batch), detail::PickMatrices(b, rhs, batch)),
                   out_shape);
  }
  return detail::MakeOp("gather_mm", {a, b, broadcast_to(lhs, batch), broadcast_to(rhs, batch)},
                        {});
}

Array segmented_mm(const Array& a, const Array& b, const Array& segments) {
  if (a.ndim() != 2 || b.ndim() != 2 || a.shape()[1] != b.shape()[0] || segments.ndim() < 1 ||
      segments.shape().back() != 2 || !core::IsInteger(segments.dtype())) {
    detail::ThrowOpError(
        "segmented_mm",
        absl::StrCat("needs a (M, K), b (K, N) and integer segments (..., 2), got ",
                     core::ShapeToString(a.shape()), ", ", core::ShapeToString(b.shape()), " and ",
                     core::DTypeName(segments.dtype()), core::ShapeToString(segments.shape()),
                     "."));
  }
  // Each segment [start, end) of the inner axis as a mask over a's columns.
  const Array k = arange(static_cast<double>(a.shape()[1]), int64, a.device());
  Shape lo(segments.ndim(), 0), hi = segments.shape();
  hi.back() = 1;
  const Array first = slice(segments, lo, hi);
  lo.back() = 1;
  hi.back() = 2;
  const Array last = slice(segments, lo, hi);
  const Array inside = logical_and(k >= first, k < last);  // (..., K)
  return matmul(where(expand_dims(inside, -2), a, zeros({}, a.dtype(), a.device())), b);
}

Array block_masked_mm(const Array& a, const Array& b, int block_size,
                      const std::optional<Array>& mask_out, const std::optional<Array>& mask_lhs,
                      const std::optional<Array>& mask_rhs) {
  constexpr char op[] = "block_masked_mm";
  if (block_size < 1) {
    detail::ThrowOpError(op, absl::StrCat("block_size must be positive, got ", block_size, "."));
  }
  if (a.ndim() < 2 || b.ndim() < 2 || a.shape().back() != b.shape()[b.ndim() - 2]) {
    detail::ThrowOpError(op, absl::StrCat("needs matrices (..., M, K) and (..., K, N), got ",
                                          core::ShapeToString(a.shape()), " and ",
                                          core::ShapeToString(b.shape()), "."));
  }
  // A block mask spread to the elements it covers: bool masks zero (even an infinity),
  // others scale.
  auto apply = [&](const Array& x, const std::optional<Array>& mask, const char* name) {
    if (!mask.has_value()) return x;
    const int64_t rows = x.shape()[x.ndim() - 2], cols = x.shape().back();
    const int64_t block_rows = (rows + block_size - 1) / block_size;
    const int64_t block_cols = (cols + block_size - 1) / block_size;
    if (mask->ndim() < 2 || mask->shape()[mask->ndim() - 2] != block_rows ||
        mask->shape().back() != block_cols) {
      detail::ThrowOpError(
          op, absl::StrCat(name, " must end in (", block_rows, ", ", block_cols, ") blocks of ",
                           block_size, ", got shape ", core::ShapeToString(mask->shape()), "."));
    }
    Array spread = repeat(repeat(*mask, block_size, -2), block_size, -1);
    Shape lo(spread.ndim(), 0), hi = spread.shape();
    hi[hi.size() - 2] = rows;
    hi.back() = cols;
    spread = slice(spread, lo, hi);
    if (mask->dtype() == bool_) return where(spread, x, zeros({}, x.dtype(), x.device()));
    return x * spread;
  };
  return apply(matmul(apply(a, mask_lhs, "mask_lhs"), apply(b, mask_rhs, "mask_rhs")), mask_out,
               "mask_out");
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

namespace linalg {
namespace {

// The axes a norm reduces: those given, or every axis of a 1-D or 2-D array.
std::vector<int> NormAxes(const Array& a, const std::optional<std::vector<int>>& axes) {
  if (axes) {
    if (axes->size() != 1 && axes->size() != 2) {
      detail::ThrowOpError(
          "norm", absl::StrCat("takes 1 (vector) or 2 (matrix) axes, got ", axes->size(), "."));
    }
    detail::NormalizeAxes("norm", *axes, a.ndim(), false);  // throws on bad or repeated axes
    return *axes;
  }
  if (a.ndim() != 1 && a.ndim() != 2) {
    detail::ThrowOpError("norm", absl::StrCat("with an order needs axes, or a 1-D or 2-D array; "
                                              "got rank ",
                                              a.ndim(), "."));
  }
  return a.ndim() == 1 ? std::vector<int>{0} : std::vector<int>{0, 1};
}

// The largest (ord 2), smallest (-2) or summed ("nuc") singular values of the matrices on
// axes rows and cols, keeping `keepdims`.
Array SingularValueNorm(const Array& x, int rows, int cols, const std::string& ord, bool keepdims) {
  const int rank = x.ndim();
  rows = rows < 0 ? rows + rank : rows;
  cols = cols < 0 ? cols + rank : cols;
  std::vector<int> order;
  for (int d = 0; d < rank; ++d) {
    if (d != rows && d != cols) order.push_back(d);
  }
  order.push_back(rows);
  order.push_back(cols);
  const Array s = svd(transpose(x, order), false)[0];
  Array norm = ord == "2" ? max(s, -1) : ord == "-2" ? min(s, -1) : sum(s, -1);
  return keepdims ? expand_dims(norm, {std::min(rows, cols), std::max(rows, cols)}) : norm;
}

// Sums |a| along `summed` and then takes the max or min along `other` (the induced 1 and
// inf norms), keeping `keepdims`.
Array SumThenExtreme(const Array& a, int summed, int other, bool largest, bool keepdims) {
  const Array sums = sum(abs(a), summed, true);
  const Array extreme = largest ? max(sums, other, true) : min(sums, other, true);
  return keepdims ? extreme : squeeze(extreme, std::vector<int>{summed, other});
}

}  // namespace

Array norm(const Array& a, const std::optional<std::vector<int>>& axes, bool keepdims) {
  const Array x = detail::AsFloating(a);
  if (!axes) return sqrt(sum(square(x), keepdims));
  NormAxes(a, axes);
  return sqrt(sum(square(x), *axes, keepdims));
}

Array norm(const Array& a, double ord, const std::optional<std::vector<int>>& axes, bool keepdims) {
  const Array x = detail::AsFloating(a);
  const std::vector<int> reduced = NormAxes(a, axes);
  const double inf = std::numeric_limits<double>::infinity();
  if (reduced.size() == 1) {
    const int axis = reduced[0];
    if (ord == inf) return max(abs(x), axis, keepdims);
    if (ord == -inf) return min(abs(x), axis, keepdims);
    if (ord == 0) return astype(sum(x != 0.0, axis, keepdims), x.dtype());
    if (ord == 1) return sum(abs(x), axis, keepdims);
    if (ord == 2) return sqrt(sum(square(x), axis, keepdims));
    return power(sum(power(abs(x), ord), axis, keepdims), 1.0 / ord);
  }
  const int rows = reduced[0], cols = reduced[1];
  if (ord == 1 || ord == -1) return SumThenExtreme(x, rows, cols, ord == 1, keepdims);
  if (ord == inf || ord == -inf) return SumThenExtreme(x, cols, rows, ord == inf, keepdims);
  if (ord == 2 || ord == -2)
    return SingularValueNorm(x, rows, cols, ord == 2 ? "2" : "-2", keepdims);
  detail::ThrowOpError("norm", absl::StrCat("has no matrix norm of order ", ord, "."));
}

Array norm(const Array& a, const std::string& ord, const std::optional<std::vector<int>>& axes,
           bool keepdims) {
  const std::vector<int> reduced = NormAxes(a, axes);
  if (reduced.size() != 2) {
    detail::ThrowOpError("norm", absl::StrCat("order \"", ord,
                                              "\" is a matrix norm; it needs 2 "
                                              "axes."));
  }
  if (ord == "fro") return sqrt(sum(square(detail::AsFloating(a)), reduced, keepdims));
  if (ord == "nuc") {
    return SingularValueNorm(detail::AsFloating(a), reduced[0], reduced[1], ord, keepdims);
  }
  detail::ThrowOpError("norm", absl::StrCat("has no matrix norm \"", ord, "\"."));
}

// a x b along `axis` (each of length 2 or 3; 2-vectors have a zero third component, as
// MLX's and NumPy's), batch axes broadcast; the result has length 3 there.
Array cross(const Array& a, const Array& b, int axis) {
  auto components = [axis](const char* name, const Array& v) {
    const int64_t normalized = detail::NormalizeAxis("cross", axis, v.ndim());
    const int64_t length = v.shape()[normalized];
    if (length != 2 && length != 3) {
      detail::ThrowOpError(
          "cross", absl::StrCat(name, " must have length 2 or 3 along axis ", axis, ", got shape ",
                                core::ShapeToString(v.shape()), "."));
    }
    std::vector<Array> parts;
    for (int64_t i = 0; i < 3; ++i) {
      const Array first = take(v, 0, static_cast<int>(normalized));
      parts.push_back(i == 0       ? first
                      : i < length ? take(v, i, static_cast<int>(normalized))
                                   : zeros(first.shape(), v.dtype(), v.device()));
    }
    return std::make_pair(parts, static_cast<int>(normalized - v.ndim()));  // from the end
  };
  const auto [u, u_axis] = components("a", a);
  const auto [v, v_axis] = components("b", b);
  if (u_axis != v_axis) {
    detail::ThrowOpError(
        "cross",
        absl::StrCat("axis ", axis, " of a ", core::ShapeToString(a.shape()), " and b ",
                     core::ShapeToString(b.shape()), " is not the same axis from the end."));
  }
  const std::vector<Array> result = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                                     u[0] * v[1] - u[1] * v[0]};
  std::vector<Array> expanded;
  for (const Array& c : result) expanded.push_back(expand_dims(c, u_axis));
  return concatenate(expanded, u_axis);
}

}  // namespace linalg
}  // namespace ferry
