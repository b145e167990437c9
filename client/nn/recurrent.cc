#include "client/nn/recurrent.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "client/random.h"
#include "core/shape.h"

namespace ferry::nn {
namespace {

Array Uniform(const Shape& shape, int64_t hidden_size) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(hidden_size));
  return random::uniform(shape, float32, -scale, scale);
}

void CheckSizes(const char* layer, int64_t input_size, int64_t hidden_size) {
  if (input_size <= 0 || hidden_size <= 0) {
    detail::ThrowOpError(layer, absl::StrCat("input_size (", input_size, ") and hidden_size (",
                                             hidden_size, ") must be positive."));
  }
}

// x's projection x Wx^T (+ bias), checked to be (N, L, D) or (L, D).
Array Project(const char* layer, const Array& x, const Array& wx, const Array* bias) {
  if (x.ndim() < 2 || x.ndim() > 3 || x.shape(-1) != wx.shape(1)) {
    detail::ThrowOpError(
        layer, absl::StrCat("x must be (batch, length, ", wx.shape(1), ") or (length, ",
                            wx.shape(1), "), got shape ", core::ShapeToString(x.shape()), "."));
  }
  const Array projected = matmul(x, transpose(wx));
  return bias != nullptr ? projected + *bias : projected;
}

}  // namespace

RNN::RNN(int64_t input_size, int64_t hidden_size, bool bias,
         std::function<Array(const Array&)> nonlinearity)
    : nonlinearity_(nonlinearity ? std::move(nonlinearity)
                                 : [](const Array& h) { return tanh(h); }) {
  CheckSizes("RNN", input_size, hidden_size);
  register_parameter("Wxh", Uniform({hidden_size, input_size}, hidden_size));
  register_parameter("Whh", Uniform({hidden_size, hidden_size}, hidden_size));
  if (bias) register_parameter("bias", Uniform({hidden_size}, hidden_size));
}

Array RNN::operator()(const Array& x, const std::optional<Array>& hidden) {
  const Array projected =
      Project("RNN", x, parameter("Wxh"), has_parameter("bias") ? &parameter("bias") : nullptr);
  const Array whh_t = transpose(parameter("Whh"));
  std::optional<Array> h = hidden;
  std::vector<Array> all;
  for (int64_t t = 0; t < projected.shape(-2); ++t) {
    const Array step = take(projected, t, -2);
    h = nonlinearity_(h ? step + matmul(*h, whh_t) : step);
    all.push_back(*h);
  }
  return stack(all, -2);
}

GRU::GRU(int64_t input_size, int64_t hidden_size, bool bias) : hidden_size_(hidden_size) {
  CheckSizes("GRU", input_size, hidden_size);
  register_parameter("Wx", Uniform({3 * hidden_size, input_size}, hidden_size));
  register_parameter("Wh", Uniform({3 * hidden_size, hidden_size}, hidden_size));
  if (!bias) return;
  register_parameter("b", Uniform({3 * hidden_size}, hidden_size));
  register_parameter("bhn", Uniform({hidden_size}, hidden_size));
}

Array GRU::operator()(const Array& x, const std::optional<Array>& hidden) {
  const Array projected =
      Project("GRU", x, parameter("Wx"), has_parameter("b") ? &parameter("b") : nullptr);
  const std::vector<Array> parts = split(projected, Shape{2 * hidden_size_}, -1);
  const Array wh_t = transpose(parameter("Wh"));
  std::optional<Array> bhn;
  if (has_parameter("bhn")) bhn = parameter("bhn");
  std::optional<Array> h = hidden;
  std::vector<Array> all;
  for (int64_t t = 0; t < projected.shape(-2); ++t) {
    Array rz = take(parts[0], t, -2);
    Array n = take(parts[1], t, -2);
    std::optional<Array> h_n;
    if (h) {
      const std::vector<Array> h_parts = split(matmul(*h, wh_t), Shape{2 * hidden_size_}, -1);
      rz = rz + h_parts[0];
      h_n = bhn ? h_parts[1] + *bhn : h_parts[1];
    } else if (bhn) {
      h_n = *bhn;
    }
    const std::vector<Array> gates = split(sigmoid(rz), 2, -1);  // reset, update
    if (h_n) n = n + gates[0] * *h_n;
    n = tanh(n);
    h = h ? (1 - gates[1]) * n + gates[1] * *h : (1 - gates[1]) * n;
    all.push_back(*h);
  }
  return stack(all, -2);
}

LSTM::LSTM(int64_t input_size, int64_t hidden_size, bool bias) {
  CheckSizes("LSTM", input_size, hidden_size);
  register_parameter("Wx", Uniform({4 * hidden_size, input_size}, hidden_size));
  register_parameter("Wh", Uniform({4 * hidden_size, hidden_size}, hidden_size));
  if (bias) register_parameter("bias", Uniform({4 * hidden_size}, hidden_size));
}

std::pair<Array, Array> LSTM::operator()(const Array& x, const std::optional<Array>& hidden,
                                         const std::optional<Array>& cell) {
  const Array projected =
      Project("LSTM", x, parameter("Wx"), has_parameter("bias") ? &parameter("bias") : nullptr);
  const Array wh_t = transpose(parameter("Wh"));
  std::optional<Array> h = hidden;
  std::optional<Array> c = cell;
  std::vector<Array> all_hidden;
  std::vector<Array> all_cell;
  for (int64_t t = 0; t < projected.shape(-2); ++t) {
    Array ifgo = take(projected, t, -2);
    if (h) ifgo = ifgo + matmul(*h, wh_t);
    const std::vector<Array> gates = split(ifgo, 4, -1);
    const Array i = sigmoid(gates[0]);
    const Array f = sigmoid(gates[1]);
    const Array g = tanh(gates[2]);
    const Array o = sigmoid(gates[3]);
    c = c ? f * *c + i * g : i * g;
    h = o * tanh(*c);
    all_hidden.push_back(*h);
    all_cell.push_back(*c);
  }
  return {stack(all_hidden, -2), stack(all_cell, -2)};
}

}  // namespace ferry::nn
