#ifndef FERRY_CLIENT_LM_SSM_H_
#define FERRY_CLIENT_LM_SSM_H_

// Mamba-2's state-space scan (mlx-lm's models/ssm.py), in its SSD chunked form, composed of
// ferry's ops: per head a state h (head_dim, d_state), decayed by exp(dt A), fed dt x B^T,
// read by C: h = exp(dt A) h + dt x B^T;  y = h C + D x. Within a chunk the scan is a
// masked "attention" (C B^T times the decays between positions); the state carries from
// one chunk to the next. mlx-lm's Metal ssm_update_kernel is only a faster decode step of
// the same recurrence, so it has no counterpart here.

#include <cstdint>
#include <optional>
#include <utility>

#include "client/array.h"

namespace ferry::lm {

// mlx-lm's chunk: the scan's positions taken 256 at a time.
inline constexpr int64_t kSsmChunk = 256;

// mlx-lm's compute_dt: softplus(dt + dt_bias) in float32, clipped to [low, high]
// (time_step_limit).
Array compute_dt(const Array& dt, const Array& dt_bias, std::pair<float, float> time_step_limit);

// mlx-lm's segsum of x (..., L): (..., L, L) whose [i, j] is x[j+1] + ... + x[i] for j < i
// (exp of it: the decay from step j to step i), 0 on and above the diagonal (the caller keeps
// the lower triangle). A `mask` (B, L) bool of x (B, H, L) zeroes its false steps and makes
// every entry of a row or column of theirs -inf (a decay of 0).
Array segsum(const Array& x, const std::optional<Array>& mask = std::nullopt);

// mlx-lm's ssm_attn: x (B, L, H, head_dim), A_log (H), B and C (B, L, G, d_state) with H a
// multiple of G (each group's B and C shared by H / G heads, consecutive), D (H), dt (B, L,
// H), dt_bias (H), the state before (B, H, head_dim, d_state; none: zeros). A `mask` (B, L)
// bool (a batch's left padding, KVCache::arrays_mask) keeps false steps out of the state and
// of the outputs of the others. Returns y (B, L, H, head_dim, x's dtype, plus D x) and the
// state after (float32), the positions taken `chunk` at a time.
std::pair<Array, Array> ssm_attn(const Array& x, const Array& A_log, const Array& B, const Array& C,
                                 const Array& D, const Array& dt, const Array& dt_bias,
                                 const std::optional<Array>& state,
                                 std::pair<float, float> time_step_limit,
                                 const std::optional<Array>& mask = std::nullopt,
                                 int64_t chunk = kSsmChunk);

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_SSM_H_
