// Factorizations and solves of (batches of) matrices: the last two axes are the matrix.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/linalg_layout.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

// A floating array of rank >= 2; square when asked.
absl::Status CheckMatrices(const char* op, const char* name, const TensorType& a, bool square) {
  const size_t rank = a.shape.size();
  if (!IsFloating(a.dtype) || rank < 2 || (square && a.shape[rank - 1] != a.shape[rank - 2])) {
    return OpError(op, absl::StrCat(name, " must be a floating array of ",
                                    square ? "square matrices" : "matrices", " (rank >= 2), got ",
                                    DTypeName(a.dtype), " ", ShapeToString(a.shape)));
  }
  return absl::OkStatus();
}

// The shape with the last axis (the two matrix axes) replaced by `size`.
Shape PackedShape(const Shape& matrices, int64_t size) {
  Shape out(matrices.begin(), matrices.end() - 2);
  out.push_back(size);
  return out;
}

absl::StatusOr<TensorType> InferCholesky(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  if (absl::StatusOr<bool> upper = GetFlag("cholesky", attrs, "upper"); !upper.ok()) {
    return upper.status();
  }
  if (absl::Status s = CheckMatrices("cholesky", "a", inputs[0], true); !s.ok()) return s;
  return inputs[0];
}

// solve and solve_triangular: a (..., n, n) and b (..., n, k) with the same batch.
template <bool kTriangular>
absl::StatusOr<TensorType> InferSolve(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  const char* op = kTriangular ? "solve_triangular" : "solve";
  if (kTriangular) {
    if (absl::StatusOr<bool> upper = GetFlag(op, attrs, "upper"); !upper.ok()) {
      return upper.status();
    }
  }
  const TensorType& a = inputs[0];
  const TensorType& b = inputs[1];
  if (absl::Status s = CheckMatrices(op, "a", a, true); !s.ok()) return s;
  if (absl::Status s = CheckMatrices(op, "b", b, false); !s.ok()) return s;
  const size_t rank = a.shape.size();
  if (b.shape.size() != rank || !std::equal(a.shape.begin(), a.shape.end() - 1, b.shape.begin())) {
    return OpError(op, absl::StrCat("b must have a's batch and ", a.shape[rank - 1], " rows (",
                                    ShapeToString(a.shape), "), got ", ShapeToString(b.shape)));
  }
  return TensorType{PromoteTypes(a.dtype, b.dtype), b.shape};
}

absl::StatusOr<TensorType> InferQr(absl::Span<const TensorType> inputs, const Attrs&) {
  const TensorType& a = inputs[0];
  if (absl::Status s = CheckMatrices("qr", "a", a, false); !s.ok()) return s;
  const size_t rank = a.shape.size();
  return TensorType{a.dtype,
                    PackedShape(a.shape, QrLayout(a.shape[rank - 2], a.shape[rank - 1]).size)};
}

absl::StatusOr<TensorType> InferSvd(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<bool> compute_uv = GetFlag("svd", attrs, "compute_uv");
  if (!compute_uv.ok()) return compute_uv.status();
  const TensorType& a = inputs[0];
  if (absl::Status s = CheckMatrices("svd", "a", a, false); !s.ok()) return s;
  const size_t rank = a.shape.size();
  return TensorType{
      a.dtype,
      PackedShape(a.shape, SvdLayout(a.shape[rank - 2], a.shape[rank - 1], *compute_uv).size)};
}

absl::StatusOr<TensorType> InferEigh(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<bool> upper = GetFlag("eigh", attrs, "upper");
  if (!upper.ok()) return upper.status();
  absl::StatusOr<bool> compute_vectors = GetFlag("eigh", attrs, "compute_vectors");
  if (!compute_vectors.ok()) return compute_vectors.status();
  const TensorType& a = inputs[0];
  if (absl::Status s = CheckMatrices("eigh", "a", a, true); !s.ok()) return s;
  return TensorType{a.dtype,
                    PackedShape(a.shape, EighLayout(a.shape.back(), *compute_vectors).size)};
}

// A general real matrix's eigenvalues are complex (conjugate pairs), and so its eigenvectors.
absl::StatusOr<TensorType> InferEig(absl::Span<const TensorType> inputs, const Attrs& attrs) {
  absl::StatusOr<bool> compute_vectors = GetFlag("eig", attrs, "compute_vectors");
  if (!compute_vectors.ok()) return compute_vectors.status();
  const TensorType& a = inputs[0];
  if (absl::Status s = CheckMatrices("eig", "a", a, true); !s.ok()) return s;
  return TensorType{DType::kComplex64,
                    PackedShape(a.shape, EighLayout(a.shape.back(), *compute_vectors).size)};
}

// Pivots and the permutation are indices, exact in float32 and float64 but not in 16 bits:
// every dtype but float64 gives float32.
absl::StatusOr<TensorType> InferLu(absl::Span<const TensorType> inputs, const Attrs&) {
  const TensorType& a = inputs[0];
  if (absl::Status s = CheckMatrices("lu", "a", a, false); !s.ok()) return s;
  const size_t rank = a.shape.size();
  return TensorType{a.dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32,
                    PackedShape(a.shape, LuLayout(a.shape[rank - 2], a.shape[rank - 1]).size)};
}

}  // namespace

void RegisterLinalgOps(OpTable& table) {
  table.push_back({"cholesky", 1, 1, &InferCholesky, {"upper"}});
  table.push_back({"solve", 2, 2, &InferSolve<false>, {}});
  table.push_back({"solve_triangular", 2, 2, &InferSolve<true>, {"upper"}});
  table.push_back({"qr", 1, 1, &InferQr, {}});
  table.push_back({"svd", 1, 1, &InferSvd, {"compute_uv"}});
  table.push_back({"eigh", 1, 1, &InferEigh, {"compute_vectors", "upper"}});
  table.push_back({"lu", 1, 1, &InferLu, {}});
  table.push_back({"eig", 1, 1, &InferEig, {"compute_vectors"}});
}

}  // namespace ferry::core::ops_internal
