#ifndef FERRY_CLIENT_NN_ACTIVATIONS_H_
#define FERRY_CLIENT_NN_ACTIVATIONS_H_

// Activations as layers, for Sequential (each is the op of the same name in client/ops.h),
// and Lambda, any function of one array as a layer without parameters.

#include <functional>
#include <utility>

#include "client/nn/module.h"

namespace ferry::nn {

class Lambda : public Layer {
 public:
  explicit Lambda(std::function<Array(const Array&)> fn) : fn_(std::move(fn)) {}
  Array operator()(const Array& x) override { return fn_(x); }

 private:
  std::function<Array(const Array&)> fn_;
};

class ReLU : public Lambda {
 public:
  ReLU();
};
class GELU : public Lambda {  // the exact (erf) form, MLX's default
 public:
  GELU();
};
class SiLU : public Lambda {
 public:
  SiLU();
};
class Sigmoid : public Lambda {
 public:
  Sigmoid();
};
class Tanh : public Lambda {
 public:
  Tanh();
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_ACTIVATIONS_H_
