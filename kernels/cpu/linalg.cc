// cholesky, solve, solve_triangular, qr, svd, eigh, eig and lu through OpenBLAS's LAPACK, one
// matrix of the batch at a time, in float32 (float64 for float64) as matmul. LAPACK is
// column-major: a row-major matrix is its transpose to it, which the calls below use where they
// can.

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/linalg_layout.h"
#include "kernels/cpu/blas_operands.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/lapack.h"
#include "kernels/cpu/parallel_rows.h"

namespace ferry::kernels::cpu {
namespace {

// dst (cols x rows) = src (rows x cols)^T, both dense row-major.
template <typename F>
void TransposeInto(const F* src, int64_t rows, int64_t cols, F* dst) {
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) dst[j * rows + i] = src[i * cols + j];
  }
}

template <typename F>
void SetIdentity(F* a, int64_t n) {
  std::fill(a, a + n * n, F{0});
  for (int64_t i = 0; i < n; ++i) a[i * n + i] = F{1};
}

// LAPACK's SVD can loop forever on an infinity (and its eigensolvers are not promised to do
// better), so those ops refuse non-finite input first, as PyTorch's do. Reads the triangle a
// matrix op reads: all of it, or (triangle -1 / 1) the lower / upper one.
template <typename F>
bool AllFinite(const F* a, int64_t rows, int64_t cols, int triangle) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t begin = triangle == 1 ? i : 0, end = triangle == -1 ? i + 1 : cols;
    for (int64_t j = begin; j < end; ++j) {
      if (!std::isfinite(a[i * cols + j])) return false;
    }
  }
  return true;
}

// LAPACK's workspace query answer as a count.
template <typename F>
int WorkspaceSize(F answer) {
  return std::max(1, static_cast<int>(answer));
}

// Runs `factor(x, y)` with x and y one dtype (see WithBlasOperands), and returns its status.
template <typename Factor>
absl::Status WithOperand(absl::string_view op, const Tensor& a, const Tensor& out,
                         Factor&& factor) {
  absl::Status status;
  // The second operand is a again: a converted copy only for 16-bit inputs, which are rare.
  absl::Status operands = WithBlasOperands(
      op, a, a, out, [&](const auto* x, const auto*, auto* y) { status = factor(x, y); });
  return operands.ok() ? status : operands;
}

// A batch of small matrices goes to all the cores, a run of matrices each with workspace of
// its own: OpenBLAS threads a large matrix's LAPACK call itself, not a small one's, and a
// loop of small ones is bound by one core. Each matrix is the same LAPACK call as in a plain
// loop, so the results are the same, and an error names the first matrix that fails.
// At least kWorkPerThread flops (about n^3 a matrix) a thread; none above kParallelOrder,
// where OpenBLAS may start threading a call's products itself.
constexpr int64_t kWorkPerThread = int64_t{1} << 18;
constexpr int64_t kParallelOrder = 32;

template <typename Fn>
absl::Status ForEachMatrixRun(int64_t count, int64_t order, Fn&& fn) {
  const int64_t per_thread =
      order > kParallelOrder
          ? std::max<int64_t>(count, 1)
          : std::max<int64_t>(1, kWorkPerThread / std::max<int64_t>(order * order * order, 1));
  return ForRowsInParallelUntilFailure(count, per_thread, std::forward<Fn>(fn));
}

absl::Status Cholesky(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<int64_t> upper = GetAttr<int64_t>(node, "upper");
  if (!upper.ok()) return upper.status();
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, inputs[0].shape());
  if (!batch.ok()) return batch.status();
  const MatrixBatch& m = *batch;
  const int n = static_cast<int>(m.rows);
  return WithOperand(node.op, inputs[0], out, [&](const auto* x, auto* y) -> absl::Status {
    std::memcpy(y, x, static_cast<size_t>(m.count * n * n) * sizeof(*x));
    return ForEachMatrixRun(m.count, n, [&](int64_t begin, int64_t end) -> absl::Status {
      for (int64_t b = begin; b < end; ++b) {
        auto* l = y + b * n * n;
        // Row-major lower is column-major upper.
        const int info = lapack::potrf(*upper ? 'L' : 'U', n, l, std::max(n, 1));
        if (info > 0) {
          return MatrixError(node.op, b, m.count,
                             absl::StrCat("is not positive definite (its leading minor of order ",
                                          info, " is not)"));
        }
        for (int i = 0; i < n; ++i) {  // the other triangle
          auto* row = l + i * n;
          *upper ? std::fill(row, row + i, 0) : std::fill(row + i + 1, row + n, 0);
        }
      }
      return absl::OkStatus();
    });
  });
}

absl::Status Solve(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, out.shape());
  if (!batch.ok()) return batch.status();
  const MatrixBatch& m = *batch;
  const int n = static_cast<int>(m.rows), k = static_cast<int>(m.cols);
  absl::Status status;
  absl::Status operands = WithBlasOperands(
      node.op, inputs[0], inputs[1], out, [&](const auto* a, const auto* b, auto* x) {
        using F = std::remove_const_t<std::remove_pointer_t<decltype(a)>>;
        status = ForEachMatrixRun(m.count, n, [&](int64_t begin, int64_t end) -> absl::Status {
          std::vector<F> lu(static_cast<size_t>(n) * n), rhs(static_cast<size_t>(n) * k);
          std::vector<int> pivots(static_cast<size_t>(n));
          for (int64_t i = begin; i < end; ++i) {
            // Row-major a is column-major a^T: factor a^T and solve with its transpose.
            std::copy(a + i * n * n, a + (i + 1) * n * n, lu.begin());
            if (const int info = lapack::getrf(n, n, lu.data(), std::max(n, 1), pivots.data());
                info > 0) {
              return MatrixError(node.op, i, m.count,
                                 absl::StrCat("is singular (U[", info - 1, ", ", info - 1,
                                              "] of its LU factorization is zero)"));
            }
            if (k == 0 || n == 0) continue;
            TransposeInto(b + i * n * k, n, k, rhs.data());
            lapack::getrs('T', n, k, lu.data(), n, pivots.data(), rhs.data(), n);
            TransposeInto(rhs.data(), k, n, x + i * n * k);
          }
          return absl::OkStatus();
        });
      });
  return operands.ok() ? status : operands;
}

void Trsm(bool upper, int n, int k, const float* a, float* b) {
  cblas_strsm(CblasRowMajor, CblasLeft, upper ? CblasUpper : CblasLower, CblasNoTrans, CblasNonUnit,
              n, k, 1.0f, a, std::max(n, 1), b, std::max(k, 1));
}
void Trsm(bool upper, int n, int k, const double* a, double* b) {
  cblas_dtrsm(CblasRowMajor, CblasLeft, upper ? CblasUpper : CblasLower, CblasNoTrans, CblasNonUnit,
              n, k, 1.0, a, std::max(n, 1), b, std::max(k, 1));
}

absl::Status SolveTriangular(const core::Node& node, absl::Span<const Tensor> inputs,
                             const Tensor& out) {
  absl::StatusOr<int64_t> upper = GetAttr<int64_t>(node, "upper");
  if (!upper.ok()) return upper.status();
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, out.shape());
  if (!batch.ok()) return batch.status();
  const MatrixBatch& m = *batch;
  const int n = static_cast<int>(m.rows), k = static_cast<int>(m.cols);
  absl::Status status;
  absl::Status operands = WithBlasOperands(
      node.op, inputs[0], inputs[1], out, [&](const auto* a, const auto* b, auto* x) {
        std::copy(b, b + m.count * n * k, x);
        status = ForEachMatrixRun(m.count, n, [&](int64_t begin, int64_t end) -> absl::Status {
          for (int64_t i = begin; i < end; ++i) {
            const auto* t = a + i * n * n;
            for (int d = 0; d < n; ++d) {
              if (t[d * n + d] == 0) {
                return MatrixError(
                    node.op, i, m.count,
                    absl::StrCat("is singular (its diagonal element ", d, " is zero)"));
              }
            }
            if (k > 0) Trsm(*upper != 0, n, k, t, x + i * n * k);
          }
          return absl::OkStatus();
        });
      });
  return operands.ok() ? status : operands;
}

absl::Status Qr(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, inputs[0].shape());
  if (!batch.ok()) return batch.status();
  const MatrixBatch& m = *batch;
  const int rows = static_cast<int>(m.rows), cols = static_cast<int>(m.cols);
  const int k = std::min(rows, cols);
  const core::LinalgLayout layout = core::QrLayout(rows, cols);
  return WithOperand(node.op, inputs[0], out, [&](const auto* x, auto* y) -> absl::Status {
    using F = std::remove_const_t<std::remove_pointer_t<decltype(x)>>;
    if (k == 0) return absl::OkStatus();  // Q and R are empty
    const int lda = rows;
    F query_qr = 0, query_q = 0, unused = 0;
    lapack::geqrf(rows, cols, &unused, lda, &unused, &query_qr, -1);
    lapack::orgqr(rows, k, k, &unused, lda, &unused, &query_q, -1);
    const size_t work_size = static_cast<size_t>(WorkspaceSize(std::max(query_qr, query_q)));
    return ForEachMatrixRun(m.count, std::max(rows, cols), [&](int64_t begin, int64_t end) {
      std::vector<F> a(static_cast<size_t>(rows) * cols), tau(static_cast<size_t>(k));
      std::vector<F> work(work_size);
      for (int64_t b = begin; b < end; ++b) {
        TransposeInto(x + b * rows * cols, rows, cols, a.data());  // column-major a
        lapack::geqrf(rows, cols, a.data(), lda, tau.data(), work.data(),
                      static_cast<int>(work.size()));
        F* q = y + b * layout.size + layout.parts[0].offset;
        F* r = y + b * layout.size + layout.parts[1].offset;
        for (int i = 0; i < k; ++i) {
          for (int j = 0; j < cols; ++j) r[i * cols + j] = j < i ? F{0} : a[j * lda + i];
        }
        lapack::orgqr(rows, k, k, a.data(), lda, tau.data(), work.data(),
                      static_cast<int>(work.size()));
        TransposeInto(a.data(), k, rows, q);  // the first k columns, row-major
      }
      return absl::OkStatus();
    });
  });
}

absl::Status Svd(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<int64_t> compute_uv = GetAttr<int64_t>(node, "compute_uv");
  if (!compute_uv.ok()) return compute_uv.status();
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, inputs[0].shape());
  if (!batch.ok()) return batch.status();
  const MatrixBatch& m = *batch;
  const int rows = static_cast<int>(m.rows), cols = static_cast<int>(m.cols);
  const int k = std::min(rows, cols);
  const core::LinalgLayout layout = core::SvdLayout(rows, cols, *compute_uv != 0);
  return WithOperand(node.op, inputs[0], out, [&](const auto* x, auto* y) -> absl::Status {
    using F = std::remove_const_t<std::remove_pointer_t<decltype(x)>>;
    // Row-major a is column-major a^T = V S U^T: LAPACK's U is our V (its column-major
    // layout our Vt, row-major) and its Vt our U. No copies beyond the one gesdd overwrites.
    const char jobz = *compute_uv ? 'A' : 'N';
    const int lda = std::max(cols, 1);
    F query = 0, unused = 0;
    if (k > 0) {
      std::vector<int> iwork(static_cast<size_t>(8 * k));
      lapack::gesdd(jobz, cols, rows, &unused, lda, &unused, &unused, lda, &unused,
                    std::max(rows, 1), &query, -1, iwork.data());
    }
    const size_t work_size = static_cast<size_t>(WorkspaceSize(query));
    return ForEachMatrixRun(
        m.count, std::max(rows, cols), [&](int64_t begin, int64_t end) -> absl::Status {
          std::vector<F> a(static_cast<size_t>(rows) * cols), dummy(1), work(work_size);
          std::vector<int> iwork(static_cast<size_t>(8 * std::max(k, 1)));
          for (int64_t b = begin; b < end; ++b) {
            F* packed = y + b * layout.size;
            F* u = *compute_uv ? packed + layout.parts[0].offset : dummy.data();
            F* s = packed + layout.parts[*compute_uv ? 1 : 0].offset;
            F* vt = *compute_uv ? packed + layout.parts[2].offset : dummy.data();
            if (k == 0) {  // as NumPy: identities around no singular values
              if (*compute_uv) {
                SetIdentity(u, rows);
                SetIdentity(vt, cols);
              }
              continue;
            }
            if (!AllFinite(x + b * rows * cols, rows, cols, 0)) {
              return MatrixError(node.op, b, m.count, kNonFiniteMatrix);
            }
            std::copy(x + b * rows * cols, x + (b + 1) * rows * cols, a.begin());
            const int info =
                lapack::gesdd(jobz, cols, rows, a.data(), lda, s, vt, lda, u, std::max(rows, 1),
                              work.data(), static_cast<int>(work.size()), iwork.data());
            if (info > 0) return MatrixError(node.op, b, m.count, "did not converge");
          }
          return absl::OkStatus();
        });
  });
}

absl::Status Eigh(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<int64_t> upper = GetAttr<int64_t>(node, "upper");
  if (!upper.ok()) return upper.status();
  absl::StatusOr<int64_t> vectors = GetAttr<int64_t>(node, "compute_vectors");
  if (!vectors.ok()) return vectors.status();
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, inputs[0].shape());
  if (!batch.ok()) return batch.status();
  const MatrixBatch& m = *batch;
  const int n = static_cast<int>(m.rows);
  const core::LinalgLayout layout = core::EighLayout(n, *vectors != 0);
  return WithOperand(node.op, inputs[0], out, [&](const auto* x, auto* y) -> absl::Status {
    using F = std::remove_const_t<std::remove_pointer_t<decltype(x)>>;
    if (n == 0) return absl::OkStatus();
    // Row-major a is column-major a^T = a with the triangles swapped.
    const char jobz = *vectors ? 'V' : 'N', uplo = *upper ? 'L' : 'U';
    F query = 0, unused = 0;
    int iquery = 0;
    lapack::syevd(jobz, uplo, n, &unused, n, &unused, &query, -1, &iquery, -1);
    const size_t work_size = static_cast<size_t>(WorkspaceSize(query));
    const size_t iwork_size = static_cast<size_t>(std::max(iquery, 1));
    return ForEachMatrixRun(m.count, n, [&](int64_t begin, int64_t end) -> absl::Status {
      std::vector<F> a(static_cast<size_t>(n) * n), work(work_size);
      std::vector<int> iwork(iwork_size);
      for (int64_t b = begin; b < end; ++b) {
        F* packed = y + b * layout.size;
        if (!AllFinite(x + b * n * n, n, n, *upper ? 1 : -1)) {
          return MatrixError(node.op, b, m.count, kNonFiniteMatrix);
        }
        std::copy(x + b * n * n, x + (b + 1) * n * n, a.begin());
        const int info = lapack::syevd(jobz, uplo, n, a.data(), n, packed, work.data(),
                                       static_cast<int>(work.size()), iwork.data(),
                                       static_cast<int>(iwork.size()));
        if (info > 0) return MatrixError(node.op, b, m.count, "did not converge");
        // Column-major eigenvectors are columns; row-major wants them as columns too.
        if (*vectors) TransposeInto(a.data(), n, n, packed + layout.parts[1].offset);
      }
      return absl::OkStatus();
    });
  });
}

// One general matrix's eigenvalues and right eigenvectors by geev, written as complex64. geev
// stores a complex conjugate pair's vectors as two real columns: re then im.
template <typename F>
absl::Status EigOf(const core::Node& node, const F* x, const MatrixBatch& m, int n, bool vectors,
                   Complex64* y) {
  const core::LinalgLayout layout = core::EighLayout(n, vectors);
  if (n == 0) return absl::OkStatus();
  const char jobvr = vectors ? 'V' : 'N';
  F query = 0, unused = 0;
  lapack::geev(jobvr, n, &unused, n, &unused, &unused, &unused, n, &query, -1);
  const size_t work_size = static_cast<size_t>(WorkspaceSize(query));
  return ForEachMatrixRun(m.count, n, [&](int64_t begin, int64_t end) -> absl::Status {
    std::vector<F> a(static_cast<size_t>(n) * n), wr(n), wi(n), vr(vectors ? n * n : 1);
    std::vector<F> work(work_size);
    for (int64_t b = begin; b < end; ++b) {
      if (!AllFinite(x + b * n * n, n, n, 0))
        return MatrixError(node.op, b, m.count, kNonFiniteMatrix);
      TransposeInto(x + b * n * n, n, n, a.data());  // column-major a
      const int info = lapack::geev(jobvr, n, a.data(), n, wr.data(), wi.data(), vr.data(), n,
                                    work.data(), static_cast<int>(work.size()));
      if (info > 0) return MatrixError(node.op, b, m.count, "did not converge");
      Complex64* packed = y + b * layout.size;
      for (int j = 0; j < n; ++j) packed[j] = Complex64(wr[j], wi[j]);
      if (!vectors) continue;
      Complex64* v = packed + layout.parts[1].offset;  // row-major, eigenvectors as columns
      for (int j = 0; j < n; ++j) {
        const F* re = vr.data() + j * n;
        if (wi[j] == 0) {
          for (int i = 0; i < n; ++i) v[i * n + j] = Complex64(re[i], 0);
          continue;
        }
        const F* im = re + n;  // the pair j, j + 1
        for (int i = 0; i < n; ++i) {
          v[i * n + j] = Complex64(re[i], im[i]);
          v[i * n + j + 1] = Complex64(re[i], -im[i]);
        }
        ++j;
      }
    }
    return absl::OkStatus();
  });
}

absl::Status Eig(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<int64_t> vectors = GetAttr<int64_t>(node, "compute_vectors");
  if (!vectors.ok()) return vectors.status();
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, inputs[0].shape());
  if (!batch.ok()) return batch.status();
  const int n = static_cast<int>(batch->rows);
  // In double whatever the dtype, as NumPy: sgeev may return an eigenvector negated
  // (equally valid), and MLX's and NumPy's results are dgeev's.
  HostScratch scratch;
  absl::StatusOr<const void*> converted =
      ElementsAs(node.op, inputs[0], core::DType::kFloat64, scratch);
  if (!converted.ok()) return converted.status();
  const double* x = static_cast<const double*>(*converted);
  return EigOf(node, x, *batch, n, *vectors != 0, out.data<Complex64>());
}

absl::Status Lu(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<MatrixBatch> batch = GetMatrixBatch(node.op, inputs[0].shape());
  if (!batch.ok()) return batch.status();
  const MatrixBatch& m = *batch;
  const int rows = static_cast<int>(m.rows), cols = static_cast<int>(m.cols);
  const int k = std::min(rows, cols);
  const core::LinalgLayout layout = core::LuLayout(rows, cols);
  return WithOperand(node.op, inputs[0], out, [&](const auto* x, auto* y) -> absl::Status {
    using F = std::remove_const_t<std::remove_pointer_t<decltype(x)>>;
    return ForEachMatrixRun(m.count, std::max(rows, cols), [&](int64_t begin, int64_t end) {
      std::vector<F> a(static_cast<size_t>(rows) * cols);
      std::vector<int> pivots(static_cast<size_t>(k)), order(static_cast<size_t>(rows));
      for (int64_t b = begin; b < end; ++b) {
        F* packed = y + b * layout.size;
        // A zero pivot (a singular a) still completes the factorization, as NumPy's and MLX's.
        if (k > 0) {
          TransposeInto(x + b * rows * cols, rows, cols, a.data());  // column-major a
          lapack::getrf(rows, cols, a.data(), std::max(rows, 1), pivots.data());
          TransposeInto(a.data(), cols, rows, packed + layout.parts[0].offset);
        }
        // order[i]: the row of a that row i of L U is; the permutation is its inverse.
        for (int i = 0; i < rows; ++i) order[i] = i;
        for (int i = 0; i < k; ++i) {
          std::swap(order[i], order[pivots[i] - 1]);
          packed[layout.parts[1].offset + i] = static_cast<F>(pivots[i] - 1);
        }
        for (int i = 0; i < rows; ++i)
          packed[layout.parts[2].offset + order[i]] = static_cast<F>(i);
      }
      return absl::OkStatus();
    });
  });
}

}  // namespace

absl::StatusOr<MatrixBatch> GetMatrixBatch(const std::string& op, const core::Shape& shape) {
  const size_t rank = shape.size();
  const MatrixBatch batch{core::NumElements(core::Shape(shape.begin(), shape.end() - 2)),
                          shape[rank - 2], shape[rank - 1]};
  if (batch.rows > INT_MAX / std::max<int64_t>(batch.cols, 1) || batch.cols > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("[", op, "] a ", batch.rows, " x ", batch.cols,
                                                   " matrix exceeds what the solvers can index"));
  }
  return batch;
}

absl::Status MatrixError(const std::string& op, int64_t index, int64_t count,
                         const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "[", op, "] ", count == 1 ? "the matrix" : absl::StrCat("matrix ", index, " of the batch"),
      " ", what));
}

void RegisterLinalgKernels(KernelTable& table) {
  table["cholesky"] = &Cholesky;
  table["solve"] = &Solve;
  table["solve_triangular"] = &SolveTriangular;
  table["qr"] = &Qr;
  table["svd"] = &Svd;
  table["eigh"] = &Eigh;
  table["eig"] = &Eig;
  table["lu"] = &Lu;
}

}  // namespace ferry::kernels::cpu
