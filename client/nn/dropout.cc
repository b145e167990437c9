#include "client/nn/dropout.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"
#include "core/shape.h"

namespace ferry::nn {

namespace {

void CheckProbability(const char* layer, double p) {
  if (!(p >= 0 && p < 1)) {
    detail::ThrowOpError(layer, absl::StrCat("p must be in [0, 1), got ", p, "."));
  }
}

}  // namespace

Dropout::Dropout(double p) : p_(p) { CheckProbability("Dropout", p); }

Array Dropout::operator()(const Array& x) {
  if (p_ == 0 || !training()) return x;
  const Array keep = random::bernoulli(1 - p_, x.shape(), std::nullopt, x.device());
  return (keep * x) * (1 / (1 - p_));
}

Dropout2d::Dropout2d(double p) : p_(p) { CheckProbability("Dropout2d", p); }

Array Dropout2d::operator()(const Array& x) {
  if (x.ndim() != 3 && x.ndim() != 4) {
    detail::ThrowOpError("Dropout2d", absl::StrCat("x must have rank 3 or 4, got shape ",
                                                   core::ShapeToString(x.shape()), "."));
  }
  if (p_ == 0 || !training()) return x;
  Shape channels = x.shape();
  channels[x.ndim() - 2] = channels[x.ndim() - 3] = 1;  // one draw per image and channel
  const Array keep = random::bernoulli(1 - p_, channels, std::nullopt, x.device());
  return (keep * x) * (1 / (1 - p_));
}

}  // namespace ferry::nn
