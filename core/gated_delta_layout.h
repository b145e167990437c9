#ifndef FERRY_CORE_GATED_DELTA_LAYOUT_H_
#define FERRY_CORE_GATED_DELTA_LAYOUT_H_

// gated_delta (core/ops.h) has two results, y (B, T, Hv, Dv) and the final state
// (B, Hv, Dv, Dk); as the factorizations' (linalg_layout.h), they come packed in one float32
// array (B, T*Hv*Dv + Hv*Dv*Dk): each batch row's y, row-major, then its state. Every
// backend writes and the client reads them through these sizes.
//
// gated_delta_vjp, its backward, returns the cotangents of q, k, v, g, beta and the state
// packed the same way, float32 (B, GradRowSize()): per batch row dq and dk per value head
// (T, Hv, Dk) each (the client sums the value heads a q/k head serves), dv (T, Hv, Dv),
// dg (T, Hv) or (T, Hv, Dk), dbeta (T, Hv), then the initial state's (Hv, Dv, Dk).

#include <cstdint>

#include "core/shape.h"

namespace ferry::core {

struct GatedDeltaDims {
  int64_t b = 0, t = 0, hk = 0, hv = 0, dk = 0, dv = 0;
  bool vector_gate = false;  // g is (B, T, Hv, Dk) rather than (B, T, Hv)

  int64_t YSize() const { return t * hv * dv; }       // one batch row's y
  int64_t StateSize() const { return hv * dv * dk; }  // one batch row's state
  int64_t RowSize() const { return YSize() + StateSize(); }

  // gated_delta_vjp's row: where each cotangent starts in it.
  int64_t GradKAt() const { return t * hv * dk; }
  int64_t GradVAt() const { return 2 * t * hv * dk; }
  int64_t GradGAt() const { return GradVAt() + t * hv * dv; }
  int64_t GradBetaAt() const { return GradGAt() + t * hv * (vector_gate ? dk : 1); }
  int64_t GradStateAt() const { return GradBetaAt() + t * hv; }
  int64_t GradRowSize() const { return GradStateAt() + StateSize(); }
};

// The steps between the states gated_delta_vjp's backends keep while they recompute the
// forward (ceil(sqrt(T)), at least 1): O(T/C + C) states per (batch row, value head), each
// segment of C steps recomputed from its checkpoint before going back through it.
inline int64_t GatedDeltaCheckpointInterval(int64_t t) {
  int64_t c = 1;
  while (c * c < t) ++c;
  return c;
}

// The dims of q (B, T, Hk, Dk), v (B, T, Hv, Dv) and g, shapes inference has checked.
inline GatedDeltaDims GatedDeltaDimsOf(const Shape& q, const Shape& v, const Shape& g) {
  GatedDeltaDims d;
  d.b = q[0];
  d.t = q[1];
  d.hk = q[2];
  d.dk = q[3];
  d.hv = v[2];
  d.dv = v[3];
  d.vector_gate = g.size() == 4;
  return d;
}

}  // namespace ferry::core

#endif  // FERRY_CORE_GATED_DELTA_LAYOUT_H_
