#include "client/nn/dropout.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"
#include "core/shape.h"

namespace ferry::nn {

Dropout::Dropout(const char* name, double p, int spatial_axes)
    : name_(name), p_(p), spatial_axes_(spatial_axes) {
  if (!(p >= 0 && p < 1)) {
    detail::ThrowOpError(name, absl::StrCat("p must be in [0, 1), got ", p, "."));
  }
}

Array Dropout::operator()(const Array& x) {
  if (spatial_axes_ > 0 && x.ndim() != spatial_axes_ + 1 && x.ndim() != spatial_axes_ + 2) {
    detail::ThrowOpError(
        name_, absl::StrCat("x must have rank ", spatial_axes_ + 1, " or ", spatial_axes_ + 2,
                            ", got shape ", core::ShapeToString(x.shape()), "."));
  }
  if (p_ == 0 || !training()) return x;
  Shape draws = x.shape();
  for (int i = 1; i <= spatial_axes_; ++i) draws[x.ndim() - 1 - i] = 1;
  const Array keep = random::bernoulli(1 - p_, draws, std::nullopt, x.device());
  return (keep * x) * (1 / (1 - p_));
}

}  // namespace ferry::nn
