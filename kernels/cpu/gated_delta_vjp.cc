// gated_delta_vjp (core/ops.h): gated_delta's backward, one (batch row, value head) at a
// time, in float32. Going back through step t needs the state before it: the forward is
// recomputed keeping every C-th state (core::GatedDeltaCheckpointInterval), then each
// segment of C steps is recomputed from its checkpoint and gone back through, last first.

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "core/gated_delta_layout.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/parallel_rows.h"

namespace ferry::kernels::cpu {
namespace {

constexpr char kOp[] = "gated_delta_vjp";

struct Operands {
  const float *q, *k, *v, *g, *beta, *state, *cotangent;
  const uint8_t* mask;  // nullptr: every step kept
};

// One step's operands for value head h of batch row b.
struct Step {
  const float *q, *k, *v, *g;
  int64_t g_step;  // 1 for a vector gate, 0 for one decay per head
  float beta;
  bool keep;
};

Step StepAt(const core::GatedDeltaDims& d, const Operands& in, int64_t b, int64_t h, int64_t t) {
  const int64_t hq = h / (d.hv / d.hk);
  const int64_t bt = b * d.t + t;
  return {in.q + (bt * d.hk + hq) * d.dk,
          in.k + (bt * d.hk + hq) * d.dk,
          in.v + (bt * d.hv + h) * d.dv,
          in.g + (bt * d.hv + h) * (d.vector_gate ? d.dk : 1),
          d.vector_gate ? 1 : 0,
          in.beta[bt * d.hv + h],
          in.mask == nullptr || in.mask[bt] != 0};
}

// The forward's update of the state `s` (Dv rows of Dk), as kernels/cpu/gated_delta.cc.
void Forward(const core::GatedDeltaDims& d, const Step& st, float* s) {
  if (!st.keep) return;
  for (int64_t i = 0; i < d.dv; ++i) {
    float* row = s + i * d.dk;
    float kv = 0;
    for (int64_t j = 0; j < d.dk; ++j) kv += row[j] * st.g[j * st.g_step] * st.k[j];
    const float delta = (st.v[i] - kv) * st.beta;
    for (int64_t j = 0; j < d.dk; ++j) row[j] = row[j] * st.g[j * st.g_step] + st.k[j] * delta;
  }
}

// Where step t's cotangents go in batch row b's packed result, for value head h.
struct Grads {
  float *dq, *dk, *dv, *dg, *dbeta;
};

// Back through one step from the state `prev` before it: `ds` holds the cotangent of the
// state after the step on entry and of `prev` on return; `dy` is y[t]'s. With A = prev * g,
// delta = (v - A k) beta, U = A + delta k^T, y = U q and the new state U (kept) or prev.
void Backward(const core::GatedDeltaDims& d, const Step& st, const float* prev, const float* dy,
              float* ds, const Grads& out) {
  std::fill(out.dq, out.dq + d.dk, 0.0f);
  std::fill(out.dk, out.dk + d.dk, 0.0f);
  std::fill(out.dg, out.dg + (d.vector_gate ? d.dk : 1), 0.0f);
  float dbeta = 0;
  for (int64_t i = 0; i < d.dv; ++i) {
    const float* row = prev + i * d.dk;
    float* ds_row = ds + i * d.dk;
    float kv = 0, ddelta = 0;
    for (int64_t j = 0; j < d.dk; ++j) {
      kv += row[j] * st.g[j * st.g_step] * st.k[j];
      ddelta += (dy[i] * st.q[j] + (st.keep ? ds_row[j] : 0.0f)) * st.k[j];
    }
    const float diff = st.v[i] - kv;
    const float delta = diff * st.beta;
    const float dkv = -ddelta * st.beta;
    out.dv[i] = ddelta * st.beta;
    dbeta += ddelta * diff;
    for (int64_t j = 0; j < d.dk; ++j) {
      const float gj = st.g[j * st.g_step];
      const float a = row[j] * gj;
      const float du = dy[i] * st.q[j] + (st.keep ? ds_row[j] : 0.0f);
      const float da = du + dkv * st.k[j];
      out.dq[j] += (a + st.k[j] * delta) * dy[i];
      out.dk[j] += du * delta + dkv * a;
      out.dg[j * st.g_step] += da * row[j];
      ds_row[j] = (st.keep ? 0.0f : ds_row[j]) + da * gj;
    }
  }
  *out.dbeta = dbeta;
}

// The floats BackwardHead keeps: ceil(T / C) checkpoints and a segment's C states.
int64_t HeadScratch(const core::GatedDeltaDims& d) {
  const int64_t c = core::GatedDeltaCheckpointInterval(d.t);
  return ((d.t + c - 1) / c + c) * d.dv * d.dk;
}

void BackwardHead(const core::GatedDeltaDims& d, const Operands& in, int64_t b, int64_t h,
                  float* row_out, float* scratch) {
  const int64_t size = d.dv * d.dk;
  const int64_t c = core::GatedDeltaCheckpointInterval(d.t);
  const int64_t segments = (d.t + c - 1) / c;
  float* checkpoints = scratch;
  float* states = scratch + segments * size;
  float* ds = row_out + d.GradStateAt() + h * size;
  std::copy(in.state + (b * d.hv + h) * size, in.state + (b * d.hv + h + 1) * size, ds);
  for (int64_t t = 0; t < d.t; ++t) {  // ds holds the state here, until the backward starts
    if (t % c == 0) std::copy(ds, ds + size, checkpoints + t / c * size);
    Forward(d, StepAt(d, in, b, h, t), ds);
  }
  const float* cotangent = in.cotangent + b * d.RowSize();
  const float* ds_final = cotangent + d.YSize() + h * size;
  std::copy(ds_final, ds_final + size, ds);
  const int64_t gate = d.vector_gate ? d.dk : 1;
  for (int64_t seg = segments - 1; seg >= 0; --seg) {
    const int64_t t0 = seg * c, t1 = std::min(d.t, t0 + c);
    std::copy(checkpoints + seg * size, checkpoints + (seg + 1) * size, states);
    for (int64_t t = t0 + 1; t < t1; ++t) {
      float* s = states + (t - t0) * size;
      std::copy(s - size, s, s);
      Forward(d, StepAt(d, in, b, h, t - 1), s);
    }
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t th = t * d.hv + h;
      const Grads out{row_out + th * d.dk, row_out + d.GradKAt() + th * d.dk,
                      row_out + d.GradVAt() + th * d.dv, row_out + d.GradGAt() + th * gate,
                      row_out + d.GradBetaAt() + th};
      Backward(d, StepAt(d, in, b, h, t), states + (t - t0) * size, cotangent + th * d.dv, ds, out);
    }
  }
}

absl::Status GatedDeltaVjp(const core::Node& node, absl::Span<const Tensor> inputs,
                           const Tensor& out) {
  const core::GatedDeltaDims d =
      core::GatedDeltaDimsOf(inputs[0].shape(), inputs[2].shape(), inputs[3].shape());
  if (out.dtype() != core::DType::kFloat32 || out.size() != d.b * d.GradRowSize()) {
    return absl::InternalError(
        absl::StrCat("[", kOp, "] unexpected output ", core::TypeToString(out.type)));
  }
  HostScratch scratch[7];
  const float* f[7];
  for (int i = 0; i < 7; ++i) {
    absl::StatusOr<const void*> data =
        ElementsAs(node.op, inputs[i], core::DType::kFloat32, scratch[i]);
    if (!data.ok()) return data.status();
    f[i] = static_cast<const float*>(*data);
  }
  const Operands in{f[0], f[1], f[2], f[3],
                    f[4], f[5], f[6], inputs.size() > 7 ? inputs[7].data<uint8_t>() : nullptr};
  float* packed = out.data<float>();
  // Every head's checkpoints at once, counted against the backend's budget.
  const int64_t per_head = HeadScratch(d);
  HostScratch held;
  absl::StatusOr<void*> kept = held.Take(
      node.op, std::max<int64_t>(1, d.b * d.hv * per_head) * static_cast<int64_t>(sizeof(float)));
  if (!kept.ok()) return kept.status();
  float* heads = static_cast<float*>(*kept);
  // Each (batch row, value head) writes only its own entries of its batch row.
  ForRowsInParallel(d.b * d.hv, 1, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      BackwardHead(d, in, r / d.hv, r % d.hv, packed + r / d.hv * d.GradRowSize(),
                   heads + r * per_head);
    }
  });
  return absl::OkStatus();
}

}  // namespace

void RegisterGatedDeltaVjpKernels(KernelTable& table) { table[kOp] = &GatedDeltaVjp; }

}  // namespace ferry::kernels::cpu
