#ifndef FERRY_CLIENT_NN_RECURRENT_H_
#define FERRY_CLIENT_NN_RECURRENT_H_

// Recurrent layers, as MLX's: x (N, L, D) or (L, D) to the hidden state at every step,
// (N, L, H) or (L, H); the loop over L is unrolled into the graph (one eval runs it all).
// Weights are drawn uniform in +-1 / sqrt(hidden_size) and named as MLX names them.

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>

#include "client/nn/module.h"

namespace ferry::nn {

// h_t = nonlinearity(x_t Wxh^T + bias + h_{t-1} Whh^T); tanh by default.
class RNN : public Layer {
 public:
  RNN(int64_t input_size, int64_t hidden_size, bool bias = true,
      std::function<Array(const Array&)> nonlinearity = nullptr);
  Array operator()(const Array& x) override { return (*this)(x, std::nullopt); }
  Array operator()(const Array& x, const std::optional<Array>& hidden);

 private:
  std::function<Array(const Array&)> nonlinearity_;
};

// PyTorch's and MLX's GRU: reset and update gates, the candidate's hidden projection
// offset by bhn inside the reset. Parameters Wx (3H, D), Wh (3H, H), b (3H,), bhn (H,).
class GRU : public Layer {
 public:
  GRU(int64_t input_size, int64_t hidden_size, bool bias = true);
  Array operator()(const Array& x) override { return (*this)(x, std::nullopt); }
  Array operator()(const Array& x, const std::optional<Array>& hidden);

 private:
  int64_t hidden_size_;
};

// Input, forget, cell and output gates (in that order in Wx (4H, D), Wh (4H, H), bias).
// Returns the hidden and the cell state at every step.
class LSTM : public Module {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, bool bias = true);
  std::pair<Array, Array> operator()(const Array& x,
                                     const std::optional<Array>& hidden = std::nullopt,
                                     const std::optional<Array>& cell = std::nullopt);
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_RECURRENT_H_
