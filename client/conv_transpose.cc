// conv_transpose1d, conv_transpose2d, conv_transpose3d and conv_transpose_general, composed as MLX
// composes them: a convolution at stride 1 of the input spread `stride` apart (zeros between), with
// the kernel flipped in space and padded dilation * (kernel - 1) - padding on each side
// (plus output_padding at the end). The convolution's own gradient brings autodiff.

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"

namespace ferry {

Array conv_transpose_general(const Array& input, const Array& weight,
                             const std::vector<int>& stride, const std::vector<int>& padding,
                             const std::vector<int>& dilation,
                             const std::vector<int>& output_padding, int groups) {
  const char* op = "conv_transpose";
  const int spatial = input.ndim() - 2;
  if (spatial < 1 || spatial > 3 || weight.ndim() != input.ndim()) {
    detail::ThrowOpError(op, absl::StrCat("input and weight must both have rank 3 to 5 (N, "
                                          "spatial..., C), got ",
                                          input.ndim(), " and ", weight.ndim(), "."));
  }
  auto list = [&](const char* name, const std::vector<int>& values, int least) {
    return detail::SpatialValues(op, name, values, spatial, least);
  };
  const std::vector<int64_t> s = list("stride", stride, 1), p = list("padding", padding, 0),
                             d = list("dilation", dilation, 1),
                             extra = list("output_padding", output_padding, 0);
  Shape spread = input.shape(), steps(input.ndim(), 1);
  // The spread input loses what the padding takes past the kernel's span (a negative
  // convolution padding).
  Shape crop_from(input.ndim(), 0), crop_to(input.ndim(), 0);
  Shape flip_from(weight.ndim(), 0), flip_to = weight.shape(), flip_steps(weight.ndim(), 1);
  std::vector<int> lo, hi;
  for (int i = 0; i < spatial; ++i) {
    if (extra[i] >= s[i]) {
      detail::ThrowOpError(op, absl::StrCat("output_padding ", extra[i],
                                            " must be smaller than the stride ", s[i], "."));
    }
    const int64_t in = input.shape()[i + 1], taps = weight.shape()[i + 1];
    const int64_t length = (in - 1) * s[i] - 2 * p[i] + d[i] * (taps - 1) + 1 + extra[i];
    if (in < 1 || taps < 1 || length < 1) {
      detail::ThrowOpError(op, absl::StrCat("spatial axis ", i, " of length ", in, " with ", taps,
                                            " taps would give an output of length ", length, "."));
    }
    spread[i + 1] = (in - 1) * s[i] + 1;
    steps[i + 1] = s[i];
    const int64_t before = d[i] * (taps - 1) - p[i], after = before + extra[i];
    lo.push_back(static_cast<int>(std::max<int64_t>(before, 0)));
    hi.push_back(static_cast<int>(std::max<int64_t>(after, 0)));
    crop_from[i + 1] = std::max<int64_t>(-before, 0);
    crop_to[i + 1] = spread[i + 1] - std::max<int64_t>(-after, 0);
    flip_from[i + 1] = -1;
    flip_to[i + 1] = -taps - 1;
    flip_steps[i + 1] = -1;
  }
  crop_to[0] = spread[0];
  crop_to.back() = spread.back();
  Array x = input;
  if (spread != input.shape()) {
    x = slice_update(zeros(spread, input.dtype(), input.device()), input, Shape(input.ndim(), 0),
                     spread, steps);
  }
  if (crop_from != Shape(input.ndim(), 0) || crop_to != spread) x = slice(x, crop_from, crop_to);
  const Array flipped = slice(weight, flip_from, flip_to, flip_steps);
  const std::vector<int> ones(spatial, 1), dilations(d.begin(), d.end());
  return conv_general(x, flipped, ones, lo, hi, dilations, groups);
}

Array conv_transpose1d(const Array& input, const Array& weight, int stride, int padding,
                       int dilation, int output_padding, int groups) {
  if (input.ndim() != 3 || weight.ndim() != 3) {
    detail::ThrowOpError("conv_transpose1d",
                         absl::StrCat("input and weight must have rank 3 (N, L, C), got ",
                                      input.ndim(), " and ", weight.ndim(), "."));
  }
  return conv_transpose_general(input, weight, {stride}, {padding}, {dilation}, {output_padding},
                                groups);
}

Array conv_transpose2d(const Array& input, const Array& weight, const std::pair<int, int>& stride,
                       const std::pair<int, int>& padding, const std::pair<int, int>& dilation,
                       const std::pair<int, int>& output_padding, int groups) {
  if (input.ndim() != 4 || weight.ndim() != 4) {
    detail::ThrowOpError("conv_transpose2d",
                         absl::StrCat("input and weight must have rank 4 (N, H, W, C), got ",
                                      input.ndim(), " and ", weight.ndim(), "."));
  }
  return conv_transpose_general(input, weight, detail::SpatialList(stride),
                                detail::SpatialList(padding), detail::SpatialList(dilation),
                                detail::SpatialList(output_padding), groups);
}

Array conv_transpose3d(const Array& input, const Array& weight,
                       const std::tuple<int, int, int>& stride,
                       const std::tuple<int, int, int>& padding,
                       const std::tuple<int, int, int>& dilation,
                       const std::tuple<int, int, int>& output_padding, int groups) {
  if (input.ndim() != 5 || weight.ndim() != 5) {
    detail::ThrowOpError("conv_transpose3d",
                         absl::StrCat("input and weight must have rank 5 (N, D, H, W, C), got ",
                                      input.ndim(), " and ", weight.ndim(), "."));
  }
  return conv_transpose_general(input, weight, detail::SpatialList(stride),
                                detail::SpatialList(padding), detail::SpatialList(dilation),
                                detail::SpatialList(output_padding), groups);
}

}  // namespace ferry
