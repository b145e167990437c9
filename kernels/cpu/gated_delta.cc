// gated_delta (core/ops.h): the gated delta rule's recurrence, as mlx-lm's gated_delta_ops,
// one (batch row, value head) at a time. Inputs are read as float32 and the state kept in
// float32 in the output's state part (core/gated_delta_layout.h), updated in place.

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/gated_delta_layout.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/parallel_rows.h"

namespace ferry::kernels::cpu {
namespace {

constexpr char kOp[] = "gated_delta";

struct Operands {
  const float *q, *k, *v, *g, *beta;
  const uint8_t* mask;  // nullptr: every step kept
};

// Steps t = 0..T-1 of batch row `b`, value head `h`, on its state `s` (Dv rows of Dk).
void Recur(const core::GatedDeltaDims& d, const Operands& in, int64_t b, int64_t h, float* y,
           float* s) {
  const int64_t hq = h / (d.hv / d.hk);  // the q/k head value head h reads (GQA)
  for (int64_t t = 0; t < d.t; ++t) {
    const int64_t bt = b * d.t + t;
    const float* q = in.q + (bt * d.hk + hq) * d.dk;
    const float* k = in.k + (bt * d.hk + hq) * d.dk;
    const float* v = in.v + (bt * d.hv + h) * d.dv;
    const float* g = in.g + (bt * d.hv + h) * (d.vector_gate ? d.dk : 1);
    const int64_t g_step = d.vector_gate ? 1 : 0;
    const float beta = in.beta[bt * d.hv + h];
    const bool keep = in.mask == nullptr || in.mask[bt] != 0;
    float* y_t = y + (t * d.hv + h) * d.dv;
    for (int64_t i = 0; i < d.dv; ++i) {
      float* row = s + i * d.dk;
      float kv = 0;
      for (int64_t j = 0; j < d.dk; ++j) kv += row[j] * g[j * g_step] * k[j];
      const float delta = (v[i] - kv) * beta;
      float out = 0;
      for (int64_t j = 0; j < d.dk; ++j) {
        const float updated = row[j] * g[j * g_step] + k[j] * delta;
        out += updated * q[j];
        // A masked-out step's y is computed from the update, which the state does not keep
        // (mlx-lm's where(mask, state, old_state)).
        if (keep) row[j] = updated;
      }
      y_t[i] = out;
    }
  }
}

absl::Status GatedDelta(const core::Node& node, absl::Span<const Tensor> inputs,
                        const Tensor& out) {
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(inputs[0].shape(), inputs[2].shape(), inputs[3].shape());
  if (out.dtype() != core::DType::kFloat32 || out.size() != d.b * d.RowSize()) {
    return absl::InternalError(
        absl::StrCat("[", kOp, "] unexpected output ", core::TypeToString(out.type)));
  }
  HostScratch scratch[6];
  const float* f[6];
  for (int i = 0; i < 6; ++i) {
    absl::StatusOr<const void*> data =
        ElementsAs(node.op, inputs[i], core::DType::kFloat32, scratch[i]);
    if (!data.ok()) return data.status();
    f[i] = static_cast<const float*>(*data);
  }
  const Operands in{f[0], f[1], f[2],
                    f[3], f[4], inputs.size() > 6 ? inputs[6].data<uint8_t>() : nullptr};
  float* packed = out.data<float>();
  // Each (batch row, value head) is independent: its y entries and its state.
  ForRowsInParallel(d.b * d.hv, 4, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const int64_t b = r / d.hv, h = r % d.hv;
      float* row = packed + b * d.RowSize();
      float* s = row + d.YSize() + h * d.dv * d.dk;
      const float* s_in = f[5] + (b * d.hv + h) * d.dv * d.dk;
      for (int64_t e = 0; e < d.dv * d.dk; ++e) s[e] = s_in[e];
      Recur(d, in, b, h, row, s);
    }
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterGatedDeltaKernels(KernelTable& table) { table[kOp] = &GatedDelta; }

}  // namespace ferry::kernels::cpu
