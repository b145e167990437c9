#include "client/nn/positional_encoding.h"

#include <cmath>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/ops.h"

namespace ferry::nn {

RoPE::RoPE(int dims, bool traditional, float base, float scale)
    : dims_(dims), traditional_(traditional), base_(base), scale_(scale) {}

Array RoPE::operator()(const Array& x, int offset) {
  return fast::rope(x, dims_, traditional_, base_, scale_, offset);
}

Array RoPE::operator()(const Array& x, const Array& offset) {
  return fast::rope(x, dims_, traditional_, base_, scale_, offset);
}

SinusoidalPositionalEncoding::SinusoidalPositionalEncoding(int dims, double min_freq,
                                                           double max_freq,
                                                           std::optional<double> scale,
                                                           bool cos_first, bool full_turns)
    : scale_(scale.value_or(std::sqrt(2.0 / dims))), cos_first_(cos_first) {
  if (dims <= 0 || dims % 2 != 0) {
    detail::ThrowOpError("SinusoidalPositionalEncoding",
                         absl::StrCat("dims must be positive and even, got ", dims, "."));
  }
  const int half = dims / 2;
  const float low = static_cast<float>(std::log(min_freq));
  const float high = static_cast<float>(std::log(max_freq));
  for (int i = 0; i < half; ++i) {
    // From 1 down to 0 in float32, as MLX: the first frequency is max_freq.
    const float one_zero =
        half == 1 ? 1.0f : 1.0f - static_cast<float>(i) / static_cast<float>(half - 1);
    float sigma = std::exp(one_zero * (high - low) + low);
    if (full_turns) sigma *= static_cast<float>(2 * M_PI);
    sigmas_.push_back(sigma);
  }
}

Array SinusoidalPositionalEncoding::operator()(const Array& x) {
  const Array sigmas = from_host(sigmas_, {static_cast<int64_t>(sigmas_.size())}, x.device());
  const Array y = expand_dims(x, -1) * sigmas;
  const Array both =
      cos_first_ ? concatenate({cos(y), sin(y)}, -1) : concatenate({sin(y), cos(y)}, -1);
  return scale_ != 1 ? both * scale_ : both;
}

Array ALiBi::create_alibi_slope(int num_heads, Dtype dtype) {
  std::function<std::vector<double>(int)> slopes = [&](int n) {
    std::vector<double> out;
    const double log2n = std::log2(static_cast<double>(n));
    if (log2n == std::floor(log2n)) {
      const double start = std::pow(2.0, -std::pow(2.0, -(log2n - 3)));
      for (int i = 0; i < n; ++i) out.push_back(start * std::pow(start, i));
      return out;
    }
    const int closest = 1 << static_cast<int>(std::floor(log2n));
    out = slopes(closest);
    const std::vector<double> doubled = slopes(2 * closest);
    for (int i = 0; i < n - closest; ++i) out.push_back(doubled[2 * i]);
    return out;
  };
  if (num_heads <= 0) {
    detail::ThrowOpError("ALiBi", absl::StrCat("num_heads must be positive, got ", num_heads, "."));
  }
  const std::vector<double> values = slopes(num_heads);
  return astype(from_host(values, {num_heads, 1, 1}), dtype);
}

Array ALiBi::create_alibi_matrix(int64_t q_length, int64_t k_length, int num_heads, int offset,
                                 Dtype dtype) {
  const Array queries =
      arange(static_cast<double>(offset), static_cast<double>(q_length), 1.0, int32);
  const Array keys = arange(static_cast<double>(k_length), int32);
  const Array distance = -abs(expand_dims(queries, 1) - expand_dims(keys, 0));
  return astype(expand_dims(distance, {0, 1}) * create_alibi_slope(num_heads, dtype), dtype);
}

Array ALiBi::operator()(const Array& attention_scores, int offset,
                        const std::optional<Array>& mask) {
  if (attention_scores.ndim() != 4) {
    detail::ThrowOpError("ALiBi", "attention_scores must be (batch, heads, queries, keys).");
  }
  Array bias = create_alibi_matrix(attention_scores.shape(2) + offset, attention_scores.shape(3),
                                   static_cast<int>(attention_scores.shape(1)), offset,
                                   attention_scores.dtype())
                   .to(attention_scores.device());
  if (mask) bias = bias + *mask;
  return attention_scores + bias;
}

}  // namespace ferry::nn
