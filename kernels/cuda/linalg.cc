// cholesky, solve, solve_triangular, qr, svd, eigh and lu: cuSOLVER (solver.h) one matrix of the
// batch at a time (batches of small matrices in its batched calls, or for qr in a kernel of
// its own), with linalg.cu's kernels around it, as kernels/cpu/linalg.cc does with LAPACK: in
// float32 (float64 for float64), 16-bit inputs converted and the result rounded once.
// cuSOLVER is column-major: a row-major matrix is its transpose to it, which the calls below
// use where they can. Each op reads cuSOLVER's devInfo back once (a stream synchronization)
// to fail a matrix it cannot factor with the CPU's message.

#include <algorithm>
#include <climits>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/linalg_layout.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kernels.h"
#include "kernels/cuda/solver.h"

namespace ferry::kernels::cuda {
namespace {

using core::DType;

using cpu::GetMatrixBatch;
using cpu::MatrixBatch;
using cpu::MatrixError;

// cuSOLVER's float or double function of a pair.
template <typename F, typename S, typename D>
auto Pick(S single, D dbl) {
  if constexpr (std::is_same_v<F, double>) {
    return dbl;
  } else {
    return single;
  }
}

// Runs body(F{}) with F the type `dtype` computes in.
template <typename Body>
absl::Status WithComputeType(DType dtype, Body&& body) {
  if (dtype == DType::kFloat64) return body(double{});
  return body(float{});
}

DType ComputeDType(DType dtype) {
  return dtype == DType::kFloat64 ? DType::kFloat64 : DType::kFloat32;
}

// A batch of small matrices goes to the batched calls (cuSOLVER's potrfBatched, syevjBatched
// and gesvdjBatched, cuBLAS's getrfBatched and getrsBatched), as PyTorch's does: a call per
// matrix is a few kernel launches, for a 4 x 4 matrix nearly all of its time. At most
// kSolverBatch matrices a call (the batch is an int, and the Jacobi calls' workspace grows
// with it). Cholesky takes any order; the others up to kBatchedMaxOrder rows and columns
// (the Jacobi calls' limit; for the LU, where cuBLAS has none, PyTorch's batched choice
// reaches further, but that needs a GPU to measure). qr's batches run in a kernel of ferry's
// (LaunchSmallQr), up to kSmallQrOrder: cuBLAS's geqrfBatched has no orgqr to go with it.
constexpr int64_t kSolverBatch = int64_t{1} << 16;
constexpr int kBatchedMaxOrder = 32;

// A cuSOLVER parameter object (syevjInfo_t, gesvdjInfo_t), destroyed with the call's end.
// Runs call(first, batch) on the batch's matrices at most kSolverBatch at a time, until one
// fails.
template <typename Call>
absl::Status InBatches(int64_t count, Call&& call) {
  for (int64_t first = 0; first < count; first += kSolverBatch) {
    const int batch = static_cast<int>(std::min(kSolverBatch, count - first));
    if (absl::Status s = call(first, batch); !s.ok()) return s;
  }
  return absl::OkStatus();
}

template <typename Params>
using ParamsOwner = std::unique_ptr<std::remove_pointer_t<Params>, cusolverStatus_t (*)(Params)>;

// What an op needs besides cuSOLVER: typed scratch, copies and the devInfo read-back.
class Job {
 public:
  Job(Context& ctx, const core::Node& node, DType compute)
      : ctx_(ctx), op_(node.op), compute_(compute), size_(core::SizeOf(compute)) {}

  const std::string& op() const { return op_; }
  cudaStream_t stream() const { return ctx_.stream(); }

  template <typename T>
  absl::StatusOr<T*> Scratch(int64_t count) {
    absl::StatusOr<void*> p = ctx_.Scratch(op_, static_cast<size_t>(count) * sizeof(T));
    if (!p.ok()) return p.status();
    return static_cast<T*>(*p);
  }

  // What an op starts from: its inputs in the compute dtype, where its result goes
  // (Output), and cuSOLVER bound to the stream when `solver`.
  struct Operands {
    std::vector<const void*> in;
    void* out;
    Solver solver;
  };
  absl::StatusOr<Operands> Start(absl::Span<const Tensor> inputs, const Tensor& out, bool solver) {
    Operands operands{{}, nullptr, {nullptr, nullptr}};
    if (solver) {
      absl::StatusOr<Solver> made = SolverFor(op_, stream());
      if (!made.ok()) return made.status();
      operands.solver = *made;
    }
    for (const Tensor& input : inputs) {
      absl::StatusOr<const void*> in = Input(input);
      if (!in.ok()) return in.status();
      operands.in.push_back(*in);
    }
    absl::StatusOr<void*> result = Output(out);
    if (!result.ok()) return result.status();
    operands.out = *result;
    return operands;
  }

  // A cuSOLVER call's workspace: its size from `query(&lwork)` (a *_bufferSize function), then
  // that many elements of scratch.
  template <typename T, typename Query>
  absl::StatusOr<std::pair<T*, int>> Workspace(const char* what, Query&& query) {
    int lwork = 0;
    if (absl::Status s = CheckSolver(op_, what, query(&lwork)); !s.ok()) return s;
    absl::StatusOr<T*> work = Scratch<T>(lwork);
    if (!work.ok()) return work.status();
    return std::make_pair(*work, lwork);
  }

  // The device array of the addresses of `count` matrices `stride` elements apart from `a`,
  // which the batched cuSOLVER calls take.
  template <typename F>
  absl::StatusOr<F**> MatrixPointers(F* a, int64_t stride, int64_t count) {
    absl::StatusOr<F**> pointers = Scratch<F*>(count);
    if (!pointers.ok()) return pointers.status();
    if (absl::Status s =
            CheckCuda(op_, "launch",
                      LaunchMatrixPointers(a, stride * static_cast<int64_t>(sizeof(F)), count,
                                           reinterpret_cast<void**>(*pointers), stream()));
        !s.ok()) {
      return s;
    }
    return pointers;
  }

  // `count` devInfo slots, zeroed: a call skipped (nothing to solve) reports nothing.
  absl::StatusOr<int*> Infos(int64_t count) {
    absl::StatusOr<int*> info = Scratch<int>(count);
    if (!info.ok()) return info.status();
    if (absl::Status s = CheckCuda(
            op_, "zero devInfo",
            cudaMemsetAsync(*info, 0, static_cast<size_t>(count) * sizeof(int), stream()));
        !s.ok()) {
      return s;
    }
    return info;
  }

  // The elements of `tensor` in the compute dtype (its own memory: not to be written).
  absl::StatusOr<const void*> Input(const Tensor& tensor) {
    return ctx_.ElementsAs(op_, tensor, compute_);
  }

  // Where the result goes in the compute dtype: `out`, or scratch that Finish rounds into it.
  absl::StatusOr<void*> Output(const Tensor& out) {
    if (out.dtype() == compute_) return out.raw();
    return ctx_.Scratch(op_, out.size() * size_);
  }
  absl::Status Finish(const void* result, const Tensor& out) {
    if (result == out.raw()) return absl::OkStatus();
    return CheckCuda(op_, "convert",
                     LaunchCast(compute_, result, out.dtype(), out.raw(), out.size(), stream()));
  }

  // CheckInfo, then Finish.
  template <typename What>
  absl::Status Finish(const int* info, int64_t count, int64_t matrices, What&& what,
                      const void* result, const Tensor& out) {
    if (absl::Status s = CheckInfo(info, count, matrices, what); !s.ok()) return s;
    return Finish(result, out);
  }

  // Fails the first matrix with a NaN or infinity where it is read (LaunchFindNonFinite).
  absl::Status CheckFinite(const void* a, int64_t count, int64_t rows, int64_t cols, int triangle) {
    absl::StatusOr<int*> bad = Infos(count);
    if (!bad.ok()) return bad.status();
    if (absl::Status s = CheckCuda(
            op_, "launch",
            LaunchFindNonFinite(compute_, a, count, rows, cols, triangle, *bad, stream()));
        !s.ok()) {
      return s;
    }
    return CheckInfo(*bad, count, count, [](int) { return std::string(cpu::kNonFiniteMatrix); });
  }

  // `count` runs of `elements`, src_stride apart into dst_stride apart.
  absl::Status CopyRuns(const void* src, int64_t src_stride, void* dst, int64_t dst_stride,
                        int64_t count, int64_t elements) {
    absl::StatusOr<Indexer> ix =
        MakeIndexer(op_, {count, elements}, {{dst_stride, 1}, {src_stride, 1}});
    if (!ix.ok()) return ix.status();
    return CheckCuda(
        op_, "copy",
        LaunchCopy(static_cast<int>(size_), src, dst, *ix, count * elements, stream()));
  }

  absl::Status Copy(const void* src, void* dst, int64_t elements) {
    return CheckCuda(op_, "copy",
                     cudaMemcpyAsync(dst, src, static_cast<size_t>(elements) * size_,
                                     cudaMemcpyDeviceToDevice, stream()));
  }

  // `count` row-major rows x cols matrices into dst (dst_stride elements apart) from src read
  // column-major with leading dimension src_ld (src_stride apart): dst[i][j] = src[j*ld + i].
  absl::Status Transpose(const void* src, int64_t src_stride, int64_t src_ld, void* dst,
                         int64_t dst_stride, int64_t count, int64_t rows, int64_t cols) {
    absl::StatusOr<Indexer> ix =
        MakeIndexer(op_, {count, rows, cols}, {{dst_stride, cols, 1}, {src_stride, 1, src_ld}});
    if (!ix.ok()) return ix.status();
    return CheckCuda(
        op_, "transpose",
        LaunchCopy(static_cast<int>(size_), src, dst, *ix, count * rows * cols, stream()));
  }

  // cuSOLVER's devInfo of `count` calls, read back (waiting for the stream): the first call
  // with info > 0 fails with MatrixError(its index, what(info)); info < 0 (a bad argument,
  // ferry's mistake) is INTERNAL.
  template <typename What>
  absl::Status CheckInfo(const int* info, int64_t count, int64_t matrices, What&& what) {
    std::vector<int> host(static_cast<size_t>(count));
    if (absl::Status s = CheckCuda(op_, "read devInfo",
                                   cudaMemcpyAsync(host.data(), info, host.size() * sizeof(int),
                                                   cudaMemcpyDeviceToHost, stream()));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckCuda(op_, "synchronize", cudaStreamSynchronize(stream())); !s.ok()) {
      return s;
    }
    for (int64_t i = 0; i < count; ++i) {
      if (host[i] < 0) {
        return absl::InternalError(absl::StrCat("[", op_, "] cuSOLVER refused argument ", -host[i],
                                                " for matrix ", i % matrices));
      }
      if (host[i] > 0) return MatrixError(op_, i % matrices, matrices, what(host[i]));
    }
    return absl::OkStatus();
  }

 private:
  Context& ctx_;
  std::string op_;
  DType compute_;
  size_t size_;
};

absl::Status Cholesky(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                      const Tensor& out) {
  absl::StatusOr<int64_t> upper = cpu::GetAttr<int64_t>(node, "upper");
  if (!upper.ok()) return upper.status();
  absl::StatusOr<MatrixBatch> m = GetMatrixBatch(node.op, inputs[0].shape());
  if (!m.ok()) return m.status();
  if (out.size() == 0) return absl::OkStatus();
  const int n = static_cast<int>(m->rows);
  const DType compute = ComputeDType(out.dtype());
  Job job(ctx, node, compute);
  absl::StatusOr<Job::Operands> o = job.Start(inputs, out, true);
  if (!o.ok()) return o.status();
  const Solver& solver = o->solver;
  const void* x = o->in[0];
  void* y = o->out;
  if (absl::Status s = job.Copy(x, y, out.size()); !s.ok()) return s;
  // Row-major lower is column-major upper.
  const cublasFillMode_t uplo = *upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
  absl::Status status = WithComputeType(compute, [&](auto zero) -> absl::Status {
    using F = decltype(zero);
    F* a = static_cast<F*>(y);
    absl::StatusOr<int*> info = job.Infos(m->count);
    if (!info.ok()) return info.status();
    if (m->count > 1) {
      absl::StatusOr<F**> matrices = job.MatrixPointers(a, int64_t{n} * n, m->count);
      if (!matrices.ok()) return matrices.status();
      if (absl::Status s = InBatches(
              m->count,
              [&](int64_t first, int batch) {
                return CheckSolver(
                    node.op, "potrfBatched",
                    Pick<F>(solver.api->SpotrfBatched, solver.api->DpotrfBatched)(
                        solver.handle, uplo, n, *matrices + first, n, *info + first, batch));
              });
          !s.ok()) {
        return s;
      }
    } else {
      absl::StatusOr<std::pair<F*, int>> workspace =
          job.Workspace<F>("potrf_bufferSize", [&](int* lwork) {
            return Pick<F>(solver.api->SpotrfBufferSize, solver.api->DpotrfBufferSize)(
                solver.handle, uplo, n, a, n, lwork);
          });
      if (!workspace.ok()) return workspace.status();
      const auto [work, lwork] = *workspace;
      if (absl::Status s = CheckSolver(node.op, "potrf",
                                       Pick<F>(solver.api->Spotrf, solver.api->Dpotrf)(
                                           solver.handle, uplo, n, a, n, work, lwork, *info));
          !s.ok()) {
        return s;
      }
    }
    return job.CheckInfo(*info, m->count, m->count, [](int order) {
      return absl::StrCat("is not positive definite (its leading minor of order ", order,
                          " is not)");
    });
  });
  if (!status.ok()) return status;
  if (absl::Status s = CheckCuda(node.op, "launch",
                                 LaunchZeroTriangle(compute, y, m->count, n, n, int64_t{n} * n,
                                                    *upper != 0, ctx.stream()));
      !s.ok()) {
    return s;
  }
  return job.Finish(y, out);
}

// What solve says of a matrix whose getrf info is d.
std::string Singular(int d) {
  return absl::StrCat("is singular (U[", d - 1, ", ", d - 1, "] of its LU factorization is zero)");
}

// solve one matrix at a time through cuSOLVER: `lu` (count column-major a^T, n x n) becomes
// its factors, `x` (count column-major b, n x k) the solutions; fails a singular matrix.
template <typename F>
absl::Status SolveEach(Job& job, const Solver& solver, int n, int k, int64_t count, F* lu, F* x,
                       int* pivots) {
  const int64_t nn = int64_t{n} * n, nk = int64_t{n} * k;
  absl::StatusOr<std::pair<F*, int>> workspace =
      job.Workspace<F>("getrf_bufferSize", [&](int* lwork) {
        return Pick<F>(solver.api->SgetrfBufferSize, solver.api->DgetrfBufferSize)(solver.handle, n,
                                                                                   n, lu, n, lwork);
      });
  if (!workspace.ok()) return workspace.status();
  const auto [work, lwork] = *workspace;
  // getrf's devInfo, then getrs's (which only ever reports a bad argument).
  absl::StatusOr<int*> info = job.Infos(2 * count);
  if (!info.ok()) return info.status();
  for (int64_t b = 0; b < count; ++b) {
    F* lu_b = lu + b * nn;
    int* pivots_b = pivots + b * n;
    if (absl::Status s = CheckSolver(job.op(), "getrf",
                                     Pick<F>(solver.api->Sgetrf, solver.api->Dgetrf)(
                                         solver.handle, n, n, lu_b, n, work, pivots_b, *info + b));
        !s.ok()) {
      return s;
    }
    if (k == 0) continue;
    if (absl::Status s = CheckSolver(job.op(), "getrs",
                                     Pick<F>(solver.api->Sgetrs, solver.api->Dgetrs)(
                                         solver.handle, CUBLAS_OP_T, n, k, lu_b, n, pivots_b,
                                         x + b * nk, n, *info + count + b));
        !s.ok()) {
      return s;
    }
  }
  return job.CheckInfo(*info, 2 * count, count, Singular);
}

// cuBLAS's getrfBatched on `count` column-major n x n matrices (their addresses in
// `matrices`): LU with partial pivoting in place, n pivots and an info a matrix.
template <typename F>
absl::Status FactorBatched(Job& job, const BatchedBlas& blas, int n, int64_t count, F** matrices,
                           int* pivots, int* info) {
  return InBatches(count, [&](int64_t first, int batch) {
    return CheckBlas(
        job.op(), "getrfBatched",
        Pick<F>(blas.api->SgetrfBatched, blas.api->DgetrfBatched)(
            blas.handle, n, matrices + first, n, pivots + first * n, info + first, batch));
  });
}

// As SolveEach, the whole batch at once through cuBLAS's getrfBatched and getrsBatched.
template <typename F>
absl::Status SolveBatched(Job& job, int n, int k, int64_t count, F* lu, F* x, int* pivots) {
  absl::StatusOr<BatchedBlas> blas = BatchedBlasFor(job.op(), job.stream());
  if (!blas.ok()) return blas.status();
  absl::StatusOr<F**> factors = job.MatrixPointers(lu, int64_t{n} * n, count);
  if (!factors.ok()) return factors.status();
  absl::StatusOr<F**> solutions = job.MatrixPointers(x, int64_t{n} * k, count);
  if (!solutions.ok()) return solutions.status();
  absl::StatusOr<int*> info = job.Infos(count);
  if (!info.ok()) return info.status();
  if (absl::Status s = FactorBatched(job, *blas, n, count, *factors, pivots, *info); !s.ok()) {
    return s;
  }
  if (k > 0) {
    if (absl::Status s = InBatches(
            count,
            [&](int64_t first, int batch) -> absl::Status {
              int refused = 0;  // a bad argument's index, negated (a host int)
              if (absl::Status called =
                      CheckBlas(job.op(), "getrsBatched",
                                Pick<F>(blas->api->SgetrsBatched, blas->api->DgetrsBatched)(
                                    blas->handle, CUBLAS_OP_T, n, k, *factors + first, n,
                                    pivots + first * n, *solutions + first, n, &refused, batch));
                  !called.ok()) {
                return called;
              }
              if (refused == 0) return absl::OkStatus();
              return absl::InternalError(
                  absl::StrCat("[", job.op(), "] cuBLAS getrsBatched refused argument ", -refused));
            });
        !s.ok()) {
      return s;
    }
  }
  return job.CheckInfo(*info, count, count, Singular);
}

absl::Status Solve(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                   const Tensor& out) {
  absl::StatusOr<MatrixBatch> m = GetMatrixBatch(node.op, out.shape());
  if (!m.ok()) return m.status();
  // A singular matrix fails even when b has no columns, as on the CPU.
  if (m->count == 0 || m->rows == 0) return absl::OkStatus();
  const int n = static_cast<int>(m->rows), k = static_cast<int>(m->cols);
  const DType compute = ComputeDType(out.dtype());
  const bool batched = m->count > 1 && n <= kBatchedMaxOrder;
  Job job(ctx, node, compute);
  absl::StatusOr<Job::Operands> o = job.Start(inputs, out, !batched);
  if (!o.ok()) return o.status();
  const void* a = o->in[0];
  const void* rhs = o->in[1];
  void* y = o->out;
  return WithComputeType(compute, [&](auto zero) -> absl::Status {
    using F = decltype(zero);
    const int64_t nn = int64_t{n} * n, nk = int64_t{n} * k;
    // Row-major a is column-major a^T: factor a^T and solve with its transpose.
    absl::StatusOr<F*> lu = job.Scratch<F>(m->count * nn);
    if (!lu.ok()) return lu.status();
    if (absl::Status s = job.Copy(a, *lu, m->count * nn); !s.ok()) return s;
    absl::StatusOr<F*> x = job.Scratch<F>(std::max<int64_t>(m->count * nk, 1));
    if (!x.ok()) return x.status();
    if (absl::Status s = job.Transpose(rhs, nk, k, *x, nk, m->count, k, n); !s.ok()) return s;
    absl::StatusOr<int*> pivots = job.Scratch<int>(m->count * n);
    if (!pivots.ok()) return pivots.status();
    absl::Status solved = batched ? SolveBatched<F>(job, n, k, m->count, *lu, *x, *pivots)
                                  : SolveEach<F>(job, o->solver, n, k, m->count, *lu, *x, *pivots);
    if (!solved.ok()) return solved;
    if (k == 0) return absl::OkStatus();
    if (absl::Status s = job.Transpose(*x, nk, n, y, nk, m->count, n, k); !s.ok()) return s;
    return job.Finish(y, out);
  });
}

// x = a^-1 x by blocks of kTriangularBlock rows, as LAPACK's trsm: each diagonal block by
// substitution (a thread per column), then the rows still to solve lose that block's part
// through one cuBLASLt product for the whole batch (x_rest -= a_rest,block x_block), so the
// O(n^2 k) work runs as matrix products.
constexpr int64_t kTriangularBlock = 128;

absl::Status BlockedTriangularSolve(Context& ctx, Job& job, DType compute, const void* a, void* x,
                                    int64_t count, int64_t n, int64_t k, bool upper) {
  const size_t size = core::SizeOf(compute);
  auto at = [size](const void* base, int64_t elements) {
    return static_cast<const char*>(base) + elements * static_cast<int64_t>(size);
  };
  if (count > INT32_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("[", job.op(), "] a batch of ", count,
                                                   " matrices exceeds what cuBLASLt runs"));
  }
  absl::StatusOr<void*> product =
      ctx.Scratch(job.op(), (n - std::min(n, kTriangularBlock)) * k * count * size + size);
  if (!product.ok()) return product.status();
  // Lower: blocks top down, the rows below updated; upper: bottom up, the rows above.
  for (int64_t step = 0; step < n; step += kTriangularBlock) {
    const int64_t rows = std::min(kTriangularBlock, n - step);
    const int64_t first = upper ? n - step - rows : step;
    void* block = const_cast<char*>(at(x, first * k));
    if (absl::Status s =
            CheckCuda(job.op(), "launch",
                      LaunchTriangularBlockSolve(compute, at(a, first * n + first), n * n, n, block,
                                                 n * k, count, rows, k, upper, ctx.stream()));
        !s.ok()) {
      return s;
    }
    const int64_t rest = n - step - rows;
    if (rest == 0) break;
    const int64_t rest_first = upper ? 0 : first + rows;
    Gemm gemm;
    gemm.m = rest;
    gemm.n = k;
    gemm.k = rows;
    gemm.lda = n;
    gemm.ldb = k;
    gemm.ldc = k;
    gemm.batch = static_cast<int32_t>(count);
    gemm.a_stride = n * n;
    gemm.b_stride = n * k;
    gemm.c_stride = rest * k;
    const GemmOperands call{at(a, rest_first * n + first), block, *product};
    if (absl::Status s = RunGemms(ctx, job.op(), compute, gemm, {&call, 1}); !s.ok()) return s;
    if (absl::Status s = CheckCuda(job.op(), "launch",
                                   LaunchSubtract(compute, const_cast<char*>(at(x, rest_first * k)),
                                                  n * k, *product, count, rest * k, ctx.stream()));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status SolveTriangular(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                             const Tensor& out) {
  absl::StatusOr<int64_t> upper = cpu::GetAttr<int64_t>(node, "upper");
  if (!upper.ok()) return upper.status();
  absl::StatusOr<MatrixBatch> m = GetMatrixBatch(node.op, out.shape());
  if (!m.ok()) return m.status();
  if (m->count == 0 || m->rows == 0) return absl::OkStatus();
  const int64_t n = m->rows, k = m->cols;
  const DType compute = ComputeDType(out.dtype());
  Job job(ctx, node, compute);
  absl::StatusOr<Job::Operands> o = job.Start(inputs, out, false);
  if (!o.ok()) return o.status();
  const void* a = o->in[0];
  const void* b = o->in[1];
  absl::StatusOr<int*> info = job.Infos(m->count);
  if (!info.ok()) return info.status();
  if (absl::Status s = CheckCuda(
          node.op, "launch", LaunchFindZeroDiagonal(compute, a, m->count, n, *info, ctx.stream()));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = job.CheckInfo(*info, m->count, m->count,
                                     [](int d) {
                                       return absl::StrCat("is singular (its diagonal element ",
                                                           d - 1, " is zero)");
                                     });
      !s.ok()) {
    return s;
  }
  if (out.size() == 0) return absl::OkStatus();
  void* x = o->out;
  if (absl::Status s = job.Copy(b, x, out.size()); !s.ok()) return s;
  if (absl::Status s = BlockedTriangularSolve(ctx, job, compute, a, x, m->count, n, k, *upper != 0);
      !s.ok()) {
    return s;
  }
  return job.Finish(x, out);
}

absl::Status Qr(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                const Tensor& out) {
  absl::StatusOr<MatrixBatch> m = GetMatrixBatch(node.op, inputs[0].shape());
  if (!m.ok()) return m.status();
  const int rows = static_cast<int>(m->rows), cols = static_cast<int>(m->cols);
  const int k = std::min(rows, cols);
  if (m->count == 0 || k == 0) return absl::OkStatus();  // Q and R are empty
  const core::LinalgLayout layout = core::QrLayout(rows, cols);
  const DType compute = ComputeDType(out.dtype());
  Job job(ctx, node, compute);
  // A batch of small matrices: a block each (LaunchSmallQr), no cuSOLVER call per matrix.
  const bool small = m->count > 1 && rows <= kSmallQrOrder && cols <= kSmallQrOrder;
  absl::StatusOr<Job::Operands> o = job.Start(inputs, out, !small);
  if (!o.ok()) return o.status();
  const Solver& solver = o->solver;
  const void* x = o->in[0];
  void* y = o->out;
  if (small) {
    if (absl::Status s =
            CheckCuda(node.op, "launch",
                      LaunchSmallQr(compute, x, m->count, rows, cols, y, layout.size,
                                    layout.parts[0].offset, layout.parts[1].offset, ctx.stream()));
        !s.ok()) {
      return s;
    }
    return job.Finish(y, out);
  }
  return WithComputeType(compute, [&](auto zero) -> absl::Status {
    using F = decltype(zero);
    const int64_t size = int64_t{rows} * cols;
    absl::StatusOr<F*> a = job.Scratch<F>(m->count * size);  // column-major copies
    if (!a.ok()) return a.status();
    if (absl::Status s = job.Transpose(x, size, cols, *a, size, m->count, cols, rows); !s.ok()) {
      return s;
    }
    absl::StatusOr<F*> tau = job.Scratch<F>(m->count * k);
    if (!tau.ok()) return tau.status();
    int lwork_qr = 0, lwork_q = 0;
    if (absl::Status s =
            CheckSolver(node.op, "geqrf_bufferSize",
                        Pick<F>(solver.api->SgeqrfBufferSize, solver.api->DgeqrfBufferSize)(
                            solver.handle, rows, cols, *a, rows, &lwork_qr));
        !s.ok()) {
      return s;
    }
    if (absl::Status s =
            CheckSolver(node.op, "orgqr_bufferSize",
                        Pick<F>(solver.api->SorgqrBufferSize, solver.api->DorgqrBufferSize)(
                            solver.handle, rows, k, k, *a, rows, *tau, &lwork_q));
        !s.ok()) {
      return s;
    }
    const int lwork = std::max(lwork_qr, lwork_q);
    absl::StatusOr<F*> work = job.Scratch<F>(lwork);
    if (!work.ok()) return work.status();
    absl::StatusOr<int*> info = job.Infos(2 * m->count);
    if (!info.ok()) return info.status();
    for (int64_t b = 0; b < m->count; ++b) {
      if (absl::Status s = CheckSolver(node.op, "geqrf",
                                       Pick<F>(solver.api->Sgeqrf, solver.api->Dgeqrf)(
                                           solver.handle, rows, cols, *a + b * size, rows,
                                           *tau + b * k, *work, lwork, *info + b));
          !s.ok()) {
        return s;
      }
    }
    // R: the upper triangle of the first k rows, before orgqr overwrites it.
    F* r = static_cast<F*>(y) + layout.parts[1].offset;
    if (absl::Status s = job.Transpose(*a, size, rows, r, layout.size, m->count, k, cols);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckCuda(
            node.op, "launch",
            LaunchZeroTriangle(compute, r, m->count, k, cols, layout.size, true, ctx.stream()));
        !s.ok()) {
      return s;
    }
    for (int64_t b = 0; b < m->count; ++b) {
      if (absl::Status s = CheckSolver(node.op, "orgqr",
                                       Pick<F>(solver.api->Sorgqr, solver.api->Dorgqr)(
                                           solver.handle, rows, k, k, *a + b * size, rows,
                                           *tau + b * k, *work, lwork, *info + m->count + b));
          !s.ok()) {
        return s;
      }
    }
    // Q: the first k columns.
    F* q = static_cast<F*>(y) + layout.parts[0].offset;
    if (absl::Status s = job.Transpose(*a, size, rows, q, layout.size, m->count, rows, k);
        !s.ok()) {
      return s;
    }
    // Both only ever report a bad argument.
    return job.Finish(
        *info, 2 * m->count, m->count, [](int) { return std::string("could not be factored"); }, y,
        out);
  });
}

// svd of `count` rows x cols matrices (both at most kBatchedMaxOrder) through
// gesvdjBatched, sorted singular values (as gesvd's) into the packed result. gesvdj takes
// any shape, so row-major x is the column-major x^T = V S U^T as it is: its U (cols x cols,
// column-major) is read row-major as our Vt, its V transposed is our U.
template <typename F>
absl::Status SvdBatched(Job& job, const Solver& solver, bool uv, int rows, int cols, int64_t count,
                        const void* x, const core::LinalgLayout& layout, void* y,
                        const Tensor& out) {
  gesvdjInfo_t made = nullptr;
  if (absl::Status s =
          CheckSolver(job.op(), "create gesvdjInfo", solver.api->CreateGesvdjInfo(&made));
      !s.ok()) {
    return s;
  }
  const ParamsOwner<gesvdjInfo_t> params(made, solver.api->DestroyGesvdjInfo);
  if (absl::Status s =
          CheckSolver(job.op(), "gesvdj sort", solver.api->XgesvdjSetSortEig(params.get(), 1));
      !s.ok()) {
    return s;
  }
  const int k = std::min(rows, cols);
  const int64_t size = int64_t{rows} * cols;
  const cusolverEigMode_t mode = uv ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  absl::StatusOr<F*> a = job.Scratch<F>(count * size);
  if (!a.ok()) return a.status();
  if (absl::Status s = job.Copy(x, *a, count * size); !s.ok()) return s;
  absl::StatusOr<F*> sv = job.Scratch<F>(count * k);
  if (!sv.ok()) return sv.status();
  // gesvdj's U (cols x cols) and V (rows x rows) of each matrix; not written without uv.
  absl::StatusOr<F*> u = job.Scratch<F>(uv ? count * cols * cols : 1);
  if (!u.ok()) return u.status();
  absl::StatusOr<F*> v = job.Scratch<F>(uv ? count * rows * rows : 1);
  if (!v.ok()) return v.status();
  absl::StatusOr<std::pair<F*, int>> workspace =
      job.Workspace<F>("gesvdjBatched_bufferSize", [&](int* lwork) {
        return Pick<F>(solver.api->SgesvdjBatchedBufferSize, solver.api->DgesvdjBatchedBufferSize)(
            solver.handle, mode, cols, rows, *a, cols, *sv, *u, cols, *v, rows, lwork, params.get(),
            static_cast<int>(std::min(kSolverBatch, count)));
      });
  if (!workspace.ok()) return workspace.status();
  F* const work = workspace->first;  // not a structured binding: lambdas capture it below
  const int lwork = workspace->second;
  absl::StatusOr<int*> info = job.Infos(count);
  if (!info.ok()) return info.status();
  if (absl::Status s = InBatches(
          count,
          [&](int64_t first, int batch) {
            const int64_t u_at = uv ? first * cols * cols : 0, v_at = uv ? first * rows * rows : 0;
            return CheckSolver(job.op(), "gesvdjBatched",
                               Pick<F>(solver.api->SgesvdjBatched, solver.api->DgesvdjBatched)(
                                   solver.handle, mode, cols, rows, *a + first * size, cols,
                                   *sv + first * k, *u + u_at, cols, *v + v_at, rows, work, lwork,
                                   *info + first, params.get(), batch));
          });
      !s.ok()) {
    return s;
  }
  F* packed = static_cast<F*>(y);
  if (absl::Status s =
          job.CopyRuns(*sv, k, packed + layout.parts[uv ? 1 : 0].offset, layout.size, count, k);
      !s.ok()) {
    return s;
  }
  if (uv) {
    if (absl::Status s =
            job.Transpose(*v, int64_t{rows} * rows, rows, packed + layout.parts[0].offset,
                          layout.size, count, rows, rows);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = job.CopyRuns(*u, int64_t{cols} * cols, packed + layout.parts[2].offset,
                                      layout.size, count, int64_t{cols} * cols);
        !s.ok()) {
      return s;
    }
  }
  return job.Finish(
      *info, count, count, [](int) { return std::string("did not converge"); }, y, out);
}

absl::Status Svd(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                 const Tensor& out) {
  absl::StatusOr<int64_t> compute_uv = cpu::GetAttr<int64_t>(node, "compute_uv");
  if (!compute_uv.ok()) return compute_uv.status();
  absl::StatusOr<MatrixBatch> m = GetMatrixBatch(node.op, inputs[0].shape());
  if (!m.ok()) return m.status();
  const int rows = static_cast<int>(m->rows), cols = static_cast<int>(m->cols);
  const int k = std::min(rows, cols);
  if (out.size() == 0) return absl::OkStatus();
  const bool uv = *compute_uv != 0;
  const core::LinalgLayout layout = core::SvdLayout(rows, cols, uv);
  const DType compute = ComputeDType(out.dtype());
  Job job(ctx, node, compute);
  absl::StatusOr<Job::Operands> o = job.Start(inputs, out, k > 0);
  if (!o.ok()) return o.status();
  const Solver& solver = o->solver;
  const void* x = o->in[0];
  void* y = o->out;
  if (k == 0) {  // as NumPy: identities around no singular values (uv, else out is empty)
    for (const auto& [part, n] : {std::pair{0, rows}, std::pair{2, cols}}) {
      void* p = static_cast<char*>(y) + layout.parts[part].offset * core::SizeOf(compute);
      if (absl::Status s =
              CheckCuda(node.op, "launch",
                        LaunchIdentity(compute, p, m->count, n, layout.size, ctx.stream()));
          !s.ok()) {
        return s;
      }
    }
    return job.Finish(y, out);
  }
  if (absl::Status s = job.CheckFinite(x, m->count, rows, cols, 0); !s.ok()) return s;
  return WithComputeType(compute, [&](auto zero) -> absl::Status {
    using F = decltype(zero);
    if (m->count > 1 && rows <= kBatchedMaxOrder && cols <= kBatchedMaxOrder) {
      return SvdBatched<F>(job, solver, uv, rows, cols, m->count, x, layout, y, out);
    }
    const int64_t size = int64_t{rows} * cols;
    F* packed = static_cast<F*>(y);
    const int64_t s_offset = layout.parts[uv ? 1 : 0].offset;
    // cuSOLVER's gesvd needs m >= n. A wide (or square) row-major a is the tall column-major
    // a^T = V S U^T: gesvd's U, column-major, is our Vt and its Vt our U, written in place.
    // A tall a is transposed to column-major first, and gesvd's U and Vt transposed back.
    const bool wide = cols >= rows;
    const int gm = wide ? cols : rows, gn = wide ? rows : cols;
    absl::StatusOr<F*> a = job.Scratch<F>(m->count * size);
    if (!a.ok()) return a.status();
    absl::Status copied = wide ? job.Copy(x, *a, m->count * size)
                               : job.Transpose(x, size, cols, *a, size, m->count, cols, rows);
    if (!copied.ok()) return copied;
    F* u = nullptr;  // gesvd's U (gm x gm) and Vt (gn x gn), each matrix's at a stride
    F* vt = nullptr;
    int64_t u_stride = 0, vt_stride = 0;
    if (uv && wide) {
      u = packed + layout.parts[2].offset;
      vt = packed + layout.parts[0].offset;
      u_stride = vt_stride = layout.size;
    } else if (uv) {
      absl::StatusOr<F*> u_scratch = job.Scratch<F>(m->count * gm * gm);
      if (!u_scratch.ok()) return u_scratch.status();
      absl::StatusOr<F*> vt_scratch = job.Scratch<F>(m->count * gn * gn);
      if (!vt_scratch.ok()) return vt_scratch.status();
      u = *u_scratch;
      vt = *vt_scratch;
      u_stride = int64_t{gm} * gm;
      vt_stride = int64_t{gn} * gn;
    }
    absl::StatusOr<std::pair<F*, int>> workspace =
        job.Workspace<F>("gesvd_bufferSize", [&](int* lwork) {
          return Pick<F>(solver.api->SgesvdBufferSize, solver.api->DgesvdBufferSize)(solver.handle,
                                                                                     gm, gn, lwork);
        });
    if (!workspace.ok()) return workspace.status();
    const auto [work, lwork] = *workspace;
    absl::StatusOr<F*> rwork = job.Scratch<F>(k);  // the unconverged superdiagonal
    if (!rwork.ok()) return rwork.status();
    absl::StatusOr<int*> info = job.Infos(m->count);
    if (!info.ok()) return info.status();
    const signed char job_uv = uv ? 'A' : 'N';
    for (int64_t b = 0; b < m->count; ++b) {
      if (absl::Status s = CheckSolver(
              node.op, "gesvd",
              Pick<F>(solver.api->Sgesvd, solver.api->Dgesvd)(
                  solver.handle, job_uv, job_uv, gm, gn, *a + b * size, gm,
                  packed + b * layout.size + s_offset, uv ? u + b * u_stride : nullptr, gm,
                  uv ? vt + b * vt_stride : nullptr, gn, work, lwork, *rwork, *info + b));
          !s.ok()) {
        return s;
      }
    }
    if (uv && !wide) {
      if (absl::Status s = job.Transpose(u, u_stride, gm, packed + layout.parts[0].offset,
                                         layout.size, m->count, gm, gm);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = job.Transpose(vt, vt_stride, gn, packed + layout.parts[2].offset,
                                         layout.size, m->count, gn, gn);
          !s.ok()) {
        return s;
      }
    }
    return job.Finish(
        *info, m->count, m->count, [](int) { return std::string("did not converge"); }, y, out);
  });
}

// syevjBatched (Jacobi, to machine precision, eigenvalues ascending) on `count` n x n
// matrices, dense from `a`, in place; the eigenvalues into `values`, `values_stride` apart.
template <typename F>
absl::Status EighBatched(Job& job, const Solver& solver, cusolverEigMode_t mode,
                         cublasFillMode_t uplo, int n, int64_t count, F* a, int* info, F* values,
                         int64_t values_stride) {
  syevjInfo_t params = nullptr;
  if (absl::Status s =
          CheckSolver(job.op(), "create syevjInfo", solver.api->CreateSyevjInfo(&params));
      !s.ok()) {
    return s;
  }
  const ParamsOwner<syevjInfo_t> destroy(params, solver.api->DestroySyevjInfo);
  if (absl::Status s = CheckSolver(job.op(), "syevj sort", solver.api->XsyevjSetSortEig(params, 1));
      !s.ok()) {
    return s;
  }
  const int64_t nn = int64_t{n} * n;
  absl::StatusOr<F*> w = job.Scratch<F>(count * n);
  if (!w.ok()) return w.status();
  absl::StatusOr<std::pair<F*, int>> workspace =
      job.Workspace<F>("syevjBatched_bufferSize", [&](int* lwork) {
        return Pick<F>(solver.api->SsyevjBatchedBufferSize, solver.api->DsyevjBatchedBufferSize)(
            solver.handle, mode, uplo, n, a, n, *w, lwork, params,
            static_cast<int>(std::min(kSolverBatch, count)));
      });
  if (!workspace.ok()) return workspace.status();
  F* const work = workspace->first;  // not a structured binding: lambdas capture it below
  const int lwork = workspace->second;
  if (absl::Status s = InBatches(
          count,
          [&](int64_t first, int batch) {
            return CheckSolver(job.op(), "syevjBatched",
                               Pick<F>(solver.api->SsyevjBatched, solver.api->DsyevjBatched)(
                                   solver.handle, mode, uplo, n, a + first * nn, n, *w + first * n,
                                   work, lwork, info + first, params, batch));
          });
      !s.ok()) {
    return s;
  }
  // Each matrix's n eigenvalues into its part of the packed result.
  return job.CopyRuns(*w, n, values, values_stride, count, n);
}

absl::Status Eigh(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                  const Tensor& out) {
  absl::StatusOr<int64_t> upper = cpu::GetAttr<int64_t>(node, "upper");
  if (!upper.ok()) return upper.status();
  absl::StatusOr<int64_t> vectors = cpu::GetAttr<int64_t>(node, "compute_vectors");
  if (!vectors.ok()) return vectors.status();
  absl::StatusOr<MatrixBatch> m = GetMatrixBatch(node.op, inputs[0].shape());
  if (!m.ok()) return m.status();
  const int n = static_cast<int>(m->rows);
  if (m->count == 0 || n == 0) return absl::OkStatus();
  const core::LinalgLayout layout = core::EighLayout(n, *vectors != 0);
  const DType compute = ComputeDType(out.dtype());
  Job job(ctx, node, compute);
  absl::StatusOr<Job::Operands> o = job.Start(inputs, out, true);
  if (!o.ok()) return o.status();
  const Solver& solver = o->solver;
  const void* x = o->in[0];
  void* y = o->out;
  if (absl::Status s = job.CheckFinite(x, m->count, n, n, *upper ? 1 : -1); !s.ok()) return s;
  // Row-major a is column-major a^T = a with the triangles swapped.
  const cusolverEigMode_t mode = *vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const cublasFillMode_t uplo = *upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
  return WithComputeType(compute, [&](auto zero) -> absl::Status {
    using F = decltype(zero);
    const int64_t nn = int64_t{n} * n;
    F* packed = static_cast<F*>(y);
    absl::StatusOr<F*> a = job.Scratch<F>(m->count * nn);
    if (!a.ok()) return a.status();
    if (absl::Status s = job.Copy(x, *a, m->count * nn); !s.ok()) return s;
    absl::StatusOr<int*> info = job.Infos(m->count);
    if (!info.ok()) return info.status();
    if (m->count > 1 && n <= kBatchedMaxOrder) {
      if (absl::Status s = EighBatched<F>(job, solver, mode, uplo, n, m->count, *a, *info,
                                          packed + layout.parts[0].offset, layout.size);
          !s.ok()) {
        return s;
      }
    } else {
      absl::StatusOr<std::pair<F*, int>> workspace =
          job.Workspace<F>("syevd_bufferSize", [&](int* lwork) {
            return Pick<F>(solver.api->SsyevdBufferSize, solver.api->DsyevdBufferSize)(
                solver.handle, mode, uplo, n, *a, n, packed, lwork);
          });
      if (!workspace.ok()) return workspace.status();
      const auto [work, lwork] = *workspace;
      for (int64_t b = 0; b < m->count; ++b) {
        // The eigenvalues, ascending, straight into their part.
        if (absl::Status s = CheckSolver(
                node.op, "syevd",
                Pick<F>(solver.api->Ssyevd, solver.api->Dsyevd)(
                    solver.handle, mode, uplo, n, *a + b * nn, n,
                    packed + b * layout.size + layout.parts[0].offset, work, lwork, *info + b));
            !s.ok()) {
          return s;
        }
      }
    }
    // The eigenvectors, columns of the column-major result, are columns row-major too.
    if (*vectors) {
      if (absl::Status s = job.Transpose(*a, nn, n, packed + layout.parts[1].offset, layout.size,
                                         m->count, n, n);
          !s.ok()) {
        return s;
      }
    }
    return job.Finish(
        *info, m->count, m->count, [](int) { return std::string("did not converge"); }, y, out);
  });
}

// eig runs the CPU backend's kernel (LAPACK's dgeev) on a host copy, as PyTorch's CUDA eig
// does its QR iterations on the host (MAGMA's geev) and MLX has eig on the CPU only: results
// equal the CPU backend's to the bit, where a GPU geev (cuSOLVER 12.6's Xgeev) may pick
// other, equally valid, eigenvector phases. The session's stream waits for the copies.
absl::Status Eig(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                 const Tensor& out) {
  const Tensor& a = inputs[0];
  if (out.size() == 0) return absl::OkStatus();
  std::vector<char> host_in(std::max<size_t>(a.nbytes(), 1)), host_out(out.nbytes());
  const Tensor host_a{a.type, std::make_shared<Storage>(host_in.data(), host_in.size())};
  const Tensor host_result{out.type, std::make_shared<Storage>(host_out.data(), host_out.size())};
  if (absl::Status s = CheckCuda(node.op, "copy to the host",
                                 cudaMemcpyAsync(host_in.data(), a.raw(), a.nbytes(),
                                                 cudaMemcpyDeviceToHost, ctx.stream()));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckCuda(node.op, "synchronize", cudaStreamSynchronize(ctx.stream()));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = cpu::CpuKernels().at("eig")(node, {host_a}, host_result); !s.ok()) return s;
  if (absl::Status s = CheckCuda(node.op, "copy to the device",
                                 cudaMemcpyAsync(out.raw(), host_out.data(), out.nbytes(),
                                                 cudaMemcpyHostToDevice, ctx.stream()));
      !s.ok()) {
    return s;
  }
  // host_out goes when this returns.
  return CheckCuda(node.op, "synchronize", cudaStreamSynchronize(ctx.stream()));
}

// getrf on column-major copies; a zero pivot (a singular a) is not an error, as on the CPU.
absl::Status Lu(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                const Tensor& out) {
  absl::StatusOr<MatrixBatch> m = GetMatrixBatch(node.op, inputs[0].shape());
  if (!m.ok()) return m.status();
  if (out.size() == 0) return absl::OkStatus();
  const int rows = static_cast<int>(m->rows), cols = static_cast<int>(m->cols);
  const int k = std::min(rows, cols);
  const core::LinalgLayout layout = core::LuLayout(rows, cols);
  const DType compute = out.dtype();  // float32 or float64, as core declares
  Job job(ctx, node, compute);
  // cuBLAS's getrfBatched takes square matrices only.
  const bool batched = m->count > 1 && rows == cols && rows <= kBatchedMaxOrder;
  absl::StatusOr<Job::Operands> o = job.Start(inputs, out, k > 0 && !batched);
  if (!o.ok()) return o.status();
  const Solver& solver = o->solver;
  void* y = o->out;
  absl::StatusOr<int*> pivots = job.Scratch<int>(std::max<int64_t>(m->count * k, 1));
  if (!pivots.ok()) return pivots.status();
  absl::Status factored = WithComputeType(compute, [&](auto zero) -> absl::Status {
    using F = decltype(zero);
    if (k == 0) return absl::OkStatus();
    const int64_t size = int64_t{rows} * cols;
    F* packed = static_cast<F*>(y);
    absl::StatusOr<F*> a = job.Scratch<F>(m->count * size);  // column-major copies
    if (!a.ok()) return a.status();
    if (absl::Status s = job.Transpose(o->in[0], size, cols, *a, size, m->count, cols, rows);
        !s.ok()) {
      return s;
    }
    // A singular matrix is factored all the same: no info is read.
    absl::StatusOr<int*> info = job.Infos(m->count);
    if (!info.ok()) return info.status();
    if (batched) {
      absl::StatusOr<BatchedBlas> blas = BatchedBlasFor(node.op, job.stream());
      if (!blas.ok()) return blas.status();
      absl::StatusOr<F**> matrices = job.MatrixPointers(*a, size, m->count);
      if (!matrices.ok()) return matrices.status();
      if (absl::Status s = FactorBatched(job, *blas, rows, m->count, *matrices, *pivots, *info);
          !s.ok()) {
        return s;
      }
    } else {
      absl::StatusOr<std::pair<F*, int>> workspace =
          job.Workspace<F>("getrf_bufferSize", [&](int* lwork) {
            return Pick<F>(solver.api->SgetrfBufferSize, solver.api->DgetrfBufferSize)(
                solver.handle, rows, cols, *a, rows, lwork);
          });
      if (!workspace.ok()) return workspace.status();
      const auto [work, lwork] = *workspace;
      for (int64_t b = 0; b < m->count; ++b) {
        if (absl::Status s = CheckSolver(node.op, "getrf",
                                         Pick<F>(solver.api->Sgetrf, solver.api->Dgetrf)(
                                             solver.handle, rows, cols, *a + b * size, rows, work,
                                             *pivots + b * k, *info + b));
            !s.ok()) {
          return s;
        }
      }
    }
    return job.Transpose(*a, size, rows, packed + layout.parts[0].offset, layout.size, m->count,
                         rows, cols);
  });
  if (!factored.ok()) return factored;
  absl::StatusOr<int*> order = job.Scratch<int>(m->count * rows);
  if (!order.ok()) return order.status();
  if (absl::Status s =
          CheckCuda(node.op, "launch",
                    LaunchLuPermutation(compute, k > 0 ? *pivots : nullptr, *order, y, m->count,
                                        rows, k, layout.size, layout.parts[1].offset,
                                        layout.parts[2].offset, ctx.stream()));
      !s.ok()) {
    return s;
  }
  return job.Finish(y, out);
}

}  // namespace

void RegisterLinalgKernels(KernelTable& table) {
  table["cholesky"] = &Cholesky;
  table["solve"] = &Solve;
  table["solve_triangular"] = &SolveTriangular;
  table["qr"] = &Qr;
  table["svd"] = &Svd;
  table["eigh"] = &Eigh;
  table["lu"] = &Lu;
  table["eig"] = &Eig;
}

}  // namespace ferry::kernels::cuda
