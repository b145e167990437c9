#include "client/nn/losses.h"

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::nn::losses {
namespace {

Array Reduce(const Array& loss, Reduction reduction) {
  switch (reduction) {
    case Reduction::kMean:
      return mean(loss);
    case Reduction::kSum:
      return sum(loss);
    default:
      return loss;
  }
}

void CheckSameShape(const char* loss, const char* a_name, const Array& a, const char* b_name,
                    const Array& b) {
  if (a.shape() != b.shape()) {
    detail::ThrowOpError(
        loss, absl::StrCat(a_name, " shape ", core::ShapeToString(a.shape()), " does not match ",
                           b_name, " shape ", core::ShapeToString(b.shape()), "."));
  }
}

Array Weighted(const char* loss_name, const Array& loss, const std::optional<Array>& weights) {
  if (!weights) return loss;
  CheckSameShape(loss_name, "weights", *weights, "the loss's", loss);
  return loss * *weights;
}

// The element of `a` along `axis` that `indices` (a's shape without axis) names.
Array Pick(const Array& a, const Array& indices, int axis) {
  return squeeze(take_along_axis(a, expand_dims(indices, axis), axis), axis);
}

}  // namespace

Array cross_entropy(const Array& logits, const Array& targets, const std::optional<Array>& weights,
                    int axis, double label_smoothing, Reduction reduction) {
  if (!(label_smoothing >= 0 && label_smoothing < 1)) {
    detail::ThrowOpError("cross_entropy", absl::StrCat("label_smoothing must be in [0, 1), got ",
                                                       label_smoothing, "."));
  }
  axis = static_cast<int>(detail::NormalizeAxis("cross_entropy", axis, logits.ndim()));
  const bool as_probabilities = targets.ndim() == logits.ndim();
  Shape expected = logits.shape();
  if (!as_probabilities) expected.erase(expected.begin() + axis);
  if (targets.shape() != expected) {
    detail::ThrowOpError(
        "cross_entropy",
        absl::StrCat("targets shape ", core::ShapeToString(targets.shape()),
                     " does not match logits shape ", core::ShapeToString(logits.shape()),
                     " (class indices drop axis ", axis, "; probabilities keep it)."));
  }
  // Shifted by the (constant) maximum, as MLX, so large logits do not overflow.
  const Array shifted = logits - stop_gradient(max(logits, axis, /*keepdims=*/true));
  const Array score =
      as_probabilities ? sum(shifted * targets, axis) : Pick(shifted, targets, axis);
  const Array log_normalizer = logsumexp(shifted, axis);
  const Array loss = label_smoothing > 0 ? log_normalizer - score * (1 - label_smoothing) -
                                               mean(shifted, axis) * label_smoothing
                                         : log_normalizer - score;
  return Reduce(Weighted("cross_entropy", loss, weights), reduction);
}

Array cross_entropy(const Array& logits, const Array& targets, Reduction reduction) {
  return cross_entropy(logits, targets, std::nullopt, -1, 0.0, reduction);
}

Array binary_cross_entropy(const Array& inputs, const Array& targets,
                           const std::optional<Array>& weights, bool with_logits,
                           Reduction reduction) {
  CheckSameShape("binary_cross_entropy", "inputs", inputs, "targets", targets);
  Array loss = with_logits ? logaddexp(0.0, inputs) - inputs * targets
                           : -(targets * maximum(log(inputs), -100.0) +
                               (1 - targets) * maximum(log(1 - inputs), -100.0));
  return Reduce(Weighted("binary_cross_entropy", loss, weights), reduction);
}

Array l1_loss(const Array& predictions, const Array& targets, Reduction reduction) {
  CheckSameShape("l1_loss", "predictions", predictions, "targets", targets);
  return Reduce(abs(predictions - targets), reduction);
}

Array mse_loss(const Array& predictions, const Array& targets, Reduction reduction) {
  CheckSameShape("mse_loss", "predictions", predictions, "targets", targets);
  return Reduce(square(predictions - targets), reduction);
}

Array nll_loss(const Array& inputs, const Array& targets, int axis, Reduction reduction) {
  axis = static_cast<int>(detail::NormalizeAxis("nll_loss", axis, inputs.ndim()));
  return Reduce(-Pick(inputs, targets, axis), reduction);
}

Array gaussian_nll_loss(const Array& inputs, const Array& targets, const Array& vars, bool full,
                        double eps, Reduction reduction) {
  CheckSameShape("gaussian_nll_loss", "inputs", inputs, "targets", targets);
  CheckSameShape("gaussian_nll_loss", "inputs", inputs, "vars", vars);
  const Array clamped = maximum(vars, eps);
  Array loss = (log(clamped) + square(targets - inputs) / clamped) * 0.5;
  if (full) loss = loss + 0.5 * std::log(2 * M_PI);
  return Reduce(loss, reduction);
}

Array kl_div_loss(const Array& inputs, const Array& targets, int axis, Reduction reduction) {
  return Reduce(sum(exp(targets) * (targets - inputs), axis), reduction);
}

Array smooth_l1_loss(const Array& predictions, const Array& targets, double beta,
                     Reduction reduction) {
  CheckSameShape("smooth_l1_loss", "predictions", predictions, "targets", targets);
  const Array difference = abs(predictions - targets);
  return Reduce(where(difference < beta, square(difference) * 0.5 / beta, difference - 0.5 * beta),
                reduction);
}

Array triplet_loss(const Array& anchors, const Array& positives, const Array& negatives, int axis,
                   int p, double margin, double eps, Reduction reduction) {
  auto distance = [&](const Array& other) {
    return power(sum(power(abs(anchors - other), p), axis) + eps, 1.0 / p);
  };
  return Reduce(maximum(distance(positives) - distance(negatives) + margin, 0.0), reduction);
}

Array hinge_loss(const Array& inputs, const Array& targets, Reduction reduction) {
  return Reduce(maximum(1 - inputs * targets, 0.0), reduction);
}

Array huber_loss(const Array& inputs, const Array& targets, double delta, Reduction reduction) {
  const Array errors = abs(inputs - targets);
  const Array quadratic = minimum(errors, delta);
  return Reduce(square(quadratic) * 0.5 + (errors - quadratic) * delta, reduction);
}

Array log_cosh_loss(const Array& inputs, const Array& targets, Reduction reduction) {
  const Array errors = inputs - targets;
  return Reduce(logaddexp(errors, -errors) - std::log(2.0), reduction);
}

Array cosine_similarity_loss(const Array& x1, const Array& x2, int axis, double eps,
                             Reduction reduction) {
  const Array norms = sqrt(sum(square(x1), axis)) * sqrt(sum(square(x2), axis));
  return Reduce(sum(x1 * x2, axis) / maximum(norms, eps), reduction);
}

Array margin_ranking_loss(const Array& inputs1, const Array& inputs2, const Array& targets,
                          double margin, Reduction reduction) {
  CheckSameShape("margin_ranking_loss", "inputs1", inputs1, "inputs2", inputs2);
  CheckSameShape("margin_ranking_loss", "inputs1", inputs1, "targets", targets);
  return Reduce(maximum(-targets * (inputs1 - inputs2) + margin, 0.0), reduction);
}

}  // namespace ferry::nn::losses
