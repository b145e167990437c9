// gather_mm through cuBLASLt (gemm.h), as kernels/cpu/gather_mm.cc: each run of pairs (one
// matrix of b, a's matrices one after another) is one product reading both operands where
// they lie, runs of one length queued through one plan. The indices are read back to choose
// the runs (one small copy and a stream wait per call, as gather's index check); an index out
// of range fails with the CPU's INVALID_ARGUMENT message. gather_qmm, below, likewise runs
// quantized_matmul's kernels on the picked matrices in place.

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kernels.h"

namespace ferry::kernels::cuda {
namespace {

constexpr char kOp[] = "gather_mm";

absl::StatusOr<std::vector<int64_t>> ReadIndices(Context& ctx, const std::string& op,
                                                 const Tensor& indices) {
  absl::StatusOr<const void*> values = ctx.ElementsAs(op, indices, core::DType::kInt64);
  if (!values.ok()) return values.status();
  std::vector<int64_t> host(static_cast<size_t>(indices.size()));
  absl::Status status =
      CheckCuda(op, "read indices",
                cudaMemcpyAsync(host.data(), *values, host.size() * sizeof(int64_t),
                                cudaMemcpyDeviceToHost, ctx.stream()));
  if (status.ok()) status = CheckCuda(op, "read indices", cudaStreamSynchronize(ctx.stream()));
  if (!status.ok()) return status;
  return host;
}

absl::Status GatherMm(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                      const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  absl::StatusOr<cpu::GatherMmDims> dims = cpu::GetGatherMmDims(node, a.shape(), b.shape());
  if (!dims.ok()) return dims.status();
  if (out.size() == 0) return absl::OkStatus();
  absl::StatusOr<std::vector<int64_t>> lhs = ReadIndices(ctx, kOp, inputs[2]);
  if (!lhs.ok()) return lhs.status();
  absl::StatusOr<std::vector<int64_t>> rhs = ReadIndices(ctx, kOp, inputs[3]);
  if (!rhs.ok()) return rhs.status();
  absl::Status checked =
      cpu::CheckGatherIndices(kOp, "a", dims->a_count, "b", dims->b_count, *lhs, *rhs);
  if (!checked.ok()) return checked;
  const int64_t m = dims->m, n = dims->n, k = dims->k;
  if (k == 0) {
    return CheckCuda(kOp, "zero fill", cudaMemsetAsync(out.raw(), 0, out.nbytes(), ctx.stream()));
  }
  // Operands of another dtype than the result are converted whole, as matmul's.
  absl::StatusOr<const void*> a_data = ctx.ElementsAs(kOp, a, out.dtype());
  if (!a_data.ok()) return a_data.status();
  absl::StatusOr<const void*> b_data = ctx.ElementsAs(kOp, b, out.dtype());
  if (!b_data.ok()) return b_data.status();
  const size_t size = core::SizeOf(out.dtype());
  const auto* a_bytes = static_cast<const char*>(*a_data);
  const auto* b_bytes = static_cast<const char*>(*b_data);
  auto* c_bytes = static_cast<char*>(out.raw());
  // A single row stored transposed (k x 1) is the same k elements as a row.
  const bool a_transposed = dims->a_transposed && m > 1;
  std::map<int64_t, std::vector<GemmOperands>> by_length;
  for (const cpu::GatherMmRun& run : cpu::GatherMmRuns(m, !a_transposed, *lhs, *rhs)) {
    by_length[run.count].push_back({a_bytes + (*lhs)[run.first] * m * k * size,
                                    b_bytes + (*rhs)[run.first] * k * n * size,
                                    c_bytes + run.first * m * n * size});
  }
  for (const auto& [count, calls] : by_length) {
    Gemm g;
    g.m = count * m;
    g.n = n;
    g.k = k;
    g.a_transposed = a_transposed;
    g.b_transposed = dims->b_transposed;
    g.lda = a_transposed ? m : k;
    g.ldb = g.b_transposed ? k : n;
    g.ldc = n;
    absl::Status ran = RunGemms(ctx, kOp, out.dtype(), g, calls);
    if (!ran.ok()) return ran;
  }
  return absl::OkStatus();
}

// gather_qmm: each run of pairs (one matrix of w, x's matrices one after another) is one
// QuantizedProduct, as quantized_matmul's (kernels.cc), the scratch shared by the runs.
absl::Status GatherQmm(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                       const Tensor& out) {
  const core::DType dtype = out.dtype();
  const Tensor& x = inputs[0];
  const Tensor& wq = inputs[1];
  const core::Shape& w_shape = wq.shape();
  absl::StatusOr<cpu::QuantizedMatmulDims> dims =
      cpu::GetQuantizedMatmulDims(node, core::Shape(w_shape.end() - 2, w_shape.end()));
  if (!dims.ok()) return dims.status();
  const bool transpose = dims->transpose;
  const int64_t inner = transpose ? dims->columns : dims->rows;
  const int64_t width = transpose ? dims->rows : dims->columns;
  const int64_t m = x.shape()[x.shape().size() - 2];
  if (out.size() == 0) return absl::OkStatus();
  absl::StatusOr<std::vector<int64_t>> lhs = ReadIndices(ctx, node.op, inputs[4]);
  if (!lhs.ok()) return lhs.status();
  absl::StatusOr<std::vector<int64_t>> rhs = ReadIndices(ctx, node.op, inputs[5]);
  if (!rhs.ok()) return rhs.status();
  absl::Status checked = cpu::CheckGatherIndices(
      node.op, "x", core::NumElements(core::Shape(x.shape().begin(), x.shape().end() - 2)), "wq",
      core::NumElements(core::Shape(w_shape.begin(), w_shape.end() - 2)), *lhs, *rhs);
  if (!checked.ok()) return checked;
  if (inner == 0) {  // sums of nothing
    return CheckCuda(node.op, "zero fill",
                     cudaMemsetAsync(out.raw(), 0, out.nbytes(), ctx.stream()));
  }
  absl::StatusOr<const void*> x_data = ctx.ElementsAs(node.op, x, dtype);
  if (!x_data.ok()) return x_data.status();
  absl::StatusOr<const void*> scales = ctx.ElementsAs(node.op, inputs[2], dtype);
  if (!scales.ok()) return scales.status();
  absl::StatusOr<const void*> biases = ctx.ElementsAs(node.op, inputs[3], dtype);
  if (!biases.ok()) return biases.status();
  const size_t size = core::SizeOf(dtype);
  const int64_t groups = dims->rows * dims->groups_per_row;
  const auto* x_bytes = static_cast<const char*>(*x_data);
  auto* y_bytes = static_cast<char*>(out.raw());
  DequantizedScratch dequantized;  // one matrix, allocated by the first run that needs it
  for (const cpu::GatherMmRun& run : cpu::GatherMmRuns(m, true, *lhs, *rhs)) {
    const int64_t e = (*rhs)[run.first];
    QuantizedMatrix q;
    q.words = static_cast<const uint32_t*>(wq.raw()) + e * dims->rows * dims->words_per_row;
    q.scales = static_cast<const char*>(*scales) + e * groups * size;
    q.biases = static_cast<const char*>(*biases) + e * groups * size;
    q.rows = dims->rows;
    q.columns = dims->columns;
    q.words_per_row = dims->words_per_row;
    q.bits = dims->bits;
    q.group_size = dims->group_size;
    absl::Status ran = QuantizedProduct(
        ctx, node.op, dtype, q, transpose, x_bytes + (*lhs)[run.first] * m * inner * size,
        run.count * m, y_bytes + run.first * m * width * size, dequantized);
    if (!ran.ok()) return ran;
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterGatherMmKernels(KernelTable& table) {
  table["gather_mm"] = &GatherMm;
  table["gather_qmm"] = &GatherQmm;
}

}  // namespace ferry::kernels::cuda
