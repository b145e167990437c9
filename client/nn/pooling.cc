#include "client/nn/pooling.h"

#include <vector>

#include "client/ops.h"

namespace ferry::nn {
namespace {

std::optional<std::pair<int, int>> Both(std::optional<int> stride) {
  if (!stride) return std::nullopt;
  return std::make_pair(*stride, *stride);
}

}  // namespace

MaxPool1d::MaxPool1d(int kernel_size, std::optional<int> stride, int padding)
    : Lambda([=](const Array& x) { return max_pool1d(x, kernel_size, stride, padding); }) {}

AvgPool1d::AvgPool1d(int kernel_size, std::optional<int> stride, int padding)
    : Lambda([=](const Array& x) { return avg_pool1d(x, kernel_size, stride, padding); }) {}

MaxPool2d::MaxPool2d(std::pair<int, int> kernel_size, std::optional<std::pair<int, int>> stride,
                     std::pair<int, int> padding)
    : Lambda([=](const Array& x) { return max_pool2d(x, kernel_size, stride, padding); }) {}
MaxPool2d::MaxPool2d(int kernel_size, std::optional<int> stride, int padding)
    : MaxPool2d({kernel_size, kernel_size}, Both(stride), {padding, padding}) {}

AvgPool2d::AvgPool2d(std::pair<int, int> kernel_size, std::optional<std::pair<int, int>> stride,
                     std::pair<int, int> padding)
    : Lambda([=](const Array& x) { return avg_pool2d(x, kernel_size, stride, padding); }) {}
AvgPool2d::AvgPool2d(int kernel_size, std::optional<int> stride, int padding)
    : AvgPool2d({kernel_size, kernel_size}, Both(stride), {padding, padding}) {}

MaxPool3d::MaxPool3d(int kernel_size, std::optional<int> stride, int padding)
    : Lambda([=](const Array& x) {
        return max_pool_general(x, {kernel_size},
                                stride ? std::vector<int>{*stride} : std::vector<int>{}, {padding});
      }) {}

AvgPool3d::AvgPool3d(int kernel_size, std::optional<int> stride, int padding)
    : Lambda([=](const Array& x) {
        return avg_pool_general(x, {kernel_size},
                                stride ? std::vector<int>{*stride} : std::vector<int>{}, {padding});
      }) {}

}  // namespace ferry::nn
