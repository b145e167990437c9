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
    if (!slots_.empty() && !slots_[i].empty() &&
        (slots_[i][0].shape() != params[i].shape() || slots_[i][0].dtype() != params[i].dtype())) {
      detail::ThrowOpError(name_, absl::StrCat("parameter ", i,
                                               " changed type since the "
                                               "optimizer's state was made for it."));
    }
  }
  if (slots_.empty()) {
    slots_.resize(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      for (int s = 0; s < slots_per_param_; ++s) {
        slots_[i].push_back(zeros(params[i].shape(), params[i].dtype(), params[i].device()));
      }
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
