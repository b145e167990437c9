// gated_delta and its backward (gated_delta_vjp) through the CUDA backend at Qwen3-Next's
// linear-attention sizes (16 q/k heads, 32 value heads, 128 x 128 states): a decode step of
// a batch, a prefill, and a training step's backward. Each in GB/s of its operands read and
// its result written against a device-to-device cudaMemcpy of the same bytes (a recurrence
// over T steps is bound by the state it keeps and the inputs it streams, not by flops).
// mlx_compare.py times the same in MLX as mlx-lm runs it on CUDA (its ops path). Prints
// RESULT and RATIO lines; SKIP without a GPU.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/cuda/bench_util.h"
#include "core/gated_delta_layout.h"

namespace ferry::bench {
namespace {

// GB/s (read + written) of a device-to-device copy of `bytes`, in buffers of its own.
double CopyGBps(kernels::Backend& backend, size_t bytes) {
  const core::TensorType type{core::DType::kUInt8, {static_cast<int64_t>(bytes)}};
  absl::StatusOr<kernels::Tensor> a = backend.Allocate(type);
  absl::StatusOr<kernels::Tensor> b = backend.Allocate(type);
  Check(a.status());
  Check(b.status());
  return MemcpyGBps(b->raw(), a->raw(), bytes);
}

struct Sizes {
  int64_t b, t, hk = 16, hv = 32, dk = 128, dv = 128;
};

// b rows of t steps; --quick: 2 value heads of 32 x 32 over one q/k head, at most 2 rows of 32.
Sizes SizesOf(int64_t b, int64_t t) {
  if (!Quick()) return Sizes{b, t};
  return Sizes{std::min<int64_t>(b, 2), std::min<int64_t>(t, 32), 1, 2, 32, 32};
}

// Runs `op` on operands of `types` (zeroed: the timing does not depend on the values; the
// gate at 0 keeps every state finite); prints its GB/s and the ratio to the device copy.
void Bench(kernels::Backend& backend, const std::string& name, const std::string& op,
           const std::vector<core::TensorType>& types) {
  absl::StatusOr<core::TensorType> out_type = core::InferOp(op, types, {});
  Check(out_type.status());
  std::vector<kernels::Tensor> inputs;
  double bytes = 0;
  for (const core::TensorType& type : types) {
    absl::StatusOr<kernels::Tensor> t = backend.Allocate(type);
    Check(t.status());
    cudaMemset(t->raw(), 0, t->nbytes());
    bytes += t->nbytes();
    inputs.push_back(*t);
  }
  absl::StatusOr<kernels::Tensor> out = backend.Allocate(*out_type);
  Check(out.status());
  bytes += out->nbytes();
  std::vector<int32_t> operands;
  for (size_t i = 0; i < types.size(); ++i) operands.push_back(static_cast<int32_t>(i));
  const core::Node node{op, operands, {}, *out_type};
  const double seconds = SecondsPerCall([&] { Check(backend.Run(node, inputs, *out)); },
                                        [&] { Check(backend.Synchronize()); });
  Result("mlx_" + name, seconds * 1e3, "ms");  // for mlx_compare.py
  Result(name, bytes / seconds / 1e9, "GB/s");
  Ratio(name + "_vs_memcpy", bytes / seconds / 1e9,
        CopyGBps(backend, static_cast<size_t>(bytes / 2)));
}

std::vector<core::TensorType> ForwardTypes(const Sizes& s, core::DType dtype) {
  constexpr core::DType kF32 = core::DType::kFloat32;
  return {{dtype, {s.b, s.t, s.hk, s.dk}}, {dtype, {s.b, s.t, s.hk, s.dk}},
          {dtype, {s.b, s.t, s.hv, s.dv}}, {kF32, {s.b, s.t, s.hv}},
          {dtype, {s.b, s.t, s.hv}},       {kF32, {s.b, s.hv, s.dv, s.dk}}};
}

void Run() {
  std::unique_ptr<kernels::Backend> backend = CudaBackendOrSkip();
  for (core::DType dtype : {core::DType::kBFloat16, core::DType::kFloat32}) {
    const std::string type = core::DTypeName(dtype);
    // A decode step of 64 rows; a 4096-token prefill of one.
    for (const Sizes& s : {SizesOf(64, 1), SizesOf(1, 4096)}) {
      Bench(*backend, absl::StrCat("gated_delta_", type, "_b", s.b, "_t", s.t), "gated_delta",
            ForwardTypes(s, dtype));
    }
  }
  // Training: 4 rows of 2048 tokens backwards (checkpoints every 46 steps).
  const Sizes s = SizesOf(4, 2048);
  core::GatedDeltaDims d;
  d.b = s.b;
  d.t = s.t;
  d.hv = s.hv;
  d.dv = s.dv;
  d.dk = s.dk;
  std::vector<core::TensorType> types = ForwardTypes(s, core::DType::kBFloat16);
  types.push_back({core::DType::kFloat32, {s.b, d.RowSize()}});
  Bench(*backend, absl::StrCat("gated_delta_vjp_bfloat16_b", s.b, "_t", s.t), "gated_delta_vjp",
        types);
}

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  ferry::bench::ParseFlags(argc, argv);
  ferry::bench::Run();
  return 0;
}
