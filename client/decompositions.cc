// Matrix decompositions (ops.h, namespace linalg): one core op each; qr, svd and eigh give
// their results packed on the last axis (core/linalg_layout.h), unpacked here by slices.

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/linalg_layout.h"
#include "core/shape.h"

namespace ferry::detail {

Array UnpackLinalgPart(const Array& packed, const core::LinalgLayout& layout, int index,
                       bool vector) {
  const core::LinalgPart& part = layout.parts[index];
  Shape start(packed.ndim(), 0), stop = packed.shape();
  start.back() = part.offset;
  stop.back() = part.offset + part.rows * part.cols;
  Shape shape(packed.shape().begin(), packed.shape().end() - 1);
  if (!vector) shape.push_back(part.rows);
  shape.push_back(part.cols);
  return reshape(slice(packed, start, stop), shape);
}

Array LeadingColumns(const Array& a, int64_t count) {
  Shape stop = a.shape();
  stop.back() = count;
  return slice(a, Shape(a.ndim(), 0), stop);
}

Array LeadingRows(const Array& a, int64_t count) {
  Shape stop = a.shape();
  stop[stop.size() - 2] = count;
  return slice(a, Shape(a.ndim(), 0), stop);
}

}  // namespace ferry::detail

namespace ferry::linalg {
namespace {

using detail::LeadingColumns;
using detail::LeadingRows;
using detail::UnpackLinalgPart;

// The last two dims of a matrix batch, checked: rank >= 2 (and square when asked).
std::pair<int64_t, int64_t> MatrixDims(const char* op, const Array& a, bool square) {
  if (a.ndim() < 2 || (square && a.shape()[a.ndim() - 1] != a.shape()[a.ndim() - 2])) {
    detail::ThrowOpError(op, absl::StrCat("needs ", square ? "square matrices" : "matrices",
                                          " (an array of rank >= 2), got shape ",
                                          core::ShapeToString(a.shape()), "."));
  }
  return {a.shape()[a.ndim() - 2], a.shape()[a.ndim() - 1]};
}

// "L" or "U": whether eigh reads the upper triangle.
bool ReadsUpper(const char* op, const std::string& uplo) {
  if (uplo != "L" && uplo != "U") {
    detail::ThrowOpError(op, absl::StrCat("UPLO must be \"L\" or \"U\", got \"", uplo, "\"."));
  }
  return uplo == "U";
}

// a's LU factorization packed (core/linalg_layout.h), in float32 or float64.
Array PackedLu(const char* op, const Array& a, bool square) {
  MatrixDims(op, a, square);
  return detail::MakeOp("lu", {detail::AsFloating(a)}, {});
}

// The diagonal of U and the sign of the row permutation (+1 or -1, in U's dtype).
std::pair<Array, Array> DiagonalAndPermutationSign(const Array& a, const char* op) {
  const Array packed = PackedLu(op, a, true);
  const int64_t n = a.shape().back();
  const core::LinalgLayout layout = core::LuLayout(n, n);
  const Array u_diagonal = diagonal(UnpackLinalgPart(packed, layout, 0, false), 0, -2, -1);
  const Array pivots = UnpackLinalgPart(packed, layout, 1, true);
  const Array swaps =
      sum(astype(pivots != arange(static_cast<double>(n), pivots.dtype(), a.device()), int32), -1);
  return {u_diagonal, astype(1 - (swaps % 2) * 2, packed.dtype())};
}

}  // namespace

std::vector<Array> lu(const Array& a) {
  const Array packed = PackedLu("lu", a, false);
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape().back(), k = std::min(m, n);
  const core::LinalgLayout layout = core::LuLayout(m, n);
  const Array factors = UnpackLinalgPart(packed, layout, 0, false);
  const Dtype dtype = detail::AsFloating(a).dtype();
  const Array l = tril(LeadingColumns(factors, k), -1) + eye(m, k, 0, factors.dtype(), a.device());
  return {astype(UnpackLinalgPart(packed, layout, 2, true), uint32), astype(l, dtype),
          astype(triu(LeadingRows(factors, k)), dtype)};
}

std::pair<Array, Array> lu_factor(const Array& a) {
  const Array packed = PackedLu("lu_factor", a, false);
  const core::LinalgLayout layout = core::LuLayout(a.shape()[a.ndim() - 2], a.shape().back());
  return {astype(UnpackLinalgPart(packed, layout, 0, false), detail::AsFloating(a).dtype()),
          astype(UnpackLinalgPart(packed, layout, 1, true), uint32)};
}

Array det(const Array& a) {
  const auto [u_diagonal, sign] = DiagonalAndPermutationSign(a, "det");
  return astype(prod(u_diagonal, -1) * sign, detail::AsFloating(a).dtype());
}

std::pair<Array, Array> slogdet(const Array& a) {
  const auto [u_diagonal, sign] = DiagonalAndPermutationSign(a, "slogdet");
  const Dtype dtype = detail::AsFloating(a).dtype();
  return {astype(prod(ferry::sign(u_diagonal), -1) * sign, dtype),
          astype(sum(log(abs(u_diagonal)), -1), dtype)};
}

Array cholesky(const Array& a, bool upper) {
  MatrixDims("cholesky", a, true);
  return detail::MakeOp("cholesky", {detail::AsFloating(a)}, {{"upper", int64_t{upper}}});
}

std::pair<Array, Array> qr(const Array& a) {
  const auto [m, n] = MatrixDims("qr", a, false);
  const Array packed = detail::MakeOp("qr", {detail::AsFloating(a)}, {});
  const core::LinalgLayout layout = core::QrLayout(m, n);
  return {UnpackLinalgPart(packed, layout, 0, false), UnpackLinalgPart(packed, layout, 1, false)};
}

std::vector<Array> svd(const Array& a, bool compute_uv) {
  const auto [m, n] = MatrixDims("svd", a, false);
  const Array packed =
      detail::MakeOp("svd", {detail::AsFloating(a)}, {{"compute_uv", int64_t{compute_uv}}});
  const core::LinalgLayout layout = core::SvdLayout(m, n, compute_uv);
  if (!compute_uv) return {UnpackLinalgPart(packed, layout, 0, true)};
  return {UnpackLinalgPart(packed, layout, 0, false), UnpackLinalgPart(packed, layout, 1, true),
          UnpackLinalgPart(packed, layout, 2, false)};
}

std::pair<Array, Array> eigh(const Array& a, const std::string& uplo) {
  const int64_t n = MatrixDims("eigh", a, true).first;
  const Array packed = detail::MakeOp(
      "eigh", {detail::AsFloating(a)},
      {{"upper", int64_t{ReadsUpper("eigh", uplo)}}, {"compute_vectors", int64_t{1}}});
  const core::LinalgLayout layout = core::EighLayout(n, true);
  return {UnpackLinalgPart(packed, layout, 0, true), UnpackLinalgPart(packed, layout, 1, false)};
}

Array eigvalsh(const Array& a, const std::string& uplo) {
  MatrixDims("eigvalsh", a, true);
  return detail::MakeOp(
      "eigh", {detail::AsFloating(a)},
      {{"upper", int64_t{ReadsUpper("eigvalsh", uplo)}}, {"compute_vectors", int64_t{0}}});
}

std::pair<Array, Array> eig(const Array& a) {
  const int64_t n = MatrixDims("eig", a, true).first;
  const Array packed =
      detail::MakeOp("eig", {detail::AsFloating(a)}, {{"compute_vectors", int64_t{1}}});
  const core::LinalgLayout layout = core::EighLayout(n, true);
  return {UnpackLinalgPart(packed, layout, 0, true), UnpackLinalgPart(packed, layout, 1, false)};
}

Array eigvals(const Array& a) {
  MatrixDims("eigvals", a, true);
  return detail::MakeOp("eig", {detail::AsFloating(a)}, {{"compute_vectors", int64_t{0}}});
}

}  // namespace ferry::linalg
