// matmul through cuBLASLt (gemm.h), with NumPy's rules as kernels/cpu/matmul.cc: 1-D
// operands promoted, batch dims broadcast. Mixed dtypes are converted to the output's
// first. A batch whose operands each step evenly (or not at all) is one strided batched
// call; any other broadcast is one call per leading index.

#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/kernels.h"

namespace ferry::kernels::cuda {
namespace {

absl::Status Matmul(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                    const Tensor& out) {
  const Tensor& a = inputs[0];
  const Tensor& b = inputs[1];
  if (!core::IsFloating(out.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("[matmul] needs a floating dtype, not ", core::DTypeName(out.dtype())));
  }
  absl::StatusOr<cpu::MatmulDims> dims = cpu::GetMatmulDims(node, a.shape(), b.shape());
  if (!dims.ok()) return dims.status();
  const int64_t m = dims->m, n = dims->n, k = dims->k;
  if (out.size() == 0) return absl::OkStatus();
  if (k == 0) {
    return CheckCuda("matmul", "zero fill",
                     cudaMemsetAsync(out.raw(), 0, out.nbytes(), ctx.stream()));
  }
  absl::StatusOr<const void*> a_data = ctx.ElementsAs("matmul", a, out.dtype());
  if (!a_data.ok()) return a_data.status();
  absl::StatusOr<const void*> b_data = ctx.ElementsAs("matmul", b, out.dtype());
  if (!b_data.ok()) return b_data.status();

  // Batch strides in matrices, merged where possible; the last dim becomes the strided
  // batch, the others are walked here.
  absl::StatusOr<Indexer> ix = MakeIndexer(
      "matmul", dims->batch,
      {core::ContiguousStrides(dims->batch), cpu::BroadcastStrides(dims->a_batch, dims->batch),
       cpu::BroadcastStrides(dims->b_batch, dims->batch)});
  if (!ix.ok()) return ix.status();
  Gemm g;
  g.m = m;
  g.n = n;
  g.k = k;
  g.a_transposed = dims->a_transposed;
  g.b_transposed = dims->b_transposed;
  g.lda = g.a_transposed ? m : k;  // an operand the plan has read transposed (fusion.h)
  g.ldb = g.b_transposed ? k : n;
  g.ldc = n;
  int64_t outer = 1;
  if (ix->rank > 0) {
    const int last = ix->rank - 1;
    if (ix->shape[last] > INT32_MAX) {
      return absl::InvalidArgumentError("[matmul] the batch exceeds what cuBLAS can index");
    }
    g.batch = static_cast<int32_t>(ix->shape[last]);
    g.c_stride = ix->strides[0][last] * m * n;
    g.a_stride = ix->strides[1][last] * m * k;
    g.b_stride = ix->strides[2][last] * k * n;
    for (int d = 0; d < last; ++d) outer *= ix->shape[d];
  }
  const size_t size = core::SizeOf(out.dtype());
  const auto* a_bytes = static_cast<const char*>(*a_data);
  const auto* b_bytes = static_cast<const char*>(*b_data);
  auto* c_bytes = static_cast<char*>(out.raw());
  std::vector<GemmOperands> calls;
  calls.reserve(static_cast<size_t>(outer));
  for (int64_t o = 0; o < outer; ++o) {
    // Offsets of the o-th leading index (all dims but the last of the indexer).
    int64_t rest = o, a_off = 0, b_off = 0, c_off = 0;
    for (int d = ix->rank - 2; d >= 0; --d) {
      const int64_t i = rest % ix->shape[d];
      rest /= ix->shape[d];
      c_off += i * ix->strides[0][d] * m * n;
      a_off += i * ix->strides[1][d] * m * k;
      b_off += i * ix->strides[2][d] * k * n;
    }
    calls.push_back({a_bytes + a_off * size, b_bytes + b_off * size, c_bytes + c_off * size});
  }
  return RunGemms(ctx, "matmul", out.dtype(), g, calls);
}

}  // namespace

void RegisterMatmulKernels(KernelTable& table) { table["matmul"] = &Matmul; }

}  // namespace ferry::kernels::cuda
