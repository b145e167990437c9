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

}  // namespace ferry::detail

namespace ferry::linalg {
namespace {

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

}  // namespace

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

}  // namespace ferry::linalg
