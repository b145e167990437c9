#ifndef FERRY_CLIENT_NN_DROPOUT_H_
#define FERRY_CLIENT_NN_DROPOUT_H_

#include "client/nn/module.h"

namespace ferry::nn {

// In training, zeroes each element with probability p and scales the rest by 1 / (1 - p)
// (random::bernoulli from the global key, on x's device); in evaluation, x itself.
class Dropout : public Layer {
 public:
  explicit Dropout(double p = 0.5) : Dropout("Dropout", p, 0) {}
  Array operator()(const Array& x) override;

 protected:
  // Whole channels dropped: one draw per example and channel, shared by the
  // `spatial_axes` axes before the channels.
  Dropout(const char* name, double p, int spatial_axes);

 private:
  const char* name_;
  double p_;
  int spatial_axes_;
};

// Drops whole channels of x (N, H, W, C) or (H, W, C), as MLX's Dropout2d.
class Dropout2d : public Dropout {
 public:
  explicit Dropout2d(double p = 0.5) : Dropout("Dropout2d", p, 2) {}
};

// Drops whole channels of x (N, D, H, W, C) or (D, H, W, C), as MLX's Dropout3d.
class Dropout3d : public Dropout {
 public:
  explicit Dropout3d(double p = 0.5) : Dropout("Dropout3d", p, 3) {}
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_DROPOUT_H_
