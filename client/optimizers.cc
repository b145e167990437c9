// MLX's optimizers. Each update is ordinary lazy ops on the parameters' device; the
// state arrays are replaced by their lazy successors and become resident when evaluated.

#include "client/optimizers.h"

#include <optional>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/nn/module.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::optimizers {
namespace {

// `value` in `like`'s dtype: a float32 factor must not promote float16 parameters.
Array Like(const Array& value, const Array& like) {
  return value.dtype() == like.dtype() ? value : astype(value, like.dtype());
}

}  // namespace

void Optimizer::update(nn::Module& model, const std::vector<std::pair<std::string, Array>>& grads) {
  absl::flat_hash_map<std::string, const Array*> by_name;
  for (const auto& [name, grad] : grads) by_name[name] = &grad;
  nn::Parameters trainable = model.trainable_parameters();
  std::vector<Array> params;
  std::vector<Array> ordered;
  for (const auto& [name, param] : trainable) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      detail::ThrowOpError(name_, absl::StrCat("no gradient for the model's parameter ", name,
                                               " (grads must name every trainable parameter)."));
    }
    params.push_back(param);
    ordered.push_back(*it->second);
  }
  std::vector<Array> updated = update(params, ordered);
  for (size_t i = 0; i < trainable.size(); ++i) trainable[i].second = updated[i];
  model.update(trainable);
}

std::vector<Array> Optimizer::update(const std::vector<Array>& params,
                                     const std::vector<Array>& grads) {
  if (params.size() != grads.size()) {
    detail::ThrowOpError(name_, absl::StrCat("got ", grads.size(), " gradients for ", params.size(),
                                             " parameters."));
  }
  if (!slots_.empty() && slots_.size() != params.size()) {
    detail::ThrowOpError(
        name_, absl::StrCat("got ", params.size(), " parameters; the optimizer's state is for ",
                            slots_.size(), "."));
  }
  for (size_t i = 0; i < params.size(); ++i) {
    if (grads[i].shape() != params[i].shape()) {
      detail::ThrowOpError(
          name_, absl::StrCat("gradient ", i, " has shape ", core::ShapeToString(grads[i].shape()),
                              " but parameter ", i, " has shape ",
                              core::ShapeToString(params[i].shape()), "."));
    }
    if (!core::IsFloating(params[i].dtype())) {
      detail::ThrowOpError(name_,
                           absl::StrCat("parameter ", i, " is ", core::DTypeName(params[i].dtype()),
                                        "; only floating parameters can be trained."));
    }
    if (!types_.empty() &&
        (types_[i].first != params[i].shape() || types_[i].second != params[i].dtype())) {
      detail::ThrowOpError(name_, absl::StrCat("parameter ", i,
                                               " changed type since the "
                                               "optimizer's state was made for it."));
    }
  }
  if (slots_.empty()) {
    for (const Array& param : params) {
      slots_.push_back(InitSlots(param));
      types_.emplace_back(param.shape(), param.dtype());
    }
  }
  if (schedule_) set_learning_rate(schedule_(step_));
  ++step_;
  std::vector<Array> updated;
  updated.reserve(params.size());
  if (!params.empty()) BeginStep(params[0]);
  for (size_t i = 0; i < params.size(); ++i) {
    const Array grad = Like(grads[i], params[i]);
    updated.push_back(ApplySingle(params[i], grad, slots_[i]));
  }
  return updated;
}

std::vector<Array> Optimizer::InitSlots(const Array& param) {
  std::vector<Array> slots;
  for (int s = 0; s < slots_per_param_; ++s) {
    slots.push_back(zeros(param.shape(), param.dtype(), param.device()));
  }
  return slots;
}

void Optimizer::set_learning_rate(double learning_rate) {
  learning_rate_ = learning_rate;
  learning_rates_.clear();
}

void Optimizer::set_learning_rate(std::function<double(int64_t step)> schedule) {
  schedule_ = std::move(schedule);
  if (schedule_) set_learning_rate(schedule_(step_));
}

Array Optimizer::LearningRate(const Array& like) {
  if (!learning_rates_.empty() && learning_rates_[0].device() != like.device()) {
    learning_rates_.clear();
  }
  for (const Array& lr : learning_rates_) {
    if (lr.dtype() == like.dtype()) return lr;
  }
  if (like.dtype() == float64) {
    learning_rates_.push_back(from_host(&learning_rate_, {}, like.device()));
  } else {
    const float value = static_cast<float>(learning_rate_);
    Array lr = from_host(&value, {}, like.device());
    learning_rates_.push_back(like.dtype() == float32 ? lr : astype(lr, like.dtype()));
  }
  return learning_rates_.back();
}

std::vector<Array> Optimizer::state() const {
  std::vector<Array> all;
  for (const std::vector<Array>& slots : slots_) all.insert(all.end(), slots.begin(), slots.end());
  for (const Array& shared : SharedState()) all.push_back(shared);
  return all;
}

SGD::SGD(double learning_rate, double momentum, double weight_decay, double dampening,
         bool nesterov)
    : Optimizer("SGD", learning_rate, momentum > 0 ? 1 : 0),
      momentum_(momentum),
      weight_decay_(weight_decay),
      dampening_(dampening),
      nesterov_(nesterov) {}

Array SGD::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  Array g = weight_decay_ != 0 ? grad + param * weight_decay_ : grad;
  if (momentum_ <= 0) return param - g * LearningRate(param);
  Array& v = slots[0];
  v = v * momentum_ + (dampening_ > 0 ? g * (1 - dampening_) : g);
  Array step = nesterov_ ? g + v * momentum_ : v;
  return param - step * LearningRate(param);
}

Adam::Adam(double learning_rate, std::pair<double, double> betas, double eps, bool bias_correction)
    : Adam("Adam", learning_rate, betas, eps, bias_correction) {}

Adam::Adam(const char* name, double learning_rate, std::pair<double, double> betas, double eps,
           bool bias_correction)
    : Optimizer(name, learning_rate, 2),
      beta1_(betas.first),
      beta2_(betas.second),
      eps_(eps),
      bias_correction_(bias_correction) {}

void Adam::BeginStep(const Array& first_param) {
  if (!bias_correction_) return;
  if (step_.empty()) step_.push_back(zeros({}, float32, first_param.device()));
  step_[0] = step_[0] + 1.0f;
  // Once per step, shared by every parameter.
  corrections_ = {1.0 - power(beta1_, step_[0]), rsqrt(1.0 - power(beta2_, step_[0]))};
}

std::vector<Array> Adam::SharedState() const { return step_; }

Array Adam::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  Array& m = slots[0];
  Array& v = slots[1];
  m = m * beta1_ + grad * (1 - beta1_);
  v = v * beta2_ + grad * grad * (1 - beta2_);
  if (!bias_correction_) return param - m * LearningRate(param) / (sqrt(v) + eps_);
  Array c1 = LearningRate(param) / Like(corrections_[0], param);
  Array c2 = Like(corrections_[1], param);
  return param - c1 * m / (sqrt(v) * c2 + eps_);
}

AdamW::AdamW(double learning_rate, std::pair<double, double> betas, double eps, double weight_decay,
             bool bias_correction)
    : Adam("AdamW", learning_rate, betas, eps, bias_correction), weight_decay_(weight_decay) {}

Array AdamW::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  return Adam::ApplySingle(param * (1.0 - LearningRate(param) * weight_decay_), grad, slots);
}

RMSprop::RMSprop(double learning_rate, double alpha, double eps)
    : Optimizer("RMSprop", learning_rate, 1), alpha_(alpha), eps_(eps) {}

Array RMSprop::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  Array& v = slots[0];
  v = v * alpha_ + square(grad) * (1 - alpha_);
  return param - LearningRate(param) * grad / (sqrt(v) + eps_);
}

Adagrad::Adagrad(double learning_rate, double eps)
    : Optimizer("Adagrad", learning_rate, 1), eps_(eps) {}

Array Adagrad::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  Array& v = slots[0];
  v = v + square(grad);
  return param - LearningRate(param) * grad / (sqrt(v) + eps_);
}

AdaDelta::AdaDelta(double learning_rate, double rho, double eps)
    : Optimizer("AdaDelta", learning_rate, 2), rho_(rho), eps_(eps) {}

Array AdaDelta::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  Array& v = slots[0];
  Array& u = slots[1];
  v = v * rho_ + square(grad) * (1 - rho_);
  const Array d = sqrt(u + eps_) / sqrt(v + eps_) * grad;
  u = u * rho_ + square(d) * (1 - rho_);
  return param - LearningRate(param) * d;
}

Adamax::Adamax(double learning_rate, std::pair<double, double> betas, double eps)
    : Optimizer("Adamax", learning_rate, 2), beta1_(betas.first), beta2_(betas.second), eps_(eps) {}

Array Adamax::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  Array& m = slots[0];
  Array& v = slots[1];
  m = m * beta1_ + grad * (1 - beta1_);
  v = maximum(v * beta2_, abs(grad));
  return param - LearningRate(param) * m / (v + eps_);
}

Lion::Lion(double learning_rate, std::pair<double, double> betas, double weight_decay)
    : Optimizer("Lion", learning_rate, 1),
      beta1_(betas.first),
      beta2_(betas.second),
      weight_decay_(weight_decay) {}

Array Lion::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  Array& m = slots[0];
  const Array c = m * beta1_ + grad * (1 - beta1_);
  m = m * beta2_ + grad * (1 - beta2_);
  const Array decayed =
      weight_decay_ > 0 ? param * (1.0 - LearningRate(param) * weight_decay_) : param;
  return decayed - LearningRate(param) * sign(c);
}

Adafactor::Adafactor(double learning_rate, AdafactorOptions options)
    : Optimizer("Adafactor", learning_rate, 0), options_(options) {}

void Adafactor::BeginStep(const Array& first_param) {
  if (step_.empty()) step_.push_back(zeros({}, float32, first_param.device()));
  step_[0] = step_[0] + 1.0f;
}

std::vector<Array> Adafactor::InitSlots(const Array& param) {
  std::vector<Array> slots;
  const Shape& shape = param.shape();
  if (param.ndim() >= 2) {
    slots.push_back(zeros(Shape(shape.begin(), shape.end() - 1), param.dtype(), param.device()));
    Shape columns(shape.begin(), shape.end() - 2);
    columns.push_back(shape.back());
    slots.push_back(zeros(columns, param.dtype(), param.device()));
  } else {
    slots.push_back(zeros(shape, param.dtype(), param.device()));
  }
  if (options_.beta_1) slots.push_back(zeros(shape, param.dtype(), param.device()));
  return slots;
}

Array Adafactor::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  auto rms = [](const Array& a) { return sqrt(mean(square(a))); };
  const Array t = Like(step_[0], param);
  const Array parameter_rms = rms(param);
  Array step_size =
      options_.relative_step
          ? minimum(options_.warmup_init ? t * 1e-6 : full({}, 1e-2, param.dtype(), param.device()),
                    rsqrt(t))
          : LearningRate(param);
  if (options_.scale_parameter) step_size = maximum(parameter_rms, options_.eps.second) * step_size;
  const Array beta_2 = 1.0 - power(t, options_.decay_rate);
  Array update = square(grad) + options_.eps.first;
  if (grad.ndim() >= 2) {
    Array& row = slots[0];
    Array& column = slots[1];
    row = beta_2 * row + (1.0 - beta_2) * mean(update, -1);
    column = beta_2 * column + (1.0 - beta_2) * mean(update, -2);
    const Array row_factor = rsqrt(row / mean(row, -1, true));
    update = expand_dims(row_factor, -1) * expand_dims(rsqrt(column), -2) * grad;
  } else {
    Array& second = slots[0];
    second = beta_2 * second + (1.0 - beta_2) * update;
    update = rsqrt(second) * grad;
  }
  update = update / maximum(rms(update) / options_.clip_threshold, 1.0);
  update = step_size * update;
  if (options_.beta_1) {
    Array& first = slots.back();
    first = first * *options_.beta_1 + update * (1 - *options_.beta_1);
    update = first;
  }
  const Array decayed =
      options_.weight_decay != 0 ? param + param * (step_size * -options_.weight_decay) : param;
  return decayed - update;
}

Muon::Muon(double learning_rate, double momentum, double weight_decay, bool nesterov, int ns_steps)
    : Optimizer("Muon", learning_rate, 1),
      momentum_(momentum),
      weight_decay_(weight_decay),
      nesterov_(nesterov),
      ns_steps_(ns_steps) {}

Array Muon::ApplySingle(const Array& param, const Array& grad, std::vector<Array>& slots) {
  const Array g = weight_decay_ != 0 ? grad + param * weight_decay_ : grad;
  Array& v = slots[0];
  v = v * momentum_ + g * (1 - momentum_);
  Array update = nesterov_ ? g * (1 - momentum_) + v * momentum_ : v;
  Array lr = LearningRate(param);
  if (update.ndim() >= 2) {
    const Shape shape = update.shape();
    // Newton-Schulz's quintic iteration towards U V^T of the update's SVD, on the wide side.
    Array x = reshape(update, {shape[0], update.size() / shape[0]});
    const bool tall = x.shape(0) > x.shape(1);
    if (tall) x = transpose(x);
    x = x / (sqrt(sum(square(x))) + 1e-7);
    for (int i = 0; i < ns_steps_; ++i) {
      const Array a = matmul(x, transpose(x));
      const Array b = addmm(a * -4.7750, a, a, 2.0315f, 1.0f);
      x = addmm(x * 3.4445, b, x, 1.0f, 1.0f);
    }
    if (tall) x = transpose(x);
    update = reshape(x, shape);
    lr = lr * std::sqrt(std::max(1.0, static_cast<double>(shape[shape.size() - 2]) /
                                          static_cast<double>(shape.back())));
  }
  return param - lr * update;
}

MultiOptimizer::MultiOptimizer(std::vector<std::unique_ptr<Optimizer>> optimizers,
                               std::vector<Filter> filters)
    : optimizers_(std::move(optimizers)), filters_(std::move(filters)) {
  if (optimizers_.empty() || filters_.size() + 1 != optimizers_.size()) {
    detail::ThrowOpError(
        "MultiOptimizer",
        absl::StrCat("needs one filter fewer than optimizers, got ", optimizers_.size(),
                     " optimizers and ", filters_.size(), " filters."));
  }
}

void MultiOptimizer::update(nn::Module& model,
                            const std::vector<std::pair<std::string, Array>>& grads) {
  std::vector<std::vector<std::pair<std::string, Array>>> parts(optimizers_.size());
  for (const auto& [name, grad] : grads) {
    size_t i = 0;
    while (i < filters_.size() && !filters_[i](name, grad)) ++i;
    parts[i].emplace_back(name, grad);
  }
  absl::flat_hash_map<std::string, Array> params;
  for (const auto& [name, param] : model.trainable_parameters()) params.emplace(name, param);
  nn::Parameters updated;
  for (size_t i = 0; i < optimizers_.size(); ++i) {
    if (parts[i].empty()) continue;
    std::vector<Array> own, own_grads;
    for (const auto& [name, grad] : parts[i]) {
      auto it = params.find(name);
      if (it == params.end()) {
        detail::ThrowOpError("MultiOptimizer",
                             absl::StrCat("the model has no trainable parameter ", name, "."));
      }
      own.push_back(it->second);
      own_grads.push_back(grad);
    }
    std::vector<Array> stepped = optimizers_[i]->update(own, own_grads);
    for (size_t j = 0; j < stepped.size(); ++j) updated.emplace_back(parts[i][j].first, stepped[j]);
  }
  model.update(updated);
}

std::vector<Array> MultiOptimizer::state() const {
  std::vector<Array> all;
  for (const auto& optimizer : optimizers_) {
    for (const Array& s : optimizer->state()) all.push_back(s);
  }
  return all;
}

void MultiOptimizer::set_learning_rate(double learning_rate) {
  for (auto& optimizer : optimizers_) optimizer->set_learning_rate(learning_rate);
}

std::pair<std::vector<Array>, Array> clip_grad_norm(const std::vector<Array>& grads,
                                                    double max_norm) {
  if (max_norm < 0) {
    detail::ThrowOpError("clip_grad_norm",
                         absl::StrCat("max_norm must be >= 0, got ", max_norm, "."));
  }
  if (grads.empty()) return {{}, zeros({})};
  std::optional<Array> squared;
  for (const Array& g : grads) {
    const Array s = sum(square(g.dtype() == float16 ? astype(g, float32) : g));
    squared = squared ? *squared + s : s;
  }
  const Array total = sqrt(*squared);
  const Array normalizer = minimum(max_norm / (total + 1e-6), 1.0);
  std::vector<Array> clipped;
  for (const Array& g : grads) {
    clipped.push_back(core::IsFloating(g.dtype()) ? astype(g * normalizer, g.dtype())
                                                  : g * normalizer);
  }
  return {clipped, total};
}

std::pair<std::vector<std::pair<std::string, Array>>, Array> clip_grad_norm(
    const std::vector<std::pair<std::string, Array>>& grads, double max_norm) {
  std::vector<Array> arrays;
  for (const auto& [name, g] : grads) arrays.push_back(g);
  auto [clipped, total] = clip_grad_norm(arrays, max_norm);
  std::vector<std::pair<std::string, Array>> named;
  for (size_t i = 0; i < grads.size(); ++i) named.emplace_back(grads[i].first, clipped[i]);
  return {named, total};
}

}  // namespace ferry::optimizers
