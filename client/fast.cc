// mlx.core.fast's blocks composed of ferry's ops, in float32 (float64 stays float64), the
// way MLX's own fallbacks compute them.

#include "client/fast.h"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/gated_delta_layout.h"
#include "core/shape.h"

namespace ferry::fast {
namespace {

Dtype ComputeType(const Array& x) { return x.dtype() == float64 ? float64 : float32; }

void CheckFloating(const std::string& op, const Array& x, const char* what) {
  if (!core::IsFloating(x.dtype())) {
    detail::ThrowOpError(
        op, absl::StrCat(what, " must be floating, got ", core::DTypeName(x.dtype()), "."));
  }
}

// x normalized by its last axis's `dims` entries: x[..., start:stop].
Array LastAxis(const Array& x, int64_t start, int64_t stop) {
  Shape begin(x.ndim(), 0), end = x.shape();
  begin.back() = start;
  end.back() = stop;
  return slice(x, begin, end);
}

// An optional (D,) parameter, checked and cast to `dtype`.
std::optional<Array> Parameter(const std::string& op, const char* name,
                               const std::optional<Array>& p, int64_t dim, Dtype dtype) {
  if (!p) return std::nullopt;
  if (p->ndim() != 1 || p->shape()[0] != dim) {
    detail::ThrowOpError(op, absl::StrCat(name, " must have shape (", dim, ",), got ",
                                          core::ShapeToString(p->shape()), "."));
  }
  return astype(*p, dtype);
}

}  // namespace

Array layer_norm(const Array& x, const std::optional<Array>& weight,
                 const std::optional<Array>& bias, float eps) {
  CheckFloating("layer_norm", x, "x");
  if (x.ndim() == 0) detail::ThrowOpError("layer_norm", "x must have rank at least 1.");
  const Dtype ct = ComputeType(x);
  const int64_t dim = x.shape().back();
  const std::optional<Array> w = Parameter("layer_norm", "weight", weight, dim, ct);
  const std::optional<Array> b = Parameter("layer_norm", "bias", bias, dim, ct);
  const Array xf = astype(x, ct);
  const Array centered = xf - mean(xf, -1, true);
  const Array var = mean(centered * centered, -1, true);
  Array y = centered * rsqrt(var + eps);
  if (w) y = y * *w;
  if (b) y = y + *b;
  return astype(y, x.dtype());
}

Array rms_norm(const Array& x, const std::optional<Array>& weight, float eps) {
  CheckFloating("rms_norm", x, "x");
  if (x.ndim() == 0) detail::ThrowOpError("rms_norm", "x must have rank at least 1.");
  const Dtype ct = ComputeType(x);
  const std::optional<Array> w = Parameter("rms_norm", "weight", weight, x.shape().back(), ct);
  const Array xf = astype(x, ct);
  Array y = xf * rsqrt(mean(xf * xf, -1, true) + eps);
  if (w) y = y * *w;
  return astype(y, x.dtype());
}

namespace {

// rope with the positions of x's L rows made by `positions_of` from the compute type and L:
// (L,), or (B, 1, ..., L) for a position per batch row (before scale).
template <typename Positions>
Array RopeAt(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
             const std::optional<Array>& freqs, Positions positions_of) {
  CheckFloating("rope", x, "x");
  if (x.ndim() < 2) {
    detail::ThrowOpError(
        "rope", absl::StrCat("x must have rank at least 2 (..., L, D), got ", x.ndim(), "."));
  }
  const int64_t d = x.shape().back();
  if (dims <= 0 || dims % 2 != 0 || dims > d) {
    detail::ThrowOpError("rope", absl::StrCat("dims ", dims, " must be even, positive and at ",
                                              "most the feature size ", d, "."));
  }
  if (base.has_value() == freqs.has_value()) {
    detail::ThrowOpError("rope", "give exactly one of base and freqs.");
  }
  const Dtype ct = ComputeType(x);
  const int64_t half = dims / 2;
  const int64_t length = x.shape()[x.ndim() - 2];
  const Device& device = x.device();
  Array inv_freqs = [&] {
    if (freqs) {
      if (freqs->ndim() != 1 || freqs->shape()[0] != half) {
        detail::ThrowOpError("rope", absl::StrCat("freqs must have shape (", half, ",), got ",
                                                  core::ShapeToString(freqs->shape()), "."));
      }
      return 1.0 / astype(*freqs, ct);
    }
    return exp(arange(0, static_cast<double>(half), 1, ct, device) *
               (-std::log(static_cast<double>(*base)) / static_cast<double>(half)));
  }();
  const Array positions = positions_of(ct, length) * scale;
  const Array theta = expand_dims(positions, -1) * inv_freqs;
  const Array c = cos(theta), s = sin(theta);
  const Array xf = astype(x, ct);
  Array rotated = [&] {
    if (traditional) {
      // Pairs (x[2i], x[2i+1]): view the first dims features as (..., L, half, 2).
      Shape pairs = x.shape();
      pairs.back() = half;
      pairs.push_back(2);
      const Array xp = reshape(LastAxis(xf, 0, dims), pairs);
      Shape flat = pairs;
      flat.pop_back();
      const Array x1 = reshape(LastAxis(xp, 0, 1), flat);
      const Array x2 = reshape(LastAxis(xp, 1, 2), flat);
      pairs.back() = 1;
      const Array r1 = reshape(x1 * c - x2 * s, pairs);
      const Array r2 = reshape(x1 * s + x2 * c, pairs);
      flat.back() = dims;
      return reshape(concatenate({r1, r2}, -1), flat);
    }
    const Array x1 = LastAxis(xf, 0, half);
    const Array x2 = LastAxis(xf, half, dims);
    return concatenate({x1 * c - x2 * s, x1 * s + x2 * c}, -1);
  }();
  if (dims < d) rotated = concatenate({rotated, LastAxis(xf, dims, d)}, -1);
  return astype(rotated, x.dtype());
}

}  // namespace

Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           int offset, const std::optional<Array>& freqs) {
  const Device& device = x.device();
  return RopeAt(x, dims, traditional, base, scale, freqs, [&](Dtype ct, int64_t length) {
    return arange(offset, static_cast<double>(offset + length), 1, ct, device);
  });
}

Array rope(const Array& x, int dims, bool traditional, std::optional<float> base, float scale,
           const Array& offset, const std::optional<Array>& freqs) {
  // One number, or one per batch row (MLX's (B,) offsets: a batch whose rows are at
  // different positions, as continuous batching's).
  const bool per_row = offset.ndim() == 1 && offset.size() > 1;
  if (offset.dtype() == bool_ || offset.ndim() > 1 ||
      (offset.size() != 1 && !(per_row && x.ndim() >= 3 && offset.size() == x.shape(0)))) {
    detail::ThrowOpError(
        "rope", absl::StrCat("offset must be one number or one per batch row (", x.shape(0),
                             "), got ", core::DTypeName(offset.dtype()), " of shape ",
                             core::ShapeToString(offset.shape()), "."));
  }
  const Device& device = x.device();
  return RopeAt(x, dims, traditional, base, scale, freqs, [&](Dtype ct, int64_t length) {
    const Array steps = arange(0, static_cast<double>(length), 1, ct, device);
    if (!per_row) return steps + reshape(astype(offset, ct), {});
    Shape rows(static_cast<size_t>(x.ndim() - 1), 1);
    rows[0] = offset.size();
    return steps + reshape(astype(offset, ct), rows);
  });
}

Array scaled_dot_product_attention(const Array& queries, const Array& keys, const Array& values,
                                   float scale, const std::string& mask_mode,
                                   const std::optional<Array>& mask,
                                   const std::optional<Array>& sinks) {
  const std::string op = "scaled_dot_product_attention";
  for (const Array* a : {&queries, &keys, &values}) {
    CheckFloating(op, *a, "queries, keys and values");
    if (a->ndim() != 4) {
      detail::ThrowOpError(op, absl::StrCat("queries, keys and values must have rank 4 ",
                                            "(B, heads, length, dim), got shape ",
                                            core::ShapeToString(a->shape()), "."));
    }
  }
  const Shape& q = queries.shape();
  const Shape& k = keys.shape();
  const Shape& v = values.shape();
  if (k[1] != v[1] || k[2] != v[2] || q[3] != k[3] || k[1] == 0 || q[1] % k[1] != 0 ||
      q[0] != k[0] || k[0] != v[0]) {
    detail::ThrowOpError(op, absl::StrCat("shapes ", core::ShapeToString(q), ", ",
                                          core::ShapeToString(k), " and ", core::ShapeToString(v),
                                          " do not fit (B, Hq, L, D), (B, Hkv, S, D), "
                                          "(B, Hkv, S, Dv) with Hq a multiple of Hkv."));
  }
  if (mask_mode != "" && mask_mode != "causal") {
    detail::ThrowOpError(op,
                         absl::StrCat("mask_mode '", mask_mode, "' is neither '' nor 'causal'."));
  }
  if (mask_mode == "causal" && mask) {
    detail::ThrowOpError(op, "give either mask_mode 'causal' or a mask, not both.");
  }
  if (sinks.has_value()) {
    CheckFloating(op, *sinks, "sinks");
    if (sinks->shape() != Shape{q[1]}) {
      detail::ThrowOpError(
          op, absl::StrCat("sinks must have shape (", q[1], ",), one per query head, got ",
                           core::ShapeToString(sinks->shape()), "."));
    }
  }
  const Dtype ct = ComputeType(queries);
  const Device& device = queries.device();
  Array kf = astype(keys, ct), vf = astype(values, ct);
  const int64_t repeats = q[1] / k[1];
  if (repeats > 1) {  // each key/value head serves `repeats` query heads, in order
    auto widen = [&](const Array& a) {
      const Shape& s = a.shape();
      return reshape(
          broadcast_to(reshape(a, {s[0], s[1], 1, s[2], s[3]}), {s[0], s[1], repeats, s[2], s[3]}),
          {s[0], s[1] * repeats, s[2], s[3]});
    };
    kf = widen(kf);
    vf = widen(vf);
  }
  Array scores = matmul(astype(queries, ct) * scale, transpose(kf, {0, 1, 3, 2}));
  const double neg_inf = -std::numeric_limits<double>::infinity();
  if (mask_mode == "causal") {
    const int64_t length = q[2], keys_len = k[2];
    const Array rows = reshape(arange(static_cast<double>(keys_len - length),
                                      static_cast<double>(keys_len), 1, int32, device),
                               {length, 1});
    const Array cols = arange(0, static_cast<double>(keys_len), 1, int32, device);
    scores = where(rows < cols, neg_inf, scores);
  } else if (mask) {
    absl::StatusOr<Shape> joined = core::BroadcastShapes(mask->shape(), scores.shape());
    if (!joined.ok() || *joined != scores.shape()) {
      detail::ThrowOpError(op, absl::StrCat("mask of shape ", core::ShapeToString(mask->shape()),
                                            " does not broadcast to the scores' shape ",
                                            core::ShapeToString(scores.shape()), "."));
    }
    scores = mask->dtype() == bool_ ? where(*mask, scores, neg_inf) : scores + astype(*mask, ct);
  }
  if (!sinks.has_value()) return astype(matmul(softmax(scores, -1), vf), queries.dtype());
  // The sink is one more column of each row's softmax, left out of the product.
  const Shape& s = scores.shape();
  const Array sink_column =
      broadcast_to(reshape(astype(*sinks, ct), {1, s[1], 1, 1}), {s[0], s[1], s[2], 1});
  const Array weights = softmax(concatenate({scores, sink_column}, 3), -1);
  return astype(matmul(slice(weights, {0, 0, 0, 0}, {s[0], s[1], s[2], s[3]}), vf),
                queries.dtype());
}

std::pair<Array, Array> gated_delta_update(const Array& q, const Array& k, const Array& v,
                                           const Array& g, const Array& beta,
                                           const std::optional<Array>& state,
                                           const std::optional<Array>& mask) {
  constexpr char kOp[] = "gated_delta";
  if (q.ndim() != 4 || v.ndim() != 4) {
    detail::ThrowOpError(kOp, absl::StrCat("q must be (B, T, Hk, Dk) and v (B, T, Hv, Dv), got ",
                                           core::ShapeToString(q.shape()), " and ",
                                           core::ShapeToString(v.shape()), "."));
  }
  const Shape& qs = q.shape();
  const Shape& vs = v.shape();
  const Array s = state ? *state : zeros({qs[0], vs[2], vs[3], qs[3]}, float32, q.device());
  std::vector<Array> inputs = {q, k, v, g, beta, s};
  if (mask) inputs.push_back(mask->dtype() == bool_ ? *mask : astype(*mask, bool_));
  // One op, its two results packed per batch row (core/gated_delta_layout.h).
  const Array packed = detail::MakeOp(kOp, inputs, {});
  const core::GatedDeltaDims d = core::GatedDeltaDimsOf(qs, vs, g.shape());
  const Array y = slice(packed, {0, 0}, {d.b, d.YSize()});
  const Array new_state = slice(packed, {0, d.YSize()}, {d.b, d.RowSize()});
  return {astype(reshape(y, {d.b, d.t, d.hv, d.dv}), q.dtype()),
          astype(reshape(new_state, {d.b, d.hv, d.dv, d.dk}), s.dtype())};
}

}  // namespace ferry::fast
