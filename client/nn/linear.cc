#include "client/nn/linear.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"
#include "core/shape.h"

namespace ferry::nn {

Linear::Linear(int64_t input_dims, int64_t output_dims, bool bias) {
  if (input_dims <= 0 || output_dims <= 0) {
    detail::ThrowOpError("Linear", absl::StrCat("input_dims (", input_dims, ") and output_dims (",
                                                output_dims, ") must be positive."));
  }
  const double scale = std::sqrt(1.0 / static_cast<double>(input_dims));
  register_parameter("weight", random::uniform({output_dims, input_dims}, float32, -scale, scale));
  if (bias) register_parameter("bias", random::uniform({output_dims}, float32, -scale, scale));
}

Array Linear::operator()(const Array& x) {
  const Array& weight = parameter("weight");
  if (x.ndim() == 0 || x.shape(-1) != weight.shape(1)) {
    detail::ThrowOpError(
        "Linear", absl::StrCat("x's last axis must have ", weight.shape(1), " features, got shape ",
                               core::ShapeToString(x.shape()), "."));
  }
  if (has_parameter("bias")) return addmm(parameter("bias"), x, transpose(weight));
  return matmul(x, transpose(weight));
}

}  // namespace ferry::nn
