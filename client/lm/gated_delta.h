#ifndef FERRY_CLIENT_LM_GATED_DELTA_H_
#define FERRY_CLIENT_LM_GATED_DELTA_H_

// The gated delta rule (mlx-lm's models/gated_delta.py), the recurrence of Qwen3-Next's and
// Qwen3.5's linear-attention layers and Kimi Linear's KDA layers (whose decay g is one per
// head and key feature: a (B, T, H, Dk), A_log (H, 1), dt_bias (H, Dk) broadcast by
// compute_g): per head a state S (Dv, Dk), decayed by g, corrected toward each token's value
// by beta, read by its query:
//   S = g S;  S += beta (v - S k) k^T;  y = S q.
// The recurrence itself is one op, fast::gated_delta_update (the gated_delta kernel of every
// backend); here is what mlx-lm computes around it.

#include <optional>
#include <utility>

#include "client/array.h"

namespace ferry::lm {

// mlx-lm's compute_g: the decay exp(-exp(A_log) * softplus(a + dt_bias)), float32.
Array compute_g(const Array& A_log, const Array& a, const Array& dt_bias);

// mlx-lm's normalize_qk: q and k L2-normalized over their features (eps added to the sum
// of squares), q also scaled by inv_scale^2 and k by inv_scale (the readout's Dk^-0.5).
std::pair<Array, Array> normalize_qk(const Array& q, const Array& k, double inv_scale,
                                     double eps = 1e-6);

// mlx-lm's gated_delta_update: beta = sigmoid(b) (times 2 with allow_neg_eigval, OLMo
// hybrid's: beta in [0, 2]), g = compute_g(A_log, a, dt_bias), the state zeros (float32) when
// none is given, then the recurrence. q and k come normalized (normalize_qk). Returns y (in
// q's dtype) and the new state.
std::pair<Array, Array> gated_delta_update(const Array& q, const Array& k, const Array& v,
                                           const Array& a, const Array& b, const Array& A_log,
                                           const Array& dt_bias,
                                           const std::optional<Array>& state = std::nullopt,
                                           const std::optional<Array>& mask = std::nullopt,
                                           bool allow_neg_eigval = false);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_GATED_DELTA_H_
