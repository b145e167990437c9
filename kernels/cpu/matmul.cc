// matmul with NumPy's rules: a 1-D left operand is a row vector and a 1-D right operand a
// column vector (their unit dims dropped from the result), batch dims broadcast. Each
// matrix product is one OpenBLAS gemm: float64 through dgemm, every other dtype through
// sgemm in float32 (float16 and bfloat16 are widened, multiplied and rounded back). An
// operand the plan has read transposed (a transpose folded into the product) goes to BLAS
// as it is stored, with its transpose flag.

#include <climits>
#include <cstring>
#include <utility>

#include "kernels/cpu/blas_operands.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

// C = A B for row-major A (m x k, or k x m transposed), B (k x n, or n x k transposed),
// C (m x n), all dense.
template <typename F>
void DenseGemm(const F* a, const F* b, F* c, int m, int n, int k, const MatmulDims& dims) {
  Gemm(a, dims.a_transposed ? m : k, dims.a_transposed, b, dims.b_transposed ? k : n,
       dims.b_transposed, c, n, m, n, k);
}

template <typename F>
void BatchedGemm(const F* a, const F* b, F* c, const MatmulDims& dims) {
  const int64_t m = dims.m, n = dims.n, k = dims.k;
  const core::Shape& batch = dims.batch;
  std::vector<int64_t> a_strides = BroadcastStrides(dims.a_batch, batch);
  std::vector<int64_t> b_strides = BroadcastStrides(dims.b_batch, batch);
  std::vector<int64_t> c_strides = core::ContiguousStrides(batch);
  bool b_shared = true;  // one right operand for every batch
  for (int64_t s : b_strides) b_shared = b_shared && s == 0;
  // With a dense batch of left operands (not transposed: their rows follow one another)
  // and one shared right operand, the whole batch is a single taller gemm.
  if (b_shared && !dims.a_transposed && a_strides == c_strides &&
      m * core::NumElements(batch) <= INT_MAX) {
    DenseGemm(a, b, c, static_cast<int>(m * core::NumElements(batch)), static_cast<int>(n),
              static_cast<int>(k), dims);
    return;
  }
  for (int64_t& s : a_strides) s *= m * k;
  for (int64_t& s : b_strides) s *= k * n;
  for (int64_t& s : c_strides) s *= m * n;
  ForEachRow<3>(
      batch, {c_strides, a_strides, b_strides}, {0, 0, 0},
      [&](const std::array<int64_t, 3>& off, int64_t rows, const std::array<int64_t, 3>& step) {
        for (int64_t i = 0; i < rows; ++i) {
          DenseGemm(a + off[1] + i * step[1], b + off[2] + i * step[2], c + off[0] + i * step[0],
                    static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), dims);
        }
      });
}

absl::Status Matmul(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  absl::StatusOr<MatmulDims> dims = GetMatmulDims(node, a.shape(), b.shape());
  if (!dims.ok()) return dims.status();
  const int64_t m = dims->m, n = dims->n, k = dims->k;
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX) {
    return absl::InvalidArgumentError("[matmul] a dimension exceeds what BLAS can index");
  }
  if (out.size() == 0) return absl::OkStatus();
  if (k == 0) {  // a sum of nothing: zeros, without asking BLAS about empty operands
    std::memset(out.raw(), 0, out.nbytes());  // zero is all-zero bits in every dtype
    return absl::OkStatus();
  }
  return WithBlasOperands(node.op, a, b, out,
                          [&](const auto* a_data, const auto* b_data, auto* c_data) {
                            BatchedGemm(a_data, b_data, c_data, *dims);
                          });
}

}  // namespace

absl::StatusOr<MatmulDims> GetMatmulDims(const core::Node& node, const core::Shape& a,
                                         const core::Shape& b) {
  core::Shape a_shape = a;
  core::Shape b_shape = b;
  if (a_shape.empty() || b_shape.empty()) {
    return absl::InvalidArgumentError("[matmul] operands must have at least one dimension");
  }
  const bool a_transposed = node.attrs.Has(kTransposeA);
  const bool b_transposed = node.attrs.Has(kTransposeB);
  if ((a_transposed && a_shape.size() < 2) || (b_transposed && b_shape.size() < 2)) {
    return absl::InternalError("[matmul] a transposed operand needs two dimensions");
  }
  if (a_transposed) std::swap(a_shape[a_shape.size() - 1], a_shape[a_shape.size() - 2]);
  if (b_transposed) std::swap(b_shape[b_shape.size() - 1], b_shape[b_shape.size() - 2]);
  if (a_shape.size() == 1) a_shape.insert(a_shape.begin(), 1);
  if (b_shape.size() == 1) b_shape.push_back(1);
  MatmulDims dims;
  dims.a_transposed = a_transposed;
  dims.b_transposed = b_transposed;
  dims.m = a_shape[a_shape.size() - 2];
  dims.k = a_shape.back();
  dims.n = b_shape.back();
  if (b_shape[b_shape.size() - 2] != dims.k) {
    return absl::InvalidArgumentError(
        absl::StrCat("[matmul] inner dimensions differ: ", core::ShapeToString(a), " and ",
                     core::ShapeToString(b)));
  }
  dims.a_batch.assign(a_shape.begin(), a_shape.end() - 2);
  dims.b_batch.assign(b_shape.begin(), b_shape.end() - 2);
  absl::StatusOr<core::Shape> batch = core::BroadcastShapes(dims.a_batch, dims.b_batch);
  if (!batch.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("[matmul] ", batch.status().message()));
  }
  dims.batch = *std::move(batch);
  return dims;
}

void RegisterMatmulKernels(KernelTable& table) { table["matmul"] = &Matmul; }

}  // namespace ferry::kernels::cpu
