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
  Array y = x;
  if (const std::optional<Quantization>& q = quantization()) {
    y = quantized_matmul(x, weight, parameter("scales"), quantized_biases(), /*transpose=*/true,
                         q->group_size, q->bits, q->mode);
  } else {
    if (x.ndim() == 0 || x.shape(-1) != weight.shape(1)) {
      detail::ThrowOpError(
          "Linear", absl::StrCat("x's last axis must have ", weight.shape(1),
                                 " features, got shape ", core::ShapeToString(x.shape()), "."));
    }
    y = matmul(x, transpose(weight));
  }
  return has_parameter("bias") ? y + parameter("bias") : y;
}

QuantizedLinear::QuantizedLinear(int64_t input_dims, int64_t output_dims, bool bias,
                                 std::optional<int> group_size, std::optional<int> bits,
                                 const std::string& mode)
    : Linear(input_dims, output_dims, bias) {
  quantize(group_size, bits, mode);
}

}  // namespace ferry::nn
