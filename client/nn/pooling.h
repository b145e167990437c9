#ifndef FERRY_CLIENT_NN_POOLING_H_
#define FERRY_CLIENT_NN_POOLING_H_

// Pooling layers, as MLX's: channels last, the window's stride the kernel's size unless
// given (max_pool1d and its kin in client/ops.h). The 2-D ones take (height, width) pairs,
// or one number for both.

#include <optional>
#include <utility>

#include "client/nn/activations.h"

namespace ferry::nn {

class MaxPool1d : public Lambda {
 public:
  explicit MaxPool1d(int kernel_size, std::optional<int> stride = std::nullopt, int padding = 0);
};

class AvgPool1d : public Lambda {
 public:
  explicit AvgPool1d(int kernel_size, std::optional<int> stride = std::nullopt, int padding = 0);
};

class MaxPool2d : public Lambda {
 public:
  explicit MaxPool2d(std::pair<int, int> kernel_size,
                     std::optional<std::pair<int, int>> stride = std::nullopt,
                     std::pair<int, int> padding = {0, 0});
  explicit MaxPool2d(int kernel_size, std::optional<int> stride = std::nullopt, int padding = 0);
};

class AvgPool2d : public Lambda {
 public:
  explicit AvgPool2d(std::pair<int, int> kernel_size,
                     std::optional<std::pair<int, int>> stride = std::nullopt,
                     std::pair<int, int> padding = {0, 0});
  explicit AvgPool2d(int kernel_size, std::optional<int> stride = std::nullopt, int padding = 0);
};

// 3-D windows over (N, D, H, W, C): one size, stride and padding for every spatial axis.
class MaxPool3d : public Lambda {
 public:
  explicit MaxPool3d(int kernel_size, std::optional<int> stride = std::nullopt, int padding = 0);
};

class AvgPool3d : public Lambda {
 public:
  explicit AvgPool3d(int kernel_size, std::optional<int> stride = std::nullopt, int padding = 0);
};

}  // namespace ferry::nn

#endif  // FERRY_CLIENT_NN_POOLING_H_
