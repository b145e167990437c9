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

// Normalizes each of num_groups groups of the last axis's dims features over the group
// and every axis but the first (the batch), then * weight (ones) + bias (zeros) when affine,
// as MLX's GroupNorm. pytorch_compatible groups adjacent features (PyTorch's GroupNorm);
// otherwise MLX's default, features g, g + num_groups, ... form group g.
class GroupNorm : public Layer {
 public:
  GroupNorm(int num_groups, int64_t dims, float eps = 1e-5f, bool affine = true,
            bool pytorch_compatible = false);
  Array operator()(const Array& x) override;

 private:
  int num_groups_;
  float eps_;
  bool pytorch_compatible_;
};

// Normalizes each feature of each example over its spatial axes (x (N, spatial..., C)), then
// * weight (ones) + bias (zeros) when affine (off by default), as MLX's InstanceNorm.
class InstanceNorm : public Layer {
 public:
  explicit InstanceNorm(int64_t dims, float eps = 1e-5f, bool affine = false);
  Array operator()(const Array& x) override;

 private:
  float eps_;
};

// Normalizes each feature (last axis) of x, of rank 2 to 4, over every other axis, as MLX's
// BatchNorm: in training with the batch's statistics, updating running_mean and running_var
// (momentum; the unbiased variance), which evaluation then uses. Those two are parameters
// that are saved and loaded but never trained.
class BatchNorm : public Layer {
 public:
  explicit BatchNorm(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f,
                     bool affine = true, bool track_running_stats = true);
  Array operator()(const Array& x) override;

 private:
  float eps_, momentum_;
  bool track_running_stats_;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_NORMALIZATION_H_
