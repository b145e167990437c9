// Vector-Jacobian products of the linear algebra ops (PyTorch's and TensorFlow's rules, in
// row-major real form). Ops that read one triangle of a (cholesky, eigh, solve_triangular)
// give a gradient in that triangle only: an element below the diagonal stands for itself and
// its mirror. svd's rule uses the first k = min(m, n) columns of U and rows of Vt, as
// PyTorch's: the rest complete an orthonormal basis that no function of a determines.

#include <algorithm>
#include <string>

#include "client/array_node.h"
#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"
#include "core/linalg_layout.h"

namespace ferry::detail {
namespace {

Array T(const Array& a) { return swapaxes(a, -1, -2); }

// The identity as a bool mask of a's last two (square) axes.
Array Diagonal(const Array& a) { return eye(a.shape().back(), bool_, a.device()); }

// The columns (last axis) or rows (the axis before) of a batch of matrices from `start` on:
// what LeadingColumns and LeadingRows leave.
Array ColumnsFrom(const Array& a, int64_t start) {
  Shape begin(a.ndim(), 0);
  begin.back() = start;
  return slice(a, begin, a.shape());
}
Array RowsFrom(const Array& a, int64_t start) {
  Shape begin(a.ndim(), 0);
  begin[begin.size() - 2] = start;
  return slice(a, begin, a.shape());
}

// The gradient of a function that reads only the lower (upper) triangle of its argument,
// from G, its gradient as a function of a symmetric argument: G + G^T off the diagonal.
Array OneTriangle(const Array& g, bool upper) {
  const Array sum = g + T(g);
  return where(Diagonal(g), g, upper ? triu(sum, 1) : tril(sum, -1));
}

// x / e with e's diagonal taken as 1 and the result's diagonal 0 (for the rules' 1 / (l_j - l_i)).
Array OffDiagonalQuotient(const Array& x, const Array& e) {
  const Array mask = Diagonal(e);
  return where(mask, 0.0, x / where(mask, 1.0, e));
}

VjpResult Solve(const VjpArgs& args) {
  const Array gb = linalg::solve(T(args.inputs[0]), args.cotangent);
  return {-matmul(gb, T(args.output)), gb};
}

VjpResult SolveTriangular(const VjpArgs& args) {
  const bool upper = GetAttr<int64_t>(args.attrs, "upper") != 0;
  const Array gb = linalg::solve_triangular(T(args.inputs[0]), args.cotangent, !upper);
  const Array ga = -matmul(gb, T(args.output));
  return {upper ? triu(ga) : tril(ga), gb};
}

// With a = L L^T: S = L^-T phi(L^T gL) L^-1, phi taking the lower triangle with its
// diagonal halved (Murray 2016); the upper factor is the lower one of a^T, transposed.
VjpResult Cholesky(const VjpArgs& args) {
  const bool upper = GetAttr<int64_t>(args.attrs, "upper") != 0;
  const Array l = upper ? T(args.output) : args.output;
  const Array gl = tril(upper ? T(args.cotangent) : args.cotangent);
  const Array p = matmul(T(l), gl);
  const Array phi = where(Diagonal(p), p * 0.5, tril(p));
  const Array left = linalg::solve_triangular(T(l), phi, true);      // L^-T phi
  const Array s = T(linalg::solve_triangular(T(l), T(left), true));  // (L^-T phi) L^-1
  return {OneTriangle(s, upper)};
}

// a = V diag(w) V^T: G = V (diag(gw) + F o (V^T gV)) V^T, F_ij = 1 / (w_j - w_i) off the
// diagonal.
VjpResult Eigh(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const bool upper = GetAttr<int64_t>(args.attrs, "upper") != 0;
  const bool vectors = GetAttr<int64_t>(args.attrs, "compute_vectors") != 0;
  const int64_t n = a.shape().back();
  const core::LinalgLayout layout = core::EighLayout(n, vectors);
  const Array gw = UnpackLinalgPart(args.cotangent, layout, 0, true);
  const auto [w, v] = vectors ? std::make_pair(UnpackLinalgPart(args.output, layout, 0, true),
                                               UnpackLinalgPart(args.output, layout, 1, false))
                              : linalg::eigh(a, upper ? "U" : "L");
  Array inner = where(Diagonal(a), expand_dims(gw, -1), 0.0);
  if (vectors) {
    const Array gv = UnpackLinalgPart(args.cotangent, layout, 1, false);
    const Array e = expand_dims(w, -2) - expand_dims(w, -1);  // e_ij = w_j - w_i
    inner = inner + OffDiagonalQuotient(matmul(T(v), gv), e);
  }
  return {OneTriangle(matmul(matmul(v, inner), T(v)), upper)};
}

// With U (m, k), V (n, k): gA = U [(skew(U^T gU) / E) S + S (skew(V^T gV) / E) + diag(gS)] V^T
// + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T), E_ij = S_j^2 - S_i^2 (PyTorch's).
VjpResult Svd(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const bool uv = GetAttr<int64_t>(args.attrs, "compute_uv") != 0;
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape().back(), k = std::min(m, n);
  const core::LinalgLayout layout = core::SvdLayout(m, n, uv);
  const Array gs = UnpackLinalgPart(args.cotangent, layout, uv ? 1 : 0, true);
  std::vector<Array> usv;
  if (uv) {
    for (int i = 0; i < 3; ++i) usv.push_back(UnpackLinalgPart(args.output, layout, i, i == 1));
  } else {
    usv = linalg::svd(a, true);
  }
  const Array u = LeadingColumns(usv[0], k);
  const Array& s = usv[1];
  const Array v = T(LeadingRows(usv[2], k));
  const Array s_row = expand_dims(s, -2);  // scales columns
  Array inner = where(eye(k, bool_, a.device()), expand_dims(gs, -1), 0.0);
  if (!uv) return {matmul(matmul(u, inner), T(v))};
  const Array gu = LeadingColumns(UnpackLinalgPart(args.cotangent, layout, 0, false), k);
  const Array gv = T(LeadingRows(UnpackLinalgPart(args.cotangent, layout, 2, false), k));
  const Array s2 = square(s);
  const Array e = expand_dims(s2, -2) - expand_dims(s2, -1);
  const Array utgu = matmul(T(u), gu);
  const Array vtgv = matmul(T(v), gv);
  inner = inner + OffDiagonalQuotient(utgu - T(utgu), e) * s_row +
          T(s_row) * OffDiagonalQuotient(vtgv - T(vtgv), e);
  Array ga = matmul(matmul(u, inner), T(v));
  if (m > k) ga = ga + matmul((gu - matmul(u, utgu)) / s_row, T(v));
  if (n > k) ga = ga + matmul(u, T((gv - matmul(v, vtgv)) / s_row));
  return {ga};
}

// TensorFlow's QrGrad. Square or tall a (k = n): gA = Q (gR + M R^-T) + (gQ - Q Q^T gQ) R^-T
// with M = tril(Q^T gQ - gQ^T Q + R gR^T - gR R^T). Wide a = [X Y], R = [U V]: X takes the
// square rule with gQ + Y gV^T and gU, Y takes Q gV.
Array QrSquareOrTall(const Array& q, const Array& r, const Array& gq, const Array& gr) {
  // x R^-T = (R^-1 x^T)^T.
  auto times_r_inverse_t = [&r](const Array& x) {
    return T(linalg::solve_triangular(r, T(x), true));
  };
  const Array qtgq = matmul(T(q), gq);
  const Array rgr = matmul(r, T(gr));
  const Array m = tril(qtgq - T(qtgq) + rgr - T(rgr));
  return matmul(q, gr + times_r_inverse_t(m)) + times_r_inverse_t(gq - matmul(q, qtgq));
}

VjpResult Qr(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape().back();
  const core::LinalgLayout layout = core::QrLayout(m, n);
  const Array q = UnpackLinalgPart(args.output, layout, 0, false);
  const Array r = UnpackLinalgPart(args.output, layout, 1, false);
  const Array gq = UnpackLinalgPart(args.cotangent, layout, 0, false);
  const Array gr = UnpackLinalgPart(args.cotangent, layout, 1, false);
  if (m >= n) return {QrSquareOrTall(q, r, gq, gr)};
  const Array y = ColumnsFrom(a, m), gv = ColumnsFrom(gr, m);
  const Array gx =
      QrSquareOrTall(q, LeadingColumns(r, m), gq + matmul(y, T(gv)), LeadingColumns(gr, m));
  return {concatenate({gx, matmul(q, gv)}, -1)};
}

// a = P L U with L (m, k) unit lower and U (k, n) upper (PyTorch's rule; gL and gU are the
// parts of LU's cotangent below and on or above the diagonal). Square: gA = P L^-T (tril(L^T
// gL, -1) + triu(gU U^T)) U^-T. Wide (m < n, U = [U1 U2]): gA = P L^-T [tril(L^T gL - gU U^T,
// -1) U1^-T + triu(gU1), gU2]. Tall (m > n, L = [L1; L2]): gA = P [L1^-T triu(gU U^T - L^T gL)
// + tril(gL1, -1); gL2] U^-T. The pivots and the permutation take none.
VjpResult Lu(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const int64_t m = a.shape()[a.ndim() - 2], n = a.shape().back(), k = std::min(m, n);
  const core::LinalgLayout layout = core::LuLayout(m, n);
  const Array factors = UnpackLinalgPart(args.output, layout, 0, false);
  const Array g = UnpackLinalgPart(args.cotangent, layout, 0, false);
  const Array l = tril(LeadingColumns(factors, k), -1) + eye(m, k, 0, factors.dtype(), a.device());
  const Array u = triu(LeadingRows(factors, k));
  const Array gl = tril(LeadingColumns(g, k), -1);
  const Array gu = triu(LeadingRows(g, k));
  // x M^-1 for a triangular M: (M^-T x^T)^T.
  auto right_solve = [](const Array& x, const Array& mat, bool upper) {
    return T(linalg::solve_triangular(T(mat), T(x), !upper));
  };
  auto cotangent = [&]() -> Array {
    if (m == n) {
      const Array phi = tril(matmul(T(l), gl), -1) + triu(matmul(gu, T(u)));
      return right_solve(linalg::solve_triangular(T(l), phi, true), T(u), false);
    }
    if (m < n) {
      const Array u1 = LeadingColumns(u, k);
      const Array inner = right_solve(tril(matmul(T(l), gl) - matmul(gu, T(u)), -1), T(u1), false);
      const Array gu2 = ColumnsFrom(gu, k);
      return linalg::solve_triangular(T(l), concatenate({inner + LeadingColumns(gu, k), gu2}, -1),
                                      true);
    }
    const Array l1 = LeadingRows(l, k);
    const Array inner =
        linalg::solve_triangular(T(l1), triu(matmul(gu, T(u)) - matmul(T(l), gl)), true);
    const Array gl2 = RowsFrom(gl, k);
    return right_solve(concatenate({inner + LeadingRows(gl, k), gl2}, -2), T(u), false);
  };
  const Array x = cotangent();
  // Row j of a is row perm[j] of L U, so its cotangent is row perm[j] of x.
  const Array perm = astype(UnpackLinalgPart(args.output, layout, 2, true), uint32);
  return {take_along_axis(x, broadcast_to(expand_dims(perm, -1), x.shape()), -2)};
}

}  // namespace

void RegisterLinalgVjps(VjpTable& table) {
  table["solve"] = &Solve;
  table["solve_triangular"] = &SolveTriangular;
  table["cholesky"] = &Cholesky;
  table["eigh"] = &Eigh;
  table["svd"] = &Svd;
  table["qr"] = &Qr;
  table["lu"] = &Lu;
}

}  // namespace ferry::detail
