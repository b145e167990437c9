#include "client/lm/gated_delta.h"

#include "client/fast.h"
#include "client/ops.h"

namespace ferry::lm {

Array compute_g(const Array& A_log, const Array& a, const Array& dt_bias) {
  return exp(-exp(astype(A_log, float32)) * softplus(a + dt_bias));
}

std::pair<Array, Array> normalize_qk(const Array& q, const Array& k, double inv_scale, double eps) {
  // fast::rms_norm adds eps to the mean of the squares, the reference l2norm to their sum.
  const float rms_eps = static_cast<float>(eps * inv_scale * inv_scale);
  return {fast::rms_norm(q, std::nullopt, rms_eps) * static_cast<float>(inv_scale * inv_scale),
          fast::rms_norm(k, std::nullopt, rms_eps) * static_cast<float>(inv_scale)};
}

std::pair<Array, Array> gated_delta_update(const Array& q, const Array& k, const Array& v,
                                           const Array& a, const Array& b, const Array& A_log,
                                           const Array& dt_bias, const std::optional<Array>& state,
                                           const std::optional<Array>& mask,
                                           bool allow_neg_eigval) {
  const Array beta = allow_neg_eigval ? sigmoid(b) * 2.0 : sigmoid(b);
  const Array g = compute_g(A_log, a, dt_bias);
  const Array initial =
      state ? *state : zeros({q.shape(0), v.shape(2), v.shape(3), q.shape(3)}, float32, q.device());
  return fast::gated_delta_update(q, k, v, g, beta, initial, mask);
}

}  // namespace ferry::lm
