// Max and average pooling, channels last, composed of strided slices: the window's tap
// (k0, k1, k2) of every output is one slice of the padded input, and the taps are folded
// with maximum or add (fused into one kernel on a GPU; autodiff through slice's rule).

#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"

namespace ferry {
namespace {

enum class Fold { kMax, kMean };

// The lowest value of `dtype`, for padding a max.
double Lowest(Dtype dtype) {
  if (core::IsFloating(dtype)) return -std::numeric_limits<double>::infinity();
  switch (dtype) {
    case int8:
      return std::numeric_limits<int8_t>::lowest();
    case int16:
      return std::numeric_limits<int16_t>::lowest();
    case int32:
      return std::numeric_limits<int32_t>::lowest();
    case int64:
      return static_cast<double>(std::numeric_limits<int64_t>::lowest());  // -2^63, exact
    default:
      return 0;  // bool and the unsigned types
  }
}

Array Pool(const char* op, Fold fold, const Array& x, const std::vector<int>& kernel,
           const std::vector<int>& stride, const std::vector<int>& padding) {
  const int spatial = x.ndim() - 2;
  if (spatial < 1 || spatial > 3) {
    detail::ThrowOpError(
        op, absl::StrCat("x must have rank 3 to 5 (N, spatial..., C), got rank ", x.ndim(), "."));
  }
  auto list = [&](const char* name, const std::vector<int>& values, int least) {
    return detail::SpatialValues(op, name, values, spatial, least);
  };
  const std::vector<int64_t> k = list("kernel", kernel, 1);
  const std::vector<int64_t> s = stride.empty() ? k : list("stride", stride, 1);
  const std::vector<int64_t> p = list("padding", padding, 0);
  std::vector<std::pair<int64_t, int64_t>> widths(x.ndim(), {0, 0});
  Shape out_shape = x.shape();
  int64_t window = 1;
  for (int d = 0; d < spatial; ++d) {
    if (2 * p[d] > k[d]) {
      detail::ThrowOpError(
          op, absl::StrCat("padding ", p[d], " is more than half the kernel ", k[d], "."));
    }
    const int64_t length = x.shape()[d + 1] + 2 * p[d];
    if (length < k[d]) {
      detail::ThrowOpError(
          op, absl::StrCat("spatial axis ", d, " of length ", x.shape()[d + 1], " (padded ", length,
                           ") is shorter than the kernel ", k[d], "."));
    }
    widths[d + 1] = {p[d], p[d]};
    out_shape[d + 1] = (length - k[d]) / s[d] + 1;
    window *= k[d];
  }
  Array padded = x;
  if (fold == Fold::kMean && x.dtype() != float32 && x.dtype() != float64) {
    padded = astype(x, float32);
  }
  padded = pad(padded, widths, fold == Fold::kMax ? Lowest(x.dtype()) : 0.0);
  std::optional<Array> folded;
  for (int64_t tap = 0; tap < window; ++tap) {
    Shape start(x.ndim(), 0), stop = out_shape, steps(x.ndim(), 1);
    int64_t rest = tap;
    for (int d = spatial - 1; d >= 0; --d) {
      const int64_t offset = rest % k[d];
      rest /= k[d];
      start[d + 1] = offset;
      stop[d + 1] = offset + (out_shape[d + 1] - 1) * s[d] + 1;
      steps[d + 1] = s[d];
    }
    stop[0] = x.shape()[0];
    stop.back() = x.shape().back();
    const Array taken = slice(padded, start, stop, steps);
    if (!folded) {
      folded = taken;
    } else {
      folded = fold == Fold::kMax ? maximum(*folded, taken) : *folded + taken;
    }
  }
  if (fold == Fold::kMax) return *folded;
  const Array mean = *folded / static_cast<double>(window);
  return core::IsFloating(x.dtype()) ? astype(mean, x.dtype()) : mean;
}

const Array& WithRank(const char* op, const Array& x, int rank) {
  if (x.ndim() != rank) {
    detail::ThrowOpError(op, absl::StrCat("x must have rank ", rank, ", got ", x.ndim(), "."));
  }
  return x;
}

}  // namespace

Array max_pool_general(const Array& x, const std::vector<int>& kernel,
                       const std::vector<int>& stride, const std::vector<int>& padding) {
  return Pool("max_pool", Fold::kMax, x, kernel, stride, padding);
}

Array avg_pool_general(const Array& x, const std::vector<int>& kernel,
                       const std::vector<int>& stride, const std::vector<int>& padding) {
  return Pool("avg_pool", Fold::kMean, x, kernel, stride, padding);
}

Array max_pool1d(const Array& x, int kernel, std::optional<int> stride, int padding) {
  return Pool("max_pool1d", Fold::kMax, WithRank("max_pool1d", x, 3), {kernel},
              {stride.value_or(kernel)}, {padding});
}

Array max_pool2d(const Array& x, const std::pair<int, int>& kernel,
                 std::optional<std::pair<int, int>> stride, const std::pair<int, int>& padding) {
  return Pool("max_pool2d", Fold::kMax, WithRank("max_pool2d", x, 4), detail::SpatialList(kernel),
              detail::SpatialList(stride.value_or(kernel)), detail::SpatialList(padding));
}

Array avg_pool1d(const Array& x, int kernel, std::optional<int> stride, int padding) {
  return Pool("avg_pool1d", Fold::kMean, WithRank("avg_pool1d", x, 3), {kernel},
              {stride.value_or(kernel)}, {padding});
}

Array avg_pool2d(const Array& x, const std::pair<int, int>& kernel,
                 std::optional<std::pair<int, int>> stride, const std::pair<int, int>& padding) {
  return Pool("avg_pool2d", Fold::kMean, WithRank("avg_pool2d", x, 4), detail::SpatialList(kernel),
              detail::SpatialList(stride.value_or(kernel)), detail::SpatialList(padding));
}

}  // namespace ferry
