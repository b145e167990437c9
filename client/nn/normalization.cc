#include "client/nn/normalization.h"

#include <numeric>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/fast.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::nn {
namespace {

void CheckDims(const char* layer, int64_t dims) {
  if (dims <= 0) detail::ThrowOpError(layer, absl::StrCat("dims (", dims, ") must be positive."));
}

}  // namespace

LayerNorm::LayerNorm(int64_t dims, float eps, bool affine, bool bias) : eps_(eps) {
  CheckDims("LayerNorm", dims);
  if (!affine) return;
  register_parameter("weight", ones({dims}));
  if (bias) register_parameter("bias", zeros({dims}));
}

Array LayerNorm::operator()(const Array& x) {
  std::optional<Array> weight;
  std::optional<Array> bias;
  if (has_parameter("weight")) weight = parameter("weight");
  if (has_parameter("bias")) bias = parameter("bias");
  return fast::layer_norm(x, weight, bias, eps_);
}

RMSNorm::RMSNorm(int64_t dims, float eps) : eps_(eps) {
  CheckDims("RMSNorm", dims);
  register_parameter("weight", ones({dims}));
}

Array RMSNorm::operator()(const Array& x) { return fast::rms_norm(x, parameter("weight"), eps_); }

GroupNorm::GroupNorm(int num_groups, int64_t dims, float eps, bool affine, bool pytorch_compatible)
    : num_groups_(num_groups), eps_(eps), pytorch_compatible_(pytorch_compatible) {
  CheckDims("GroupNorm", dims);
  if (num_groups <= 0 || dims % num_groups != 0) {
    detail::ThrowOpError("GroupNorm", absl::StrCat("dims (", dims, ") must be a multiple of ",
                                                   "num_groups (", num_groups, ")."));
  }
  if (!affine) return;
  register_parameter("bias", zeros({dims}));
  register_parameter("weight", ones({dims}));
}

Array GroupNorm::operator()(const Array& x) {
  if (x.ndim() < 2) {
    detail::ThrowOpError("GroupNorm", absl::StrCat("x must be (batch, ..., features), got shape ",
                                                   core::ShapeToString(x.shape()), "."));
  }
  const int64_t batch = x.shape(0);
  const int64_t dims = x.shape(-1);
  const int64_t per_group = dims / num_groups_;
  Array y = x;
  if (pytorch_compatible_) {
    // (batch, positions, groups, per_group) -> each group's positions and features together.
    y = transpose(reshape(x, {batch, x.size() / (batch * dims), num_groups_, per_group}),
                  {0, 2, 1, 3});
    const Shape grouped = y.shape();
    y = fast::layer_norm(reshape(y, {batch, num_groups_, grouped[2] * per_group}), std::nullopt,
                         std::nullopt, eps_);
    y = reshape(transpose(reshape(y, grouped), {0, 2, 1, 3}), x.shape());
  } else {
    // Feature f is in group f % num_groups (MLX's grouping).
    y = reshape(x, {batch, x.size() / (batch * num_groups_), num_groups_});
    y = (y - mean(y, 1, true)) * rsqrt(var(y, 1, true) + eps_);
    y = reshape(y, x.shape());
  }
  return has_parameter("weight") ? parameter("weight") * y + parameter("bias") : y;
}

InstanceNorm::InstanceNorm(int64_t dims, float eps, bool affine) : eps_(eps) {
  CheckDims("InstanceNorm", dims);
  if (!affine) return;
  register_parameter("weight", ones({dims}));
  register_parameter("bias", zeros({dims}));
}

Array InstanceNorm::operator()(const Array& x) {
  if (x.ndim() < 3) {
    detail::ThrowOpError("InstanceNorm", absl::StrCat("x must be (batch, spatial..., features), "
                                                      "got shape ",
                                                      core::ShapeToString(x.shape()), "."));
  }
  std::vector<int> spatial(x.ndim() - 2);
  std::iota(spatial.begin(), spatial.end(), 1);
  const Array y = (x - mean(x, spatial, true)) * rsqrt(var(x, spatial, true) + eps_);
  return has_parameter("weight") ? parameter("weight") * y + parameter("bias") : y;
}

BatchNorm::BatchNorm(int64_t num_features, float eps, float momentum, bool affine,
                     bool track_running_stats)
    : eps_(eps), momentum_(momentum), track_running_stats_(track_running_stats) {
  CheckDims("BatchNorm", num_features);
  if (!(eps > 0)) {
    detail::ThrowOpError("BatchNorm", absl::StrCat("eps must be positive, got ", eps, "."));
  }
  if (affine) {
    register_parameter("weight", ones({num_features}));
    register_parameter("bias", zeros({num_features}));
  }
  if (track_running_stats) {
    register_parameter("running_mean", zeros({num_features}), /*trainable=*/false);
    register_parameter("running_var", ones({num_features}), /*trainable=*/false);
  }
}

Array BatchNorm::operator()(const Array& x) {
  if (x.ndim() < 2 || x.ndim() > 4) {
    detail::ThrowOpError("BatchNorm", absl::StrCat("x must have rank 2, 3 or 4, got shape ",
                                                   core::ShapeToString(x.shape()), "."));
  }
  std::vector<int> axes(x.ndim() - 1);
  std::iota(axes.begin(), axes.end(), 0);
  if (training() && x.size() / x.shape(-1) == 1) {
    detail::ThrowOpError("BatchNorm", "training needs more than one value per feature.");
  }
  Array center = mean(x, axes);
  Array spread = var(x, axes);
  if (track_running_stats_ && training()) {
    set_parameter("running_mean", parameter("running_mean") * (1 - momentum_) + center * momentum_);
    set_parameter("running_var", parameter("running_var") * (1 - momentum_) +
                                     var(x, axes, false, /*ddof=*/1) * momentum_);
  } else if (track_running_stats_) {
    center = parameter("running_mean");
    spread = parameter("running_var");
  }
  const Array y = (x - center) * rsqrt(spread + eps_);
  return has_parameter("weight") ? parameter("weight") * y + parameter("bias") : y;
}

}  // namespace ferry::nn
