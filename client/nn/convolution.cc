#include "client/nn/convolution.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"

namespace ferry::nn {
namespace {

// The weight (out_channels, kernel..., in_channels / groups), uniform in +-sqrt(1 / fan_in).
Array ConvWeight(const char* layer, int64_t in_channels, int64_t out_channels, Shape kernel,
                 int groups) {
  if (in_channels <= 0 || out_channels <= 0 || groups <= 0 || in_channels % groups != 0 ||
      out_channels % groups != 0) {
    detail::ThrowOpError(
        layer, absl::StrCat("in_channels (", in_channels, ") and out_channels (", out_channels,
                            ") must be positive multiples of groups (", groups, ")."));
  }
  int64_t fan_in = in_channels / groups;
  for (int64_t k : kernel) {
    if (k <= 0) detail::ThrowOpError(layer, absl::StrCat("kernel sizes must be positive."));
    fan_in *= k;
  }
  const double scale = std::sqrt(1.0 / static_cast<double>(fan_in));
  Shape shape = {out_channels};
  shape.insert(shape.end(), kernel.begin(), kernel.end());
  shape.push_back(in_channels / groups);
  return random::uniform(shape, float32, -scale, scale);
}

}  // namespace

Conv1d::Conv1d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride, int padding,
               int dilation, int groups, bool bias)
    : stride_(stride), padding_(padding), dilation_(dilation), groups_(groups) {
  register_parameter("weight",
                     ConvWeight("Conv1d", in_channels, out_channels, {kernel_size}, groups));
  if (bias) register_parameter("bias", zeros({out_channels}));
}

Array Conv1d::operator()(const Array& x) {
  Array y = conv1d(x, parameter("weight"), stride_, padding_, dilation_, groups_);
  return has_parameter("bias") ? y + parameter("bias") : y;
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, std::pair<int, int> kernel_size,
               std::pair<int, int> stride, std::pair<int, int> padding,
               std::pair<int, int> dilation, int groups, bool bias)
    : stride_(stride), padding_(padding), dilation_(dilation), groups_(groups) {
  register_parameter("weight", ConvWeight("Conv2d", in_channels, out_channels,
                                          {kernel_size.first, kernel_size.second}, groups));
  if (bias) register_parameter("bias", zeros({out_channels}));
}

Conv2d::Conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride, int padding)
    : Conv2d(in_channels, out_channels, {kernel_size, kernel_size}, {stride, stride},
             {padding, padding}) {}

Array Conv2d::operator()(const Array& x) {
  Array y = conv2d(x, parameter("weight"), stride_, padding_, dilation_, groups_);
  return has_parameter("bias") ? y + parameter("bias") : y;
}

Conv3d::Conv3d(int64_t in_channels, int64_t out_channels, std::tuple<int, int, int> kernel_size,
               std::tuple<int, int, int> stride, std::tuple<int, int, int> padding,
               std::tuple<int, int, int> dilation, int groups, bool bias)
    : stride_(stride), padding_(padding), dilation_(dilation), groups_(groups) {
  const auto [d, h, w] = kernel_size;
  register_parameter("weight", ConvWeight("Conv3d", in_channels, out_channels, {d, h, w}, groups));
  if (bias) register_parameter("bias", zeros({out_channels}));
}

Array Conv3d::operator()(const Array& x) {
  Array y = conv3d(x, parameter("weight"), stride_, padding_, dilation_, groups_);
  return has_parameter("bias") ? y + parameter("bias") : y;
}

ConvTranspose1d::ConvTranspose1d(int64_t in_channels, int64_t out_channels, int kernel_size,
                                 int stride, int padding, int dilation, int output_padding,
                                 bool bias)
    : stride_(stride), padding_(padding), dilation_(dilation), output_padding_(output_padding) {
  register_parameter("weight",
                     ConvWeight("ConvTranspose1d", in_channels, out_channels, {kernel_size}, 1));
  if (bias) register_parameter("bias", zeros({out_channels}));
}

Array ConvTranspose1d::operator()(const Array& x) {
  Array y = conv_transpose1d(x, parameter("weight"), stride_, padding_, dilation_, output_padding_);
  return has_parameter("bias") ? y + parameter("bias") : y;
}

ConvTranspose2d::ConvTranspose2d(int64_t in_channels, int64_t out_channels,
                                 std::pair<int, int> kernel_size, std::pair<int, int> stride,
                                 std::pair<int, int> padding, std::pair<int, int> dilation,
                                 std::pair<int, int> output_padding, bool bias)
    : stride_(stride), padding_(padding), dilation_(dilation), output_padding_(output_padding) {
  register_parameter("weight", ConvWeight("ConvTranspose2d", in_channels, out_channels,
                                          {kernel_size.first, kernel_size.second}, 1));
  if (bias) register_parameter("bias", zeros({out_channels}));
}

Array ConvTranspose2d::operator()(const Array& x) {
  Array y = conv_transpose2d(x, parameter("weight"), stride_, padding_, dilation_, output_padding_);
  return has_parameter("bias") ? y + parameter("bias") : y;
}

ConvTranspose3d::ConvTranspose3d(int64_t in_channels, int64_t out_channels,
                                 std::tuple<int, int, int> kernel_size,
                                 std::tuple<int, int, int> stride,
                                 std::tuple<int, int, int> padding,
                                 std::tuple<int, int, int> dilation,
                                 std::tuple<int, int, int> output_padding, bool bias)
    : stride_(stride), padding_(padding), dilation_(dilation), output_padding_(output_padding) {
  const auto [d, h, w] = kernel_size;
  register_parameter("weight",
                     ConvWeight("ConvTranspose3d", in_channels, out_channels, {d, h, w}, 1));
  if (bias) register_parameter("bias", zeros({out_channels}));
}

Array ConvTranspose3d::operator()(const Array& x) {
  Array y = conv_transpose3d(x, parameter("weight"), stride_, padding_, dilation_, output_padding_);
  return has_parameter("bias") ? y + parameter("bias") : y;
}

}  // namespace ferry::nn
