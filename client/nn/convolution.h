#ifndef FERRY_CLIENT_NN_CONVOLUTION_H_
#define FERRY_CLIENT_NN_CONVOLUTION_H_

#include <cstdint>
#include <tuple>
#include <utility>

#include "client/nn/module.h"

namespace ferry::nn {

// Channels last, as MLX's Conv1d: x (N, L, in_channels) to (N, L_out, out_channels);
// weight (out_channels, kernel_size, in_channels / groups) drawn uniform in
// +-sqrt(1 / (in_channels / groups * kernel_size)), bias zeros.
class Conv1d : public Layer {
 public:
  Conv1d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride = 1,
         int padding = 0, int dilation = 1, int groups = 1, bool bias = true);
  Array operator()(const Array& x) override;

 private:
  int stride_, padding_, dilation_, groups_;
};

// As Conv1d over (N, H, W, in_channels); each pair is (height, width).
class Conv2d : public Layer {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, std::pair<int, int> kernel_size,
         std::pair<int, int> stride = {1, 1}, std::pair<int, int> padding = {0, 0},
         std::pair<int, int> dilation = {1, 1}, int groups = 1, bool bias = true);
  // A square kernel, the same stride and padding both ways.
  Conv2d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride = 1,
         int padding = 0);
  Array operator()(const Array& x) override;

 private:
  std::pair<int, int> stride_, padding_, dilation_;
  int groups_;
};

// As Conv1d over (N, D, H, W, in_channels); each triple is (depth, height, width).
class Conv3d : public Layer {
 public:
  Conv3d(int64_t in_channels, int64_t out_channels, std::tuple<int, int, int> kernel_size,
         std::tuple<int, int, int> stride = {1, 1, 1},
         std::tuple<int, int, int> padding = {0, 0, 0},
         std::tuple<int, int, int> dilation = {1, 1, 1}, int groups = 1, bool bias = true);
  Array operator()(const Array& x) override;

 private:
  std::tuple<int, int, int> stride_, padding_, dilation_;
  int groups_;
};

// Transposed convolutions (conv_transpose1d to 3d), as MLX's ConvTranspose1d to 3d:
// weight (out_channels, kernel..., in_channels) drawn uniform in
// +-sqrt(1 / (in_channels * kernel taps)), bias zeros.
class ConvTranspose1d : public Layer {
 public:
  ConvTranspose1d(int64_t in_channels, int64_t out_channels, int kernel_size, int stride = 1,
                  int padding = 0, int dilation = 1, int output_padding = 0, bool bias = true);
  Array operator()(const Array& x) override;

 private:
  int stride_, padding_, dilation_, output_padding_;
};

class ConvTranspose2d : public Layer {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, std::pair<int, int> kernel_size,
                  std::pair<int, int> stride = {1, 1}, std::pair<int, int> padding = {0, 0},
                  std::pair<int, int> dilation = {1, 1},
                  std::pair<int, int> output_padding = {0, 0}, bool bias = true);
  Array operator()(const Array& x) override;

 private:
  std::pair<int, int> stride_, padding_, dilation_, output_padding_;
};

class ConvTranspose3d : public Layer {
 public:
  ConvTranspose3d(int64_t in_channels, int64_t out_channels, std::tuple<int, int, int> kernel_size,
                  std::tuple<int, int, int> stride = {1, 1, 1},
                  std::tuple<int, int, int> padding = {0, 0, 0},
                  std::tuple<int, int, int> dilation = {1, 1, 1},
                  std::tuple<int, int, int> output_padding = {0, 0, 0}, bool bias = true);
  Array operator()(const Array& x) override;

 private:
  std::tuple<int, int, int> stride_, padding_, dilation_, output_padding_;
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_CONVOLUTION_H_
