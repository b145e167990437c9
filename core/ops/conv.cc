// convolution(input, weight), after MLX's Convolution primitive: channels last.
//   input (N, spatial..., C_in), weight (C_out, kernel..., C_in / groups)
//   -> (N, out..., C_out), out[d] = (in[d] + lo[d] + hi[d] - dil[d] * (k[d] - 1) - 1)
//      / stride[d] + 1.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/ops/attrs.h"
#include "core/ops/registry.h"

namespace ferry::core::ops_internal {
namespace {

absl::StatusOr<TensorType> InferConvolution(absl::Span<const TensorType> inputs,
                                            const Attrs& attrs) {
  const TensorType& in = inputs[0];
  const TensorType& w = inputs[1];
  const int rank = static_cast<int>(in.shape.size());
  if (rank < 3 || rank > 5) {
    return OpError("convolution",
                   absl::StrCat("input must have 1 to 3 spatial dims (rank 3 to 5), got shape ",
                                ShapeToString(in.shape)));
  }
  if (w.shape.size() != in.shape.size()) {
    return OpError("convolution", absl::StrCat("weight of shape ", ShapeToString(w.shape),
                                               " does not have the input's rank ", rank));
  }
  if (!IsFloating(in.dtype) || in.dtype != w.dtype) {
    return OpError("convolution",
                   absl::StrCat("input and weight must have the same floating dtype, got ",
                                DTypeName(in.dtype), " and ", DTypeName(w.dtype)));
  }
  const size_t spatial = static_cast<size_t>(rank - 2);
  absl::StatusOr<int64_t> groups = GetAttr<int64_t>("convolution", attrs, "groups");
  if (!groups.ok()) return groups.status();
  const int64_t c_in = in.shape.back();
  const int64_t c_out = w.shape[0];
  if (*groups < 1 || c_in % *groups != 0 || c_out % *groups != 0) {
    return OpError("convolution",
                   absl::StrCat("groups ", *groups, " must divide the ", c_in,
                                " input channels and the ", c_out, " output channels"));
  }
  if (w.shape.back() != c_in / *groups) {
    return OpError("convolution",
                   absl::StrCat("weight has ", w.shape.back(), " input channels, expected ",
                                c_in / *groups, " (", c_in, " channels in ", *groups, " groups)"));
  }
  std::vector<int64_t> lists[4];
  const char* names[4] = {"stride", "padding_lo", "padding_hi", "kernel_dilation"};
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::vector<int64_t>> list =
        GetAttr<std::vector<int64_t>>("convolution", attrs, names[i]);
    if (!list.ok()) return list.status();
    if (list->size() != spatial) {
      return OpError("convolution", absl::StrCat("attribute '", names[i], "' has ", list->size(),
                                                 " values for ", spatial, " spatial dims"));
    }
    for (int64_t v : *list) {
      if (v < (i == 1 || i == 2 ? 0 : 1)) {
        return OpError("convolution",
                       absl::StrCat("attribute '", names[i], "' [", absl::StrJoin(*list, ", "),
                                    "] has an invalid value ", v));
      }
    }
    lists[i] = *std::move(list);
  }
  Shape out = in.shape;
  out.back() = c_out;
  for (size_t d = 0; d < spatial; ++d) {
    if (w.shape[d + 1] == 0) {
      return OpError("convolution", absl::StrCat("kernel dim ", d, " has length 0"));
    }
    const int64_t padded = in.shape[d + 1] + lists[1][d] + lists[2][d];
    const int64_t extent = lists[3][d] * (w.shape[d + 1] - 1) + 1;
    if (padded < extent) {
      return OpError("convolution",
                     absl::StrCat("spatial dim ", d, ": the padded input (", padded,
                                  ") is smaller than the dilated kernel (", extent, ")"));
    }
    out[d + 1] = (padded - extent) / lists[0][d] + 1;
  }
  return TensorType{in.dtype, out};
}

}  // namespace

void RegisterConvolutionOp(OpTable& table) {
  table.push_back({"convolution",
                   2,
                   2,
                   &InferConvolution,
                   {"groups", "kernel_dilation", "padding_hi", "padding_lo", "stride"}});
}

}  // namespace ferry::core::ops_internal
