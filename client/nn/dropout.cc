#include "client/nn/dropout.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::nn {

Dropout::Dropout(double p) : p_(p) {
  if (!(p >= 0 && p < 1)) {
    detail::ThrowOpError("Dropout", absl::StrCat("p must be in [0, 1), got ", p, "."));
  }
}

Array Dropout::operator()(const Array& x) {
  if (p_ == 0 || !training()) return x;
  const Array keep = random::bernoulli(1 - p_, x.shape(), std::nullopt, x.device());
  return (keep * x) * (1 / (1 - p_));
}

}  // namespace ferry::nn
