#ifndef FERRY_CORE_GATED_DELTA_LAYOUT_H_
#define FERRY_CORE_GATED_DELTA_LAYOUT_H_

// gated_delta (core/ops.h) has two results, y (B, T, Hv, Dv) and the final state
// (B, Hv, Dv, Dk); as the factorizations' (linalg_layout.h), they come packed in one float32
// array (B, T*Hv*Dv + Hv*Dv*Dk): each batch row's y, row-major, then its state. Every
// backend writes and the client reads them through these sizes.

#include <cstdint>

#include "core/shape.h"

namespace ferry::core {

struct GatedDeltaDims {
  int64_t b = 0, t = 0, hk = 0, hv = 0, dk = 0, dv = 0;
  bool vector_gate = false;  // g is (B, T, Hv, Dk) rather than (B, T, Hv)

  int64_t YSize() const { return t * hv * dv; }       // one batch row's y
  int64_t StateSize() const { return hv * dv * dk; }  // one batch row's state
  int64_t RowSize() const { return YSize() + StateSize(); }
};

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
