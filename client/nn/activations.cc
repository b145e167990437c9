#include "client/nn/activations.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"

namespace ferry::nn {

Array relu2(const Array& x) { return square(maximum(x, 0)); }
Array relu6(const Array& x) { return minimum(maximum(x, 0), 6.0); }
Array leaky_relu(const Array& x, double negative_slope) { return maximum(x * negative_slope, x); }
Array log_softmax(const Array& x, int axis) { return x - logsumexp(x, axis, /*keepdims=*/true); }
Array elu(const Array& x, double alpha) { return where(x > 0, x, (exp(x) - 1) * alpha); }
Array selu(const Array& x) { return elu(x, 1.67326) * 1.0507; }
Array celu(const Array& x, double alpha) {
  return maximum(x, 0.0) + (exp(minimum(x, 0.0) / alpha) - 1) * alpha;
}
Array softsign(const Array& x) { return x / (1 + abs(x)); }
Array softshrink(const Array& x, double lambd) {
  return where(abs(x) > lambd, x - sign(x) * lambd, 0);
}
Array hard_shrink(const Array& x, double lambd) { return where(abs(x) > lambd, x, 0); }
Array hard_tanh(const Array& x, double min_val, double max_val) {
  return minimum(maximum(x, min_val), max_val);
}
Array hardswish(const Array& x) { return x * minimum(maximum(x + 3, 0), 6) / 6; }
Array log_sigmoid(const Array& x) { return -softplus(-x); }
Array mish(const Array& x) { return x * tanh(softplus(x)); }
Array gelu_approx(const Array& x) {
  return x * 0.5 * (1 + tanh((x + power(x, 3) * 0.044715) * std::sqrt(2 / M_PI)));
}
Array gelu_fast_approx(const Array& x) { return x * sigmoid(x * 1.702); }
Array glu(const Array& x, int axis) {
  const std::vector<Array> halves = split(x, 2, axis);
  return halves[0] * sigmoid(halves[1]);
}
Array step(const Array& x, double threshold) { return where(x >= threshold, 1, 0); }
Array prelu(const Array& x, const Array& alpha) { return maximum(0, x) + alpha * minimum(0, x); }
Array softmin(const Array& x, int axis) { return softmax(-x, axis); }

ReLU::ReLU() : Lambda([](const Array& x) { return relu(x); }) {}
ReLU2::ReLU2() : Lambda([](const Array& x) { return relu2(x); }) {}
ReLU6::ReLU6() : Lambda([](const Array& x) { return relu6(x); }) {}
LeakyReLU::LeakyReLU(double negative_slope)
    : Lambda([=](const Array& x) { return leaky_relu(x, negative_slope); }) {}
ELU::ELU(double alpha) : Lambda([=](const Array& x) { return elu(x, alpha); }) {}
SELU::SELU() : Lambda([](const Array& x) { return selu(x); }) {}
CELU::CELU(double alpha) : Lambda([=](const Array& x) { return celu(x, alpha); }) {}
Sigmoid::Sigmoid() : Lambda([](const Array& x) { return sigmoid(x); }) {}
LogSigmoid::LogSigmoid() : Lambda([](const Array& x) { return log_sigmoid(x); }) {}
Tanh::Tanh() : Lambda([](const Array& x) { return tanh(x); }) {}
SiLU::SiLU() : Lambda([](const Array& x) { return silu(x); }) {}
Mish::Mish() : Lambda([](const Array& x) { return mish(x); }) {}
Softplus::Softplus() : Lambda([](const Array& x) { return softplus(x); }) {}
Softsign::Softsign() : Lambda([](const Array& x) { return softsign(x); }) {}
Softshrink::Softshrink(double lambd)
    : Lambda([=](const Array& x) { return softshrink(x, lambd); }) {}
HardShrink::HardShrink(double lambd)
    : Lambda([=](const Array& x) { return hard_shrink(x, lambd); }) {}
HardTanh::HardTanh(double min_val, double max_val)
    : Lambda([=](const Array& x) { return hard_tanh(x, min_val, max_val); }) {}
Hardswish::Hardswish() : Lambda([](const Array& x) { return hardswish(x); }) {}
Step::Step(double threshold) : Lambda([=](const Array& x) { return step(x, threshold); }) {}
Softmax::Softmax(int axis) : Lambda([=](const Array& x) { return softmax(x, axis); }) {}
Softmin::Softmin(int axis) : Lambda([=](const Array& x) { return softmin(x, axis); }) {}
LogSoftmax::LogSoftmax(int axis) : Lambda([=](const Array& x) { return log_softmax(x, axis); }) {}
GLU::GLU(int axis) : Lambda([=](const Array& x) { return glu(x, axis); }) {}

namespace {

std::function<Array(const Array&)> GeluOf(const std::string& approx) {
  if (approx == "none") return [](const Array& x) { return gelu(x); };
  if (approx == "precise" || approx == "tanh") return [](const Array& x) { return gelu_approx(x); };
  if (approx == "fast") return [](const Array& x) { return gelu_fast_approx(x); };
  detail::ThrowOpError("GELU", absl::StrCat("approx must be \"none\", \"precise\", \"tanh\" or "
                                            "\"fast\", got \"",
                                            approx, "\"."));
}

}  // namespace

GELU::GELU(const std::string& approx) : Lambda(GeluOf(approx)) {}

PReLU::PReLU(int64_t num_parameters, double init) {
  register_parameter("weight", full({num_parameters}, init));
}

Array PReLU::operator()(const Array& x) { return prelu(x, parameter("weight")); }

Array xielu(const Array& x, const Array& alpha_p, const Array& alpha_n, const Array& beta,
            const Array& eps) {
  const Array positive = softplus(alpha_p);
  const Array negative = beta + softplus(alpha_n);
  return where(x > 0, positive * square(x) + beta * x,
               (expm1(minimum(x, eps)) - x) * negative + beta * x);
}

XieLU::XieLU(double alpha_p_init, double alpha_n_init, double beta, double eps) {
  // log(e^v - 1): softplus's inverse, in float32 as mlx-lm computes it.
  auto inverse_softplus = [](double v) { return log(exp(full({}, v, float32)) - 1.0f); };
  register_parameter("alpha_p", inverse_softplus(alpha_p_init));
  register_parameter("alpha_n", inverse_softplus(alpha_n_init - beta));
  register_parameter("beta", full({}, beta, float32));
  register_parameter("eps", full({}, eps, float32));
}

Array XieLU::operator()(const Array& x) {
  return xielu(x, parameter("alpha_p"), parameter("alpha_n"), parameter("beta"), parameter("eps"));
}

}  // namespace ferry::nn
