// The vjp of gated_delta: one gated_delta_vjp op (the recurrence run backwards from
// recomputed checkpoints), its packed cotangents sliced apart (core/gated_delta_layout.h).

#include <cstdint>
#include <vector>

#include "client/array_node.h"
#include "client/ops.h"
#include "client/vjp/registry.h"
#include "core/gated_delta_layout.h"

namespace ferry::detail {
namespace {

VjpResult GatedDeltaVjp(const VjpArgs& args) {
  const std::vector<Array>& in = args.inputs;
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(in[0].shape(), in[2].shape(), in[3].shape());
  std::vector<Array> operands(in.begin(), in.begin() + 6);
  operands.push_back(astype(args.cotangent, float32));
  if (in.size() > 6) operands.push_back(in[6]);  // the mask, which gets no cotangent
  const Array packed = MakeOp("gated_delta_vjp", operands, {});
  auto part = [&](int64_t at, int64_t size, const Shape& shape) {
    return reshape(slice(packed, {0, at}, {d.b, at + size}), shape);
  };
  // dq and dk come per value head: the Hv/Hk heads that share a q/k head add up.
  auto per_key_head = [&](int64_t at) {
    return sum(part(at, d.t * d.hv * d.dk, {d.b, d.t, d.hk, d.hv / d.hk, d.dk}), 3);
  };
  VjpResult grads(in.size());
  grads[0] = per_key_head(0);
  grads[1] = per_key_head(d.GradKAt());
  grads[2] = part(d.GradVAt(), d.t * d.hv * d.dv, in[2].shape());
  grads[3] = part(d.GradGAt(), d.GradBetaAt() - d.GradGAt(), in[3].shape());
  grads[4] = part(d.GradBetaAt(), d.t * d.hv, in[4].shape());
  grads[5] = part(d.GradStateAt(), d.StateSize(), in[5].shape());
  return grads;
}

}  // namespace

void RegisterGatedDeltaVjp(VjpTable& table) { table["gated_delta"] = &GatedDeltaVjp; }

}  // namespace ferry::detail
