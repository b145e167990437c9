#ifndef FERRY_CLIENT_OPTIMIZERS_H_
#define FERRY_CLIENT_OPTIMIZERS_H_

// Optimizers after MLX's (mlx.optimizers): update(params, grads) builds the new parameters
// and the new optimizer state lazily, on the parameters' device, so a training step's
// forward pass, backward pass and update evaluate as one graph:
//
//   ferry::optimizers::Adam adam(1e-3);
//   auto [loss, grads] = loss_and_grads(params);
//   params = adam.update(params, grads);
//   std::vector<ferry::Array> step = params;          // one eval: one Execute remotely
//   step.push_back(loss);
//   for (const ferry::Array& s : adam.state()) step.push_back(s);
//   ferry::eval(step);
//
// After that eval, parameters and state are resident buffers on the device; the next step
// binds them by id, so nothing is uploaded again. Evaluate the state with the parameters
// every step (as in MLX), or its lazy graph grows with each update.
//
// The learning rate is a value bound to the step's graph (4 bytes riding inline with each
// Execute), so a schedule that changes it every step keeps the graph, and a daemon keeps
// receiving only its id. The other hyperparameters are constants of the graph.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/array.h"

namespace ferry::nn {
class Module;
}  // namespace ferry::nn

namespace ferry::optimizers {

class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // The parameters after one step against `grads` (one per parameter, of its shape). The
  // first call sizes the state for these parameters; later calls must pass the same
  // number, shapes and dtypes. Throws ferry::Error (kInvalidArgument, "[SGD] ...") when
  // they differ.
  std::vector<Array> update(const std::vector<Array>& params, const std::vector<Array>& grads);
  // MLX's optimizer.update(model, grads): the model's trainable parameters after one step
  // against `grads`, named as nn::value_and_grad names them (every trainable parameter's).
  void update(nn::Module& model, const std::vector<std::pair<std::string, Array>>& grads);

  // Every state array (per-parameter slots, then any shared ones such as a step count),
  // for evaluating together with the new parameters. Empty before the first update.
  std::vector<Array> state() const;

  double learning_rate() const { return learning_rate_; }
  // Takes effect from the next update, without changing the update's graph.
  void set_learning_rate(double learning_rate);
  // A schedule of the step (0 for the first update, as MLX counts): each update takes its
  // learning rate from it, still without changing the graph (schedulers.h has MLX's).
  void set_learning_rate(std::function<double(int64_t step)> schedule);
  // Updates made so far.
  int64_t step() const { return step_; }

 protected:
  Optimizer(const char* name, double learning_rate, int slots_per_param)
      : name_(name), learning_rate_(learning_rate), slots_per_param_(slots_per_param) {}

  // Called once per update, before the parameters: advance shared state (step counts).
  virtual void BeginStep(const Array& /*first_param*/) {}
  // A parameter's slots, made at the first update: slots_per_param zeros of its shape.
  virtual std::vector<Array> InitSlots(const Array& param);
  // The new parameter from the old one, its gradient and its slots (updated in place).
  virtual Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) = 0;
  // Shared state arrays, listed after the slots by state().
  virtual std::vector<Array> SharedState() const { return {}; }

  // The learning rate as a scalar array in `like`'s dtype, on its device.
  Array LearningRate(const Array& like);

  const char* name_;

 private:
  double learning_rate_;
  std::function<double(int64_t)> schedule_;
  int64_t step_ = 0;
  int slots_per_param_;
  std::vector<std::vector<Array>> slots_;       // per parameter
  std::vector<std::pair<Shape, Dtype>> types_;  // each parameter's, when its slots were made
  std::vector<Array> learning_rates_;           // one per parameter dtype, on their device
};

// Stochastic gradient descent: with weight decay g += weight_decay * p; with momentum
// v = momentum * v + (1 - dampening) * g and the step is v (or g + momentum * v when
// nesterov); p -= learning_rate * step.
class SGD : public Optimizer {
 public:
  explicit SGD(double learning_rate, double momentum = 0, double weight_decay = 0,
               double dampening = 0, bool nesterov = false);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double momentum_, weight_decay_, dampening_;
  bool nesterov_;
};

// Adam (Kingma and Ba): m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, and
// p -= lr m / (sqrt(v) + eps). With bias_correction (off by default, as in MLX; on in
// PyTorch) m and v are divided by 1 - b^t, t counting steps on the device.
class Adam : public Optimizer {
 public:
  explicit Adam(double learning_rate, std::pair<double, double> betas = {0.9, 0.999},
                double eps = 1e-8, bool bias_correction = false);

 protected:
  Adam(const char* name, double learning_rate, std::pair<double, double> betas, double eps,
       bool bias_correction);
  void BeginStep(const Array& first_param) override;
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;
  std::vector<Array> SharedState() const override;

 private:
  double beta1_, beta2_, eps_;
  bool bias_correction_;
  std::vector<Array> step_;         // the step count t, float32 (), once bias correction is used
  std::vector<Array> corrections_;  // this step's 1 - b1^t and 1 / sqrt(1 - b2^t)
};

// AdamW (Loshchilov and Hutter): Adam after decoupled weight decay,
// p *= 1 - learning_rate * weight_decay.
class AdamW : public Adam {
 public:
  explicit AdamW(double learning_rate, std::pair<double, double> betas = {0.9, 0.999},
                 double eps = 1e-8, double weight_decay = 0.01, bool bias_correction = false);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double weight_decay_;
};

// RMSprop: v = alpha v + (1 - alpha) g^2; p -= lr g / (sqrt(v) + eps).
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(double learning_rate, double alpha = 0.99, double eps = 1e-8);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double alpha_, eps_;
};

// Adagrad: v += g^2; p -= lr g / (sqrt(v) + eps).
class Adagrad : public Optimizer {
 public:
  explicit Adagrad(double learning_rate, double eps = 1e-8);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double eps_;
};

// AdaDelta: v = rho v + (1 - rho) g^2, d = sqrt(u + eps) / sqrt(v + eps) g,
// u = rho u + (1 - rho) d^2; p -= lr d.
class AdaDelta : public Optimizer {
 public:
  explicit AdaDelta(double learning_rate, double rho = 0.9, double eps = 1e-6);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double rho_, eps_;
};

// Adamax: m = b1 m + (1 - b1) g, v = max(b2 v, |g|); p -= lr m / (v + eps).
class Adamax : public Optimizer {
 public:
  explicit Adamax(double learning_rate, std::pair<double, double> betas = {0.9, 0.999},
                  double eps = 1e-8);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double beta1_, beta2_, eps_;
};

// Lion (Chen et al.): c = b1 m + (1 - b1) g, m = b2 m + (1 - b2) g; after decoupled weight
// decay, p -= lr sign(c).
class Lion : public Optimizer {
 public:
  explicit Lion(double learning_rate, std::pair<double, double> betas = {0.9, 0.99},
                double weight_decay = 0.0);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double beta1_, beta2_, weight_decay_;
};

// Adafactor (Shazeer and Stern), as MLX's: second moments factored into row and column
// means for parameters of rank 2 or more; with relative_step the step size is
// min(1e-2, 1 / sqrt(t)) (the learning rate unused), scaled by the parameter's RMS
// (at least eps.second) with scale_parameter; updates clipped to RMS clip_threshold; a first
// moment with beta_1. The step count t lives on the device, so the graph stays the same.
struct AdafactorOptions {
  std::pair<double, double> eps = {1e-30, 1e-3};
  double clip_threshold = 1.0;
  double decay_rate = -0.8;
  std::optional<double> beta_1;
  double weight_decay = 0.0;
  bool scale_parameter = true;
  bool relative_step = true;
  bool warmup_init = false;
};
class Adafactor : public Optimizer {
 public:
  explicit Adafactor(double learning_rate = 0.0, AdafactorOptions options = AdafactorOptions());

 protected:
  void BeginStep(const Array& first_param) override;
  std::vector<Array> InitSlots(const Array& param) override;
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;
  std::vector<Array> SharedState() const override { return step_; }

 private:
  AdafactorOptions options_;
  std::vector<Array> step_;  // t, float32 ()
};

// Muon (Jordan et al.), as MLX's: SGD momentum (Nesterov by default) whose update of a
// matrix (or of a higher-rank weight seen as (rows, rest)) is orthogonalized by ns_steps
// Newton-Schulz iterations and scaled by sqrt(max(1, rows / cols)); vectors step plainly.
class Muon : public Optimizer {
 public:
  explicit Muon(double learning_rate, double momentum = 0.95, double weight_decay = 0.01,
                bool nesterov = true, int ns_steps = 5);

 protected:
  Array ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) override;

 private:
  double momentum_, weight_decay_;
  bool nesterov_;
  int ns_steps_;
};

// Several optimizers, each for the parameters the first filter (of a parameter's dotted
// name and gradient) that accepts it picks, the last for the rest, as MLX's MultiOptimizer:
// Muon for the matrices and AdamW for the rest is the usual pairing.
class MultiOptimizer {
 public:
  using Filter = std::function<bool(const std::string& name, const Array& grad)>;
  // One filter fewer than optimizers.
  MultiOptimizer(std::vector<std::unique_ptr<Optimizer>> optimizers, std::vector<Filter> filters);
  void update(nn::Module& model, const std::vector<std::pair<std::string, Array>>& grads);
  std::vector<Array> state() const;
  void set_learning_rate(double learning_rate);

 private:
  std::vector<std::unique_ptr<Optimizer>> optimizers_;
  std::vector<Filter> filters_;
};

// The gradients scaled by min(max_norm / (their global L2 norm + 1e-6), 1), and that norm
// (float32), as MLX's clip_grad_norm.
std::pair<std::vector<Array>, Array> clip_grad_norm(const std::vector<Array>& grads,
                                                    double max_norm);
std::pair<std::vector<std::pair<std::string, Array>>, Array> clip_grad_norm(
    const std::vector<std::pair<std::string, Array>>& grads, double max_norm);

}  // namespace ferry::optimizers

#endif  // FERRY_CLIENT_OPTIMIZERS_H_
