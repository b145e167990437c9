#ifndef FERRY_CLIENT_NN_ACTIVATIONS_H_
#define FERRY_CLIENT_NN_ACTIVATIONS_H_

// MLX's nn activations: the functions client/ops.h lacks (relu, sigmoid, silu, gelu, tanh,
// softmax and softplus are ops there), each composed as MLX composes it, and every
// activation as a layer for Sequential; Lambda makes any function of one array a layer.

#include <functional>
#include <string>
#include <utility>

#include "client/nn/module.h"

namespace ferry::nn {

Array relu2(const Array& x);  // max(x, 0)^2
Array relu6(const Array& x);  // min(max(x, 0), 6)
Array leaky_relu(const Array& x, double negative_slope = 0.01);
Array log_softmax(const Array& x, int axis = -1);  // x - logsumexp(x)
Array elu(const Array& x, double alpha = 1.0);     // x > 0 ? x : alpha (e^x - 1)
Array selu(const Array& x);                        // 1.0507 elu(x, 1.67326)
Array celu(const Array& x, double alpha = 1.0);
Array softsign(const Array& x);                         // x / (1 + |x|)
Array softshrink(const Array& x, double lambd = 0.5);   // x -+ lambd past +-lambd, else 0
Array hard_shrink(const Array& x, double lambd = 0.5);  // x past +-lambd, else 0
Array hard_tanh(const Array& x, double min_val = -1.0, double max_val = 1.0);
Array hardswish(const Array& x);           // x min(max(x + 3, 0), 6) / 6
Array log_sigmoid(const Array& x);         // -softplus(-x)
Array mish(const Array& x);                // x tanh(softplus(x))
Array gelu_approx(const Array& x);         // 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
Array gelu_fast_approx(const Array& x);    // x sigmoid(1.702 x)
Array glu(const Array& x, int axis = -1);  // a sigmoid(b), x's halves a, b
Array step(const Array& x, double threshold = 0.0);  // 1 where x >= threshold, else 0
Array prelu(const Array& x, const Array& alpha);     // max(x, 0) + alpha min(x, 0)
Array softmin(const Array& x, int axis = -1);        // softmax(-x)

class Lambda : public Layer {
 public:
  explicit Lambda(std::function<Array(const Array&)> fn) : fn_(std::move(fn)) {}
  Array operator()(const Array& x) override { return fn_(x); }

 private:
  std::function<Array(const Array&)> fn_;
};

// The layers, MLX's classes of the same names and arguments.
struct ReLU : Lambda {
  ReLU();
};
struct ReLU2 : Lambda {
  ReLU2();
};
struct ReLU6 : Lambda {
  ReLU6();
};
struct LeakyReLU : Lambda {
  explicit LeakyReLU(double negative_slope = 0.01);
};
struct ELU : Lambda {
  explicit ELU(double alpha = 1.0);
};
struct SELU : Lambda {
  SELU();
};
struct CELU : Lambda {
  explicit CELU(double alpha = 1.0);
};
struct Sigmoid : Lambda {
  Sigmoid();
};
struct LogSigmoid : Lambda {
  LogSigmoid();
};
struct Tanh : Lambda {
  Tanh();
};
struct SiLU : Lambda {
  SiLU();
};
struct Mish : Lambda {
  Mish();
};
struct Softplus : Lambda {
  Softplus();
};
struct Softsign : Lambda {
  Softsign();
};
struct Softshrink : Lambda {
  explicit Softshrink(double lambd = 0.5);
};
struct HardShrink : Lambda {
  explicit HardShrink(double lambd = 0.5);
};
struct HardTanh : Lambda {
  explicit HardTanh(double min_val = -1.0, double max_val = 1.0);
};
struct Hardswish : Lambda {
  Hardswish();
};
struct Step : Lambda {
  explicit Step(double threshold = 0.0);
};
struct Softmax : Lambda {
  explicit Softmax(int axis = -1);
};
struct Softmin : Lambda {
  explicit Softmin(int axis = -1);
};
struct LogSoftmax : Lambda {
  explicit LogSoftmax(int axis = -1);
};
struct GLU : Lambda {
  explicit GLU(int axis = -1);
};
// approx "none" (the exact erf form), "precise" or "tanh" (gelu_approx), or "fast".
struct GELU : Lambda {
  explicit GELU(const std::string& approx = "none");
};

// max(x, 0) + weight min(x, 0), weight (num_parameters,) starting at `init`.
class PReLU : public Layer {
 public:
  explicit PReLU(int64_t num_parameters = 1, double init = 0.25);
  Array operator()(const Array& x) override;
};

// mlx-lm's xIELU (Apertus's MLP): where x > 0, softplus(alpha_p) x^2 + beta x, else
// (expm1(min(x, eps)) - x) (beta + softplus(alpha_n)) + beta x.
Array xielu(const Array& x, const Array& alpha_p, const Array& alpha_n, const Array& beta,
            const Array& eps);
// Its layer, mlx-lm's XieLU: four scalar parameters, "alpha_p" and "alpha_n" (the inverse
// softplus of alpha_p_init and of alpha_n_init - beta), "beta" and "eps".
class XieLU : public Layer {
 public:
  explicit XieLU(double alpha_p_init = 0.8, double alpha_n_init = 0.8, double beta = 0.5,
                 double eps = -1e-6);
  Array operator()(const Array& x) override;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_ACTIVATIONS_H_
