// gated_delta_vjp's host side: every operand as float32 (converted copies in scratch where
// it is stored in 16 bits), the checkpoints' scratch, then gated_delta_vjp.cu's one launch.

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/gated_delta_layout.h"
#include "kernels/cuda/kernels.h"

namespace ferry::kernels::cuda {
namespace {

absl::Status GatedDeltaVjp(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                           const Tensor& out) {
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(inputs[0].shape(), inputs[2].shape(), inputs[3].shape());
  if (out.dtype() != core::DType::kFloat32 || out.size() != d.b * d.GradRowSize()) {
    return absl::InternalError(
        absl::StrCat("[", node.op, "] unexpected output ", core::TypeToString(out.type)));
  }
  if (out.size() == 0) return absl::OkStatus();
  const float* f[7];
  for (int i = 0; i < 7; ++i) {
    absl::StatusOr<const void*> data = ctx.ElementsAs(node.op, inputs[i], core::DType::kFloat32);
    if (!data.ok()) return data.status();
    f[i] = static_cast<const float*>(*data);
  }
  GatedDeltaVjpArgs args{f[0], f[1], f[2], f[3], f[4], f[5], f[6], nullptr};
  if (inputs.size() > 7) args.mask = inputs[7].data<uint8_t>();
  args.b = d.b;
  args.t = d.t;
  args.hk = d.hk;
  args.hv = d.hv;
  args.dk = d.dk;
  args.dv = d.dv;
  args.vector_gate = d.vector_gate;
  args.interval = core::GatedDeltaCheckpointInterval(d.t);
  const int64_t segments = (d.t + args.interval - 1) / args.interval;
  args.scratch_per_block = (segments + args.interval) * d.dv * d.dk + 3 * d.dv + d.dk;
  absl::StatusOr<void*> scratch = ctx.Scratch(
      node.op, static_cast<size_t>(d.b * d.hv * args.scratch_per_block) * sizeof(float));
  if (!scratch.ok()) return scratch.status();
  return CheckCuda(
      node.op, "launch",
      LaunchGatedDeltaVjp(args, out.data<float>(), static_cast<float*>(*scratch), ctx.stream()));
}

}  // namespace

void RegisterGatedDeltaVjpKernels(KernelTable& table) { table["gated_delta_vjp"] = &GatedDeltaVjp; }

}  // namespace ferry::kernels::cuda
