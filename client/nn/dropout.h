#ifndef FERRY_CLIENT_NN_DROPOUT_H_
#define FERRY_CLIENT_NN_DROPOUT_H_

#include "client/nn/module.h"

namespace ferry::nn {

// In training, zeroes each element with probability p and scales the rest by 1 / (1 - p)
// (random::bernoulli from the global key, on x's device); in evaluation, x itself.
class Dropout : public Layer {
 public:
  explicit Dropout(double p = 0.5);
  Array operator()(const Array& x) override;

 private:
  double p_;
};

// Drops whole channels: in training each (example, channel) of x (N, H, W, C) or (H, W, C)
// is zeroed with probability p, the rest scaled by 1 / (1 - p), as MLX's Dropout2d.
class Dropout2d : public Layer {
 public:
  explicit Dropout2d(double p = 0.5);
  Array operator()(const Array& x) override;

 private:
  double p_;
};

// The same over x (N, D, H, W, C) or (D, H, W, C), as MLX's Dropout3d.
class Dropout3d : public Layer {
 public:
  explicit Dropout3d(double p = 0.5);
  Array operator()(const Array& x) override;

 private:
  double p_;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_DROPOUT_H_
