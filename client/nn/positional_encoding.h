#ifndef FERRY_CLIENT_NN_POSITIONAL_ENCODING_H_
#define FERRY_CLIENT_NN_POSITIONAL_ENCODING_H_

#include <optional>
#include <vector>

#include "client/nn/module.h"

namespace ferry::nn {

// Rotary positions on the first `dims` features of x (..., L, D), positions offset,
// offset + 1, ... along axis -2 (fast::rope), as MLX's RoPE. The array offset (one number)
// lets a decoder's step be one graph whatever its position.
class RoPE : public Layer {
 public:
  explicit RoPE(int dims, bool traditional = false, float base = 10000.0f, float scale = 1.0f);
  Array operator()(const Array& x) override { return (*this)(x, 0); }
  Array operator()(const Array& x, int offset);
  Array operator()(const Array& x, const Array& offset);

 private:
  int dims_;
  bool traditional_;
  float base_, scale_;
};

// Sinusoids of x (any shape; a last axis of dims added): sin and cos of x times dims / 2
// frequencies spaced geometrically from max_freq down to min_freq (times 2 pi with
// full_turns), sines first unless cos_first, scaled by `scale` (sqrt(2 / dims) by default),
// as MLX's SinusoidalPositionalEncoding.
class SinusoidalPositionalEncoding : public Layer {
 public:
  explicit SinusoidalPositionalEncoding(int dims, double min_freq = 0.0001, double max_freq = 1,
                                        std::optional<double> scale = std::nullopt,
                                        bool cos_first = false, bool full_turns = false);
  Array operator()(const Array& x) override;

 private:
  std::vector<float> sigmas_;
  double scale_;
  bool cos_first_;
};

// Attention with linear biases (Press et al.), as MLX's ALiBi: adds to attention scores
// (B, heads, L, S) each head's slope times minus the distance between query and key.
class ALiBi : public Module {
 public:
  Array operator()(const Array& attention_scores, int offset = 0,
                   const std::optional<Array>& mask = std::nullopt);
  // (1, heads, q_length - offset, k_length): -|i - j| times the head's slope.
  static Array create_alibi_matrix(int64_t q_length, int64_t k_length, int num_heads,
                                   int offset = 0, Dtype dtype = float32);
  // (heads, 1, 1): the geometric slopes 2^(-8 / heads), its powers (interleaved for counts
  // that are not powers of two).
  static Array create_alibi_slope(int num_heads, Dtype dtype = float32);
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_POSITIONAL_ENCODING_H_
