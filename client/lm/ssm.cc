#include "client/lm/ssm.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "client/ops.h"

namespace ferry::lm {
namespace {

// a[:, start:start + n], a's other axes whole.
Array Steps(const Array& a, int64_t start, int64_t n) {
  Shape from(a.ndim(), 0), to = a.shape();
  from[1] = start;
  to[1] = start + n;
  return slice(a, from, to);
}

// mlx-lm's _step: one chunk of dtx (B, S, H, head_dim), dtA (B, S, H), B and C (B, S, G,
// d_state), its mask (B, S), from `state`: its outputs (B, S, H, head_dim) and the state after.
std::pair<Array, Array> Chunk(const Array& dtx, const Array& dtA, const Array& B, const Array& C,
                              const std::optional<Array>& state, const std::optional<Array>& mask,
                              Dtype dtype) {
  const int64_t b = dtx.shape(0), s = dtx.shape(1), h = dtx.shape(2), dh = dtx.shape(3);
  const int64_t g = B.shape(2), d = B.shape(3), repeats = h / g;
  const Array bt = transpose(B, {0, 2, 3, 1});                         // (B, G, d, S)
  const Array cb = repeat(matmul(swapaxes(C, 1, 2), bt), repeats, 1);  // (B, H, S, S)
  const Array decay = exp(segsum(swapaxes(dtA, 1, 2), mask));          // (B, H, S, S)
  // The surrogate attention matrix: position i reads j <= i through C_i B_j and the decay.
  Array y = swapaxes(matmul(tril(cb * decay, 0), swapaxes(dtx, 1, 2)), 1, 2);
  // Each position's input decayed to the chunk's end enters the state.
  const Array to_end = transpose(slice(decay, {0, 0, s - 1, 0}, {b, h, s, s}), {0, 3, 1, 2});
  const Array bh = swapaxes(repeat(bt, repeats, 1), 2, 3);  // (B, H, S, d)
  Array next = matmul(swapaxes(swapaxes(dtx * to_end, 1, 2), 2, 3), bh);
  if (state) {
    // The state before, decayed to each position (read by its C) and to the chunk's end.
    const Array decayed = exp(cumsum(dtA, -2));  // (B, S, H)
    next = next + reshape(slice(decayed, {0, s - 1, 0}, {b, s, h}), {b, h, 1, 1}) * *state;
    const Array read = matmul(reshape(*state, {b, 1, g, repeats, dh, d}),
                              reshape(C, {b, s, g, 1, d, 1}));  // (B, S, G, H / G, dh, 1)
    y = y + expand_dims(decayed, -1) * reshape(read, {b, s, h, dh});
  }
  return {astype(y, dtype), next};
}

}  // namespace

Array compute_dt(const Array& dt, const Array& dt_bias, std::pair<float, float> time_step_limit) {
  return clip(softplus(astype(dt, float32) + dt_bias), time_step_limit.first,
              time_step_limit.second);
}

Array segsum(const Array& x, const std::optional<Array>& mask) {
  const int64_t l = x.shape(-1);
  std::optional<Array> m;
  if (mask) m = expand_dims(*mask, 1);
  const Array steps = m ? x * astype(*m, x.dtype()) : x;
  // [..., i, j] = x[i] below the diagonal, summed down the rows.
  Array sums = cumsum(tril(repeat(expand_dims(steps, -1), l, -1), -1), -2);
  if (m) {
    sums = where(logical_and(expand_dims(*m, -2), expand_dims(*m, -1)), sums,
                 -std::numeric_limits<float>::infinity());
  }
  return sums;
}

std::pair<Array, Array> ssm_attn(const Array& x, const Array& A_log, const Array& B, const Array& C,
                                 const Array& D, const Array& dt, const Array& dt_bias,
                                 const std::optional<Array>& state,
                                 std::pair<float, float> time_step_limit,
                                 const std::optional<Array>& mask, int64_t chunk) {
  const int64_t b = x.shape(0), l = x.shape(1), h = x.shape(2);
  const Array step = compute_dt(dt, dt_bias, time_step_limit);  // (B, L, H)
  const Array A = negative(astype(exp(A_log), step.dtype()));
  Array dtA = step * reshape(A, {1, 1, h});
  // A padded step neither decays the state nor feeds it.
  if (mask) dtA = dtA * astype(expand_dims(*mask, -1), dtA.dtype());
  const Array dtx = reshape(step, {b, l, h, 1}) * x;
  std::optional<Array> carried = state;
  std::vector<Array> ys;
  for (int64_t i = 0; i < l; i += chunk) {
    const int64_t n = std::min(chunk, l - i);
    std::pair<Array, Array> out =
        Chunk(Steps(dtx, i, n), Steps(dtA, i, n), Steps(B, i, n), Steps(C, i, n), carried,
              mask ? std::optional<Array>(Steps(*mask, i, n)) : std::nullopt, x.dtype());
    ys.push_back(out.first);
    carried = out.second;
  }
  const Array y = ys.size() == 1 ? ys.front() : concatenate(ys, 1);
  return {y + x * reshape(D, {1, 1, h, 1}), *carried};
}

}  // namespace ferry::lm
