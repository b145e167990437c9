// gated_delta's host side: every operand as float32 (converted copies in scratch where it is
// stored in 16 bits), then gated_delta.cu's one launch.

#include <string>

#include "absl/strings/str_cat.h"
#include "core/gated_delta_layout.h"
#include "kernels/cuda/kernels.h"

namespace ferry::kernels::cuda {

absl::StatusOr<GatedDeltaArgs> GatedDeltaOperands(Context& ctx, const core::Node& node,
                                                  absl::Span<const Tensor> inputs, size_t mask_at) {
  const float* f[6];
  for (int i = 0; i < 6; ++i) {
    absl::StatusOr<const void*> data = ctx.ElementsAs(node.op, inputs[i], core::DType::kFloat32);
    if (!data.ok()) return data.status();
    f[i] = static_cast<const float*>(*data);
  }
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(inputs[0].shape(), inputs[2].shape(), inputs[3].shape());
  GatedDeltaArgs args{f[0], f[1], f[2], f[3], f[4], f[5], nullptr};
  if (inputs.size() > mask_at) args.mask = inputs[mask_at].data<uint8_t>();
  args.b = d.b;
  args.t = d.t;
  args.hk = d.hk;
  args.hv = d.hv;
  args.dk = d.dk;
  args.dv = d.dv;
  args.vector_gate = d.vector_gate;
  return args;
}

namespace {

absl::Status GatedDelta(Context& ctx, const core::Node& node, absl::Span<const Tensor> inputs,
                        const Tensor& out) {
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(inputs[0].shape(), inputs[2].shape(), inputs[3].shape());
  if (out.dtype() != core::DType::kFloat32 || out.size() != d.b * d.RowSize()) {
    return absl::InternalError(
        absl::StrCat("[", node.op, "] unexpected output ", core::TypeToString(out.type)));
  }
  if (out.size() == 0) return absl::OkStatus();
  absl::StatusOr<GatedDeltaArgs> args = GatedDeltaOperands(ctx, node, inputs, /*mask_at=*/6);
  if (!args.ok()) return args.status();
  return CheckCuda(node.op, "launch", LaunchGatedDelta(*args, out.data<float>(), ctx.stream()));
}

}  // namespace

void RegisterGatedDeltaKernels(KernelTable& table) { table["gated_delta"] = &GatedDelta; }

}  // namespace ferry::kernels::cuda
