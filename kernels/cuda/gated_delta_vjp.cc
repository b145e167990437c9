// gated_delta_vjp's host side: gated_delta's operands and the cotangent as float32
// (converted copies in scratch where stored in 16 bits), the checkpoints' scratch, then
// gated_delta_vjp.cu's one launch.

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
  absl::StatusOr<GatedDeltaArgs> forward = GatedDeltaOperands(ctx, node, inputs, /*mask_at=*/7);
  if (!forward.ok()) return forward.status();
  absl::StatusOr<const void*> cotangent = ctx.ElementsAs(node.op, inputs[6], core::DType::kFloat32);
  if (!cotangent.ok()) return cotangent.status();
  GatedDeltaVjpArgs args;
  static_cast<GatedDeltaArgs&>(args) = *forward;
  args.cotangent = static_cast<const float*>(*cotangent);
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
