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
  Layer* extra = adapter();
  if (dynamic_cast<ReplacingAdapter*>(extra) != nullptr) return (*extra)(x);
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
  if (has_parameter("bias")) y = y + parameter("bias");
  if (extra != nullptr) y = y + (*extra)(x);
  return y;
}

Bilinear::Bilinear(int64_t input1_dims, int64_t input2_dims, int64_t output_dims, bool bias) {
  if (input1_dims <= 0 || input2_dims <= 0 || output_dims <= 0) {
    detail::ThrowOpError("Bilinear", "input1_dims, input2_dims and output_dims must be positive.");
  }
  const double scale = std::sqrt(1.0 / static_cast<double>(input1_dims));
  register_parameter(
      "weight", random::uniform({output_dims, input2_dims, input1_dims}, float32, -scale, scale));
  if (bias) register_parameter("bias", random::uniform({output_dims}, float32, -scale, scale));
}

Array Bilinear::operator()(const Array& x1, const Array& x2) {
  const Array& weight = parameter("weight");
  const int64_t out = weight.shape(0), in2 = weight.shape(1), in1 = weight.shape(2);
  if (x1.ndim() == 0 || x2.ndim() == 0 || x1.shape(-1) != in1 || x2.shape(-1) != in2) {
    detail::ThrowOpError("Bilinear",
                         absl::StrCat("x1 must end in ", in1, " features and x2 in ", in2,
                                      ", got shapes ", core::ShapeToString(x1.shape()), " and ",
                                      core::ShapeToString(x2.shape()), "."));
  }
  Shape batch(x1.shape().begin(), x1.shape().end() - 1);
  const int64_t rows = x1.size() / in1;
  const Array rows1 = reshape(x1, {rows, in1});
  const Array rows2 = reshape(x2, {x2.size() / in2, 1, in2});
  // (rows, out, in2): each output's weight applied to x1, then dotted with x2.
  const Array projected = swapaxes(
      reshape(matmul(rows1, transpose(reshape(weight, {out * in2, in1}))), {rows, out, in2}), -2,
      -1);
  Array y = squeeze(matmul(rows2, projected), 1);
  batch.push_back(out);
  y = reshape(y, batch);
  return has_parameter("bias") ? y + parameter("bias") : y;
}

QuantizedLinear::QuantizedLinear(int64_t input_dims, int64_t output_dims, bool bias,
                                 std::optional<int> group_size, std::optional<int> bits,
                                 const std::string& mode)
    : Linear(input_dims, output_dims, bias) {
  quantize(group_size, bits, mode);
}

}  // namespace ferry::nn
