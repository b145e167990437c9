#ifndef FERRY_CLIENT_FAST_H_
#define FERRY_CLIENT_FAST_H_

// Neural-network blocks, after mlx.core.fast. Each is composed of ferry's ops and
// computes in float32 (float64 stays float64), then returns the input's dtype; bad
// arguments throw ferry::Error ("[layer_norm] ...") at the line that built them.

#include <optional>
#include <string>
#include <utility>

#include "client/array.h"

namespace ferry::fast {

// (x - mean) / sqrt(var + eps) over the last axis, then * weight + bias (each optional,
// of shape (x.shape(-1),)). x must be floating.
Array layer_norm(const Array& x, const std::optional<Array>& weight,
                 const std::optional<Array>& bias, float eps = 1e-5f);

// x / sqrt(mean(x^2) + eps) over the last axis, then * weight (optional, (x.shape(-1),)).
Array rms_norm(const Array& x, const std::optional<Array>& weight, float eps = 1e-5f);

// Rotary position embedding of the first `dims` features of x (..., L, D), positions
// offset..offset+L-1 along axis -2 times `scale`, frequencies base^(-2i/dims) (or 1/freqs
// when `freqs` (dims/2,) is given). traditional rotates adjacent pairs (x[2i], x[2i+1]);
// otherwise the halves (x[i], x[i + dims/2]). Features past `dims` pass through.
Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           int offset, const std::optional<Array>& freqs = std::nullopt);
// The same with the offset an array (MLX's overload): a decoder's position read on the
// device, so one graph serves every step. One number, or (B,) for x (B, ..., L, D): each
// batch row's own position (a batch of sequences at different points).
Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const Array& offset, const std::optional<Array>& freqs = std::nullopt);

// softmax(q k^T * scale + mask) v for q (B, Hq, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv),
// Hq a multiple of Hkv (grouped-query attention: each key/value head serves Hq/Hkv query
// heads). mask_mode "causal" lets query i see keys up to i + S - L; otherwise `mask`, if
// given, broadcasts to (B, Hq, L, S): bool keeps where true, a floating mask is added.
// `sinks` (Hq,), as MLX's: a logit per query head that joins every row's softmax as one
// more key with no value (gpt-oss's attention sinks), so a query may attend to nothing.
Array scaled_dot_product_attention(const Array& queries, const Array& keys, const Array& values,
                                   float scale, const std::string& mask_mode = "",
                                   const std::optional<Array>& mask = std::nullopt,
                                   const std::optional<Array>& sinks = std::nullopt);

// The gated delta rule's recurrence (Qwen3-Next's and Qwen3.5's linear attention), one
// core op (gated_delta) on every backend, as mlx-lm's gated_delta_ops: q, k (B, T, Hk, Dk),
// v (B, T, Hv, Dv) with Hv a multiple of Hk (each q/k head serves Hv/Hk value heads),
// g (B, T, Hv) or (B, T, Hv, Dk) the decay, beta (B, T, Hv), state (B, Hv, Dv, Dk) (zeros
// in float32 when absent). Per step t: S = S * g[t]; delta = (v[t] - S k[t]) * beta[t];
// S = S + delta k[t]^T; y[t] = S q[t]. mask (B, T), if given, keeps the old S at its false
// steps (their y is still computed, as gated_delta_ops does; mlx-lm's Metal kernel writes
// 0 there). Inputs float32, float16 or bfloat16, computed in float32. Returns {y (B, T, Hv,
// Dv) in q's dtype, the final state in state's dtype}. Differentiable in every input but
// the mask (gated_delta_vjp recomputes the states from checkpoints). The caller normalizes q
// and k (mlx-lm's normalize_qk) and makes g and beta (compute_g, sigmoid): no scale here.
std::pair<Array, Array> gated_delta_update(const Array& q, const Array& k, const Array& v,
                                           const Array& g, const Array& beta,
                                           const std::optional<Array>& state = std::nullopt,
                                           const std::optional<Array>& mask = std::nullopt);

}  // namespace ferry::fast

#endif  // FERRY_CLIENT_FAST_H_
