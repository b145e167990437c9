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

namespace {

// x with whole channels dropped: one draw per example and channel over its `spatial` axes
// (those before the channels).
Array DropChannels(const char* layer, const Array& x, double p, bool training, int spatial) {
  if (x.ndim() != spatial + 1 && x.ndim() != spatial + 2) {
    detail::ThrowOpError(layer, absl::StrCat("x must have rank ", spatial + 1, " or ", spatial + 2,
                                             ", got shape ", core::ShapeToString(x.shape()), "."));
  }
  if (p == 0 || !training) return x;
  Shape channels = x.shape();
  for (int i = 1; i <= spatial; ++i) channels[x.ndim() - 1 - i] = 1;
  const Array keep = random::bernoulli(1 - p, channels, std::nullopt, x.device());
  return (keep * x) * (1 / (1 - p));
}

}  // namespace

Array Dropout2d::operator()(const Array& x) {
  return DropChannels("Dropout2d", x, p_, training(), 2);
}

Dropout3d::Dropout3d(double p) : p_(p) { CheckProbability("Dropout3d", p); }

Array Dropout3d::operator()(const Array& x) {
  return DropChannels("Dropout3d", x, p_, training(), 3);
}

}  // namespace ferry::nn
