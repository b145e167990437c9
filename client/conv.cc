// conv1d, conv2d, conv3d and conv_general: channels-last convolutions on MLX's Convolution
// primitive (input (N, spatial..., C_in), weight (C_out, kernel..., C_in / groups)).

#include <limits>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"

namespace ferry {

Array conv_general(const Array& input, const Array& weight, const std::vector<int>& stride,
                   const std::vector<int>& padding_lo, const std::vector<int>& padding_hi,
                   const std::vector<int>& kernel_dilation, int groups) {
  const int spatial = input.ndim() - 2;
  if (spatial < 1 || spatial > 3) {
    detail::ThrowOpError("conv", absl::StrCat("input must have rank 3 to 5 (N, spatial..., C), "
                                              "got rank ",
                                              input.ndim(), "."));
  }
  // Zero and negative values are left to core, which names the attribute.
  auto list = [&](const char* name, const std::vector<int>& values) {
    return detail::SpatialValues("conv", name, values, spatial, std::numeric_limits<int>::min());
  };
  if (!core::IsFloating(input.dtype()) || !core::IsFloating(weight.dtype())) {
    detail::ThrowOpError("conv", absl::StrCat("input and weight must be floating, got ",
                                              core::DTypeName(input.dtype()), " and ",
                                              core::DTypeName(weight.dtype()), "."));
  }
  const Dtype dtype = core::PromoteTypes(input.dtype(), weight.dtype());
  return detail::MakeOp("convolution", {astype(input, dtype), astype(weight, dtype)},
                        {{"stride", list("stride", stride)},
                         {"padding_lo", list("padding", padding_lo)},
                         {"padding_hi", list("padding", padding_hi)},
                         {"kernel_dilation", list("dilation", kernel_dilation)},
                         {"groups", int64_t{groups}}});
}

Array conv1d(const Array& input, const Array& weight, int stride, int padding, int dilation,
             int groups) {
  if (input.ndim() != 3 || weight.ndim() != 3) {
    detail::ThrowOpError("conv1d", absl::StrCat("input and weight must have rank 3 (N, L, C), "
                                                "got ",
                                                input.ndim(), " and ", weight.ndim(), "."));
  }
  return conv_general(input, weight, {stride}, {padding}, {padding}, {dilation}, groups);
}

Array conv2d(const Array& input, const Array& weight, const std::pair<int, int>& stride,
             const std::pair<int, int>& padding, const std::pair<int, int>& dilation, int groups) {
  if (input.ndim() != 4 || weight.ndim() != 4) {
    detail::ThrowOpError("conv2d", absl::StrCat("input and weight must have rank 4 (N, H, W, C), "
                                                "got ",
                                                input.ndim(), " and ", weight.ndim(), "."));
  }
  return conv_general(input, weight, detail::SpatialList(stride), detail::SpatialList(padding),
                      detail::SpatialList(padding), detail::SpatialList(dilation), groups);
}

Array conv3d(const Array& input, const Array& weight, const std::tuple<int, int, int>& stride,
             const std::tuple<int, int, int>& padding, const std::tuple<int, int, int>& dilation,
             int groups) {
  if (input.ndim() != 5 || weight.ndim() != 5) {
    detail::ThrowOpError("conv3d", absl::StrCat("input and weight must have rank 5 (N, D, H, W, "
                                                "C), got ",
                                                input.ndim(), " and ", weight.ndim(), "."));
  }
  return conv_general(input, weight, detail::SpatialList(stride), detail::SpatialList(padding),
                      detail::SpatialList(padding), detail::SpatialList(dilation), groups);
}

}  // namespace ferry
