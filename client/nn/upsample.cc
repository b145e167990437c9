#include "client/nn/upsample.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::nn {
namespace {

// One tap of an axis: for each output position, the input index and its weight.
struct Tap {
  std::vector<uint32_t> index;
  std::vector<float> weight;
};

int64_t OutputLength(int64_t n, double scale) { return static_cast<int64_t>(scale * n); }

// Where output position m samples the input, in input coordinates (float32, as MLX).
std::vector<float> Positions(int64_t n, double scale, bool align_corners) {
  const int64_t m = OutputLength(n, scale);
  const double step = 1 / scale;
  const float aligned_step =
      static_cast<float>(static_cast<double>(n - 1) / std::max<int64_t>(m - 1, 1));
  const float start = static_cast<float>(((m - 1) * step - n + 1) / 2);
  std::vector<float> positions(m);
  for (int64_t i = 0; i < m; ++i) {
    positions[i] = align_corners ? static_cast<float>(i) * aligned_step
                                 : static_cast<float>(i) * static_cast<float>(step) - start;
  }
  return positions;
}

uint32_t Clamp(float index, int64_t n) {
  return static_cast<uint32_t>(std::clamp(index, 0.0f, static_cast<float>(n - 1)));
}

std::vector<Tap> LinearTaps(int64_t n, double scale, bool align_corners) {
  Tap left, right;
  for (float p : Positions(n, scale, align_corners)) {
    p = std::clamp(p, 0.0f, static_cast<float>(n - 1));
    const float w = p - std::floor(p);
    left.index.push_back(static_cast<uint32_t>(std::floor(p)));
    left.weight.push_back(1 - w);
    right.index.push_back(static_cast<uint32_t>(std::ceil(p)));
    right.weight.push_back(w);
  }
  return {left, right};
}

float CubicWeight(float x, bool inner, float a) {
  return inner ? ((a + 2.0f) * x - (a + 3.0f)) * x * x + 1 : (((x - 5) * x + 8) * x - 4) * a;
}

std::vector<Tap> CubicTaps(int64_t n, double scale, bool align_corners) {
  std::vector<Tap> taps(4);
  for (float p : Positions(n, scale, align_corners)) {
    const float l1 = std::floor(p);
    const float r1 = std::floor(p + 1);
    const float grid[4] = {l1, r1, l1 - 1, r1 + 1};
    for (int k = 0; k < 4; ++k) {
      taps[k].index.push_back(Clamp(grid[k], n));
      taps[k].weight.push_back(CubicWeight(std::abs(p - grid[k]), k < 2, -0.75f));
    }
  }
  return taps;
}

// Antialiased taps: the kernel (of `radius`) stretched by 1 / scale when shrinking, the
// weights of each output normalized over the taps inside the input.
std::vector<Tap> AntialiasTaps(int64_t n, double scale, bool align_corners, float radius,
                               const std::function<float(float)>& kernel) {
  const float inv_scale = scale < 1 ? static_cast<float>(1.0 / scale) : 1.0f;
  const int taps_per_side = static_cast<int>(std::ceil(radius * inv_scale)) + 1;
  const std::vector<float> positions = Positions(n, scale, align_corners);
  std::vector<Tap> taps(2 * taps_per_side - 1);
  for (float p : positions) {
    std::vector<float> weights;
    float total = 0;
    for (int k = -taps_per_side + 1; k < taps_per_side; ++k) {
      const float index = std::floor(p) + static_cast<float>(k);
      const float w = index >= 0 && index < n ? kernel(std::abs(p - index) / inv_scale) : 0.0f;
      weights.push_back(w);
      total += w;
    }
    if (!(total > 0)) total = 1;
    for (int k = -taps_per_side + 1; k < taps_per_side; ++k) {
      Tap& tap = taps[k + taps_per_side - 1];
      tap.index.push_back(Clamp(std::floor(p) + static_cast<float>(k), n));
      tap.weight.push_back(weights[k + taps_per_side - 1] / total);
    }
  }
  return taps;
}

void CheckScales(const char* op, const Array& x, const std::vector<double>& scale_factor) {
  const int spatial = x.ndim() - 2;
  if (spatial <= 0 || static_cast<int>(scale_factor.size()) != spatial) {
    detail::ThrowOpError(op, absl::StrCat("x (", core::ShapeToString(x.shape()),
                                          ") needs one scale per spatial axis (got ",
                                          scale_factor.size(), "), and at least one such axis."));
  }
  for (double s : scale_factor) {
    if (!(s > 0)) detail::ThrowOpError(op, absl::StrCat("scales must be positive, got ", s, "."));
  }
}

// x interpolated along each spatial axis in turn by the taps `taps_of` gives for it.
Array Interpolate(const char* op, const Array& x, const std::vector<double>& scale_factor,
                  const std::function<std::vector<Tap>(int64_t n, double scale)>& taps_of) {
  CheckScales(op, x, scale_factor);
  Array out = x;
  const int spatial = x.ndim() - 2;
  for (int axis = 1; axis <= spatial; ++axis) {
    std::optional<Array> sum;
    for (const Tap& tap : taps_of(x.shape(axis), scale_factor[axis - 1])) {
      const int64_t m = static_cast<int64_t>(tap.index.size());
      Shape weight_shape(spatial + 1, 1);
      weight_shape[axis - 1] = m;
      const Array index = from_host(tap.index, {m}, x.device());
      const Array weight = from_host(tap.weight, weight_shape, x.device());
      const Array sample = take(out, index, axis) * astype(weight, out.dtype());
      sum = sum ? *sum + sample : sample;
    }
    out = *sum;
  }
  return out;
}

}  // namespace

Array upsample_nearest(const Array& x, const std::vector<double>& scale_factor) {
  return Interpolate("upsample_nearest", x, scale_factor, [](int64_t n, double scale) {
    Tap tap;
    const int64_t m = OutputLength(n, scale);
    for (int64_t i = 0; i < m; ++i) {
      float p = static_cast<float>(i);
      if (m > n) {
        p = std::nearbyint((p + 0.5f) * static_cast<float>(static_cast<double>(n) / m) - 0.5f);
      } else {
        p = p * static_cast<float>(static_cast<double>(n) / m);
      }
      tap.index.push_back(static_cast<uint32_t>(p));
      tap.weight.push_back(1);
    }
    return std::vector<Tap>{tap};
  });
}

Array upsample_linear(const Array& x, const std::vector<double>& scale_factor, bool align_corners,
                      bool antialias) {
  return Interpolate("upsample_linear", x, scale_factor, [&](int64_t n, double scale) {
    if (!antialias) return LinearTaps(n, scale, align_corners);
    return AntialiasTaps(n, scale, align_corners, 1.0f,
                         [](float d) { return std::max(1.0f - d, 0.0f); });
  });
}

Array upsample_cubic(const Array& x, const std::vector<double>& scale_factor, bool align_corners,
                     bool antialias) {
  return Interpolate("upsample_cubic", x, scale_factor, [&](int64_t n, double scale) {
    if (!antialias) return CubicTaps(n, scale, align_corners);
    return AntialiasTaps(n, scale, align_corners, 2.0f, [](float d) {
      return d <= 1.0f   ? CubicWeight(d, true, -0.5f)
             : d <= 2.0f ? CubicWeight(d, false, -0.5f)
                         : 0.0f;
    });
  });
}

Upsample::Upsample(std::vector<double> scale_factor, const std::string& mode, bool align_corners,
                   bool antialias)
    : scale_factor_(std::move(scale_factor)),
      mode_(mode),
      align_corners_(align_corners),
      antialias_(antialias) {
  if (mode != "nearest" && mode != "linear" && mode != "cubic") {
    detail::ThrowOpError("Upsample", absl::StrCat("mode must be \"nearest\", \"linear\" or "
                                                  "\"cubic\", got \"",
                                                  mode, "\"."));
  }
  if (antialias && (mode == "nearest" || align_corners)) {
    detail::ThrowOpError("Upsample",
                         "antialias needs mode \"linear\" or \"cubic\" and corners not aligned.");
  }
}

Array Upsample::operator()(const Array& x) {
  std::vector<double> scales = scale_factor_;
  if (scales.size() == 1 && x.ndim() > 3) scales.assign(x.ndim() - 2, scales[0]);
  if (mode_ == "nearest") return upsample_nearest(x, scales);
  if (mode_ == "linear") return upsample_linear(x, scales, align_corners_, antialias_);
  return upsample_cubic(x, scales, align_corners_, antialias_);
}

}  // namespace ferry::nn
