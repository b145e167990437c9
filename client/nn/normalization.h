#ifndef FERRY_CLIENT_NN_NORMALIZATION_H_
#define FERRY_CLIENT_NN_NORMALIZATION_H_

#include <cstdint>

#include "client/nn/module.h"

namespace ferry::nn {

// fast::layer_norm over the last axis, with weight (ones) and bias (zeros) of (dims,) when
// affine (bias only with `bias`), as MLX's LayerNorm.
class LayerNorm : public Layer {
 public:
  explicit LayerNorm(int64_t dims, float eps = 1e-5f, bool affine = true, bool bias = true);
  Array operator()(const Array& x) override;

 private:
  float eps_;
};

// fast::rms_norm over the last axis with weight (ones) of (dims,), as MLX's RMSNorm.
class RMSNorm : public Layer {
 public:
  explicit RMSNorm(int64_t dims, float eps = 1e-5f);
  Array operator()(const Array& x) override;

 private:
  float eps_;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_NORMALIZATION_H_
