// gather_mm (core/ops.h): pair i multiplies a's matrix lhs[i] by b's matrix rhs[i], each read
// where it lies (no copy of the picked matrices), one BLAS gemm per run of pairs: consecutive
// pairs on one matrix of b whose matrices of a follow one another in memory (indices sorted
// by expert, as a mixture of experts sorts them) are one taller product. float64 through
// dgemm, other dtypes in float32 as matmul; a 16-bit b is widened one picked matrix at a time.

#include <algorithm>
#include <climits>
#include <cstring>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/blas_operands.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/fusion.h"

namespace ferry::kernels::cpu {
namespace {

constexpr char kOp[] = "gather_mm";

template <typename F>
absl::Status RunPairs(const GatherMmDims& dims, const F* a, const Tensor& b, F* c,
                      const std::vector<int64_t>& lhs, const std::vector<int64_t>& rhs) {
  const core::DType compute =
      std::is_same_v<F, double> ? core::DType::kFloat64 : core::DType::kFloat32;
  const int64_t m = dims.m, n = dims.n, k = dims.k;
  // A single row stored transposed (k x 1) is the same k elements as a row.
  const bool a_transposed = dims.a_transposed && m > 1;
  HostScratch b_scratch;
  F* b_matrix = nullptr;  // b's matrix `b_widened` in the compute dtype, when b needs widening
  int64_t b_widened = -1;
  if (b.dtype() != compute) {
    absl::StatusOr<void*> bytes = b_scratch.Take(kOp, k * n * static_cast<int64_t>(sizeof(F)));
    if (!bytes.ok()) return bytes.status();
    b_matrix = static_cast<F*>(*bytes);
  }
  for (const GatherMmRun& run : GatherMmRuns(m, !a_transposed, lhs, rhs)) {
    const int64_t expert = rhs[run.first];
    const F* b_data = static_cast<const F*>(b.raw()) + expert * k * n;
    if (b_matrix != nullptr) {
      if (expert != b_widened) {
        CastElements(static_cast<const char*>(b.raw()) + expert * k * n * core::SizeOf(b.dtype()),
                     b.dtype(), b_matrix, compute, k * n);
        b_widened = expert;
      }
      b_data = b_matrix;
    }
    const int rows = static_cast<int>(run.count * m);
    Gemm(a + lhs[run.first] * m * k, a_transposed ? static_cast<int>(m) : static_cast<int>(k),
         a_transposed, b_data, dims.b_transposed ? static_cast<int>(k) : static_cast<int>(n),
         dims.b_transposed, c + run.first * m * n, static_cast<int>(n), rows, static_cast<int>(n),
         static_cast<int>(k));
  }
  return absl::OkStatus();
}

absl::Status GatherMm(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  absl::StatusOr<GatherMmDims> dims = GetGatherMmDims(node, a.shape(), b.shape());
  if (!dims.ok()) return dims.status();
  if (out.size() == 0) return absl::OkStatus();
  absl::StatusOr<std::vector<int64_t>> lhs = GatherIndices(kOp, inputs[2]);
  if (!lhs.ok()) return lhs.status();
  absl::StatusOr<std::vector<int64_t>> rhs = GatherIndices(kOp, inputs[3]);
  if (!rhs.ok()) return rhs.status();
  absl::Status checked =
      CheckGatherIndices(kOp, "a", dims->a_count, "b", dims->b_count, *lhs, *rhs);
  if (!checked.ok()) return checked;
  if (dims->m > INT_MAX || dims->n > INT_MAX || dims->k > INT_MAX) {
    return absl::InvalidArgumentError("[gather_mm] a dimension exceeds what BLAS can index");
  }
  if (dims->k == 0) {  // sums of nothing
    std::memset(out.raw(), 0, out.nbytes());
    return absl::OkStatus();
  }
  const core::DType compute =
      out.dtype() == core::DType::kFloat64 ? core::DType::kFloat64 : core::DType::kFloat32;
  // a holds activations (small beside b's experts), so it is widened whole.
  HostScratch a_scratch, c_scratch;
  absl::StatusOr<const void*> a_data = ElementsAs(kOp, a, compute, a_scratch);
  if (!a_data.ok()) return a_data.status();
  void* c_data = out.raw();
  if (out.dtype() != compute) {
    absl::StatusOr<void*> c =
        c_scratch.Take(kOp, out.size() * static_cast<int64_t>(core::SizeOf(compute)));
    if (!c.ok()) return c.status();
    c_data = *c;
  }
  absl::Status ran = compute == core::DType::kFloat64
                         ? RunPairs(*dims, static_cast<const double*>(*a_data), b,
                                    static_cast<double*>(c_data), *lhs, *rhs)
                         : RunPairs(*dims, static_cast<const float*>(*a_data), b,
                                    static_cast<float*>(c_data), *lhs, *rhs);
  if (!ran.ok()) return ran;
  if (c_data != out.raw()) CastElements(c_data, compute, out.raw(), out.dtype(), out.size());
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<GatherMmDims> GetGatherMmDims(const core::Node& node, const core::Shape& a,
                                             const core::Shape& b) {
  if (a.size() < 2 || b.size() < 2) {
    return absl::InternalError("[gather_mm] operands must be matrices");
  }
  GatherMmDims dims;
  dims.a_transposed = node.attrs.Has(kTransposeA);
  dims.b_transposed = node.attrs.Has(kTransposeB);
  const int64_t a_rows = a[a.size() - 2], a_cols = a.back();
  const int64_t b_rows = b[b.size() - 2], b_cols = b.back();
  dims.m = dims.a_transposed ? a_cols : a_rows;
  dims.k = dims.a_transposed ? a_rows : a_cols;
  dims.n = dims.b_transposed ? b_rows : b_cols;
  if ((dims.b_transposed ? b_cols : b_rows) != dims.k) {
    return absl::InvalidArgumentError(
        absl::StrCat("[gather_mm] inner dimensions differ: ", core::ShapeToString(a), " and ",
                     core::ShapeToString(b)));
  }
  dims.a_count = core::NumElements(core::Shape(a.begin(), a.end() - 2));
  dims.b_count = core::NumElements(core::Shape(b.begin(), b.end() - 2));
  return dims;
}

absl::StatusOr<std::vector<int64_t>> GatherIndices(absl::string_view op, const Tensor& indices) {
  HostScratch scratch;
  absl::StatusOr<const void*> values = ElementsAs(op, indices, core::DType::kInt64, scratch);
  if (!values.ok()) return values.status();
  const auto* first = static_cast<const int64_t*>(*values);
  return std::vector<int64_t>(first, first + indices.size());
}

absl::Status CheckGatherIndices(absl::string_view op, const char* a_name, int64_t a_count,
                                const char* b_name, int64_t b_count, std::vector<int64_t>& lhs,
                                std::vector<int64_t>& rhs) {
  for (int side = 0; side < 2; ++side) {
    std::vector<int64_t>& indices = side == 0 ? lhs : rhs;
    const int64_t count = side == 0 ? a_count : b_count;
    for (size_t i = 0; i < indices.size(); ++i) {
      const int64_t given = indices[i];
      const int64_t index = given < 0 ? given + count : given;
      if (index < 0 || index >= count) {
        return absl::InvalidArgumentError(absl::StrCat(
            "[", op, "] ", side == 0 ? "lhs_indices" : "rhs_indices", " element ", i, " is ", given,
            ", out of range for the ", count, " matrices of ", side == 0 ? a_name : b_name));
      }
      indices[i] = index;
    }
  }
  return absl::OkStatus();
}

std::vector<GatherMmRun> GatherMmRuns(int64_t m, bool stackable, absl::Span<const int64_t> lhs,
                                      absl::Span<const int64_t> rhs) {
  const int64_t most = std::max<int64_t>(1, INT_MAX / std::max<int64_t>(1, m));
  std::vector<GatherMmRun> runs;
  for (int64_t i = 0; i < static_cast<int64_t>(rhs.size()); ++i) {
    if (stackable && !runs.empty()) {
      GatherMmRun& last = runs.back();
      const int64_t prev = last.first + last.count - 1;
      if (rhs[i] == rhs[prev] && lhs[i] == lhs[prev] + 1 && last.count < most) {
        ++last.count;
        continue;
      }
    }
    runs.push_back({i, 1});
  }
  return runs;
}

void RegisterGatherMmKernels(KernelTable& table) { table["gather_mm"] = &GatherMm; }

}  // namespace ferry::kernels::cpu
