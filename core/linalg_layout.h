#ifndef FERRY_CORE_LINALG_LAYOUT_H_
#define FERRY_CORE_LINALG_LAYOUT_H_

// The factorizations with several results (qr, svd, eigh) give one array whose last axis
// holds each matrix's results back to back, row-major; every backend writes and the client
// reads them through these offsets.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <utility>
#include <vector>

namespace ferry::core {

// One result of a factorization: `rows` x `cols` elements (a vector has rows == 1) starting
// `offset` elements into a matrix's packed results.
struct LinalgPart {
  int64_t offset, rows, cols;
};

// The parts of one matrix's results, in order, and their total size.
struct LinalgLayout {
  std::vector<LinalgPart> parts;
  int64_t size = 0;
};

inline LinalgLayout MakeLinalgLayout(std::initializer_list<std::pair<int64_t, int64_t>> shapes) {
  LinalgLayout layout;
  for (const auto& [rows, cols] : shapes) {
    layout.parts.push_back({layout.size, rows, cols});
    layout.size += rows * cols;
  }
  return layout;
}

// qr of an m x n matrix: Q (m x k) then R (k x n), k = min(m, n) (NumPy's "reduced").
inline LinalgLayout QrLayout(int64_t m, int64_t n) {
  const int64_t k = std::min(m, n);
  return MakeLinalgLayout({{m, k}, {k, n}});
}

// svd of an m x n matrix: U (m x m), S (k, descending), Vt (n x n); S alone without
// compute_uv.
inline LinalgLayout SvdLayout(int64_t m, int64_t n, bool compute_uv) {
  const int64_t k = std::min(m, n);
  if (!compute_uv) return MakeLinalgLayout({{1, k}});
  return MakeLinalgLayout({{m, m}, {1, k}, {n, n}});
}

// eigh of an n x n symmetric matrix: the eigenvalues (n, ascending), then the eigenvectors
// as the columns of an n x n matrix; the eigenvalues alone without compute_vectors.
inline LinalgLayout EighLayout(int64_t n, bool compute_vectors) {
  if (!compute_vectors) return MakeLinalgLayout({{1, n}});
  return MakeLinalgLayout({{1, n}, {n, n}});
}

// lu of an m x n matrix (a = P L U, partial pivoting): L (unit diagonal, not stored) and U
// together as LAPACK's m x n LU, then its k pivots (row i was swapped with row pivots[i],
// 0-based), then MLX's permutation (m): row j of a is row perm[j] of L U. Indices are
// stored as exact floating values.
inline LinalgLayout LuLayout(int64_t m, int64_t n) {
  return MakeLinalgLayout({{m, n}, {1, std::min(m, n)}, {1, m}});
}

}  // namespace ferry::core

#endif  // FERRY_CORE_LINALG_LAYOUT_H_
