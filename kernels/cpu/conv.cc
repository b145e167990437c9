// convolution, channels last as MLX (see core/ops.h), lowered to matrix products as
// kernels/conv_geometry.h lays out: a pass fills a band of the lowered matrix and one
// OpenBLAS gemm per group multiplies it by the group's weights. float64 runs in float64,
// the other dtypes in float32 (float16 and bfloat16 widened and rounded back, as matmul).

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/conv_geometry.h"
#include "kernels/cpu/blas_operands.h"
#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

// A pass's lowered band stays in the caches (a 3x3 layer of 64 channels: 1800 rows).
constexpr size_t kPassBytes = size_t{4} << 20;

// Rows [row0, row0 + rows) of the lowered matrix of x into `lowered` (dense, groups x depth
// columns a row); taps in the padding are zeros.
template <typename F>
void Lower(const ConvGeometry& g, const F* x, int64_t row0, int64_t rows, F* lowered) {
  const int64_t cin_g = g.c_in / g.groups;
  const int64_t depth = LoweredDepth(g);
  for (int64_t r = 0; r < rows; ++r) {
    const ConvPosition p = PositionOfRow(g, row0 + r);
    F* row = lowered + r * g.groups * depth;
    int64_t tap = 0;
    for (int64_t k0 = 0; k0 < g.k_dim[0]; ++k0) {
      for (int64_t k1 = 0; k1 < g.k_dim[1]; ++k1) {
        for (int64_t k2 = 0; k2 < g.k_dim[2]; ++k2, ++tap) {
          const int64_t at = TapOffset(g, p, k0, k1, k2);
          for (int64_t group = 0; group < g.groups; ++group) {
            F* dst = row + group * depth + tap * cin_g;
            if (at >= 0) {
              std::memcpy(dst, x + at + group * cin_g, cin_g * sizeof(F));
            } else {
              std::fill(dst, dst + cin_g, F{0});
            }
          }
        }
      }
    }
  }
}

// y = convolution of x with w, all dense in the compute type F.
template <typename F>
void LoweredConvolution(const ConvGeometry& g, const F* x, const F* w, F* y) {
  const int64_t rows = LoweredRows(g);
  const int64_t depth = LoweredDepth(g);
  const int64_t cout_g = g.c_out / g.groups;
  const bool identity = LoweringIsIdentity(g);
  const int64_t per_pass = identity ? rows : LoweredRowsPerPass(g, sizeof(F), kPassBytes);
  std::unique_ptr<F[]> lowered(identity ? nullptr : new F[per_pass * g.groups * depth]);
  for (int64_t row0 = 0; row0 < rows; row0 += per_pass) {
    const int64_t band = std::min(per_pass, rows - row0);
    const F* a = x + row0 * g.c_in;
    if (!identity) {
      Lower(g, x, row0, band, lowered.get());
      a = lowered.get();
    }
    for (int64_t group = 0; group < g.groups; ++group) {
      Gemm(a + group * depth, static_cast<int>(g.groups * depth), w + group * cout_g * depth,
           static_cast<int>(depth), /*b_transposed=*/true, y + row0 * g.c_out + group * cout_g,
           static_cast<int>(g.c_out), static_cast<int>(band), static_cast<int>(cout_g),
           static_cast<int>(depth));
    }
  }
}

absl::Status ConvolutionKernel(const core::Node& node, absl::Span<const Tensor> inputs,
                               const Tensor& out) {
  const Tensor& in = inputs[0];
  const Tensor& w = inputs[1];
  if (!core::IsFloating(in.dtype())) {
    return absl::InvalidArgumentError(
        absl::StrCat("[convolution] needs a floating dtype, not ", DTypeString(in.dtype())));
  }
  absl::StatusOr<ConvGeometry> g = GetConvGeometry(node, in.shape(), w.shape(), out.shape());
  if (!g.ok()) return g.status();
  if (out.size() == 0) return absl::OkStatus();
  const int64_t depth = LoweredDepth(*g);
  if (depth == 0) {  // no input channels: sums of nothing
    std::memset(out.raw(), 0, out.nbytes());
    return absl::OkStatus();
  }
  if (g->groups * depth > INT_MAX || g->c_out > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat("[convolution] ", g->groups * depth,
                                                   " lowered columns or ", g->c_out,
                                                   " output channels exceed what BLAS can index"));
  }
  WithBlasOperands(in, w, out,
                   [&](const auto* x, const auto* k, auto* y) { LoweredConvolution(*g, x, k, y); });
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ConvGeometry> GetConvGeometry(const core::Node& node, const core::Shape& x,
                                             const core::Shape& w, const core::Shape& y) {
  const int spatial = static_cast<int>(x.size()) - 2;
  if (spatial < 1 || spatial > kConvSpatialDims || w.size() != x.size() || y.size() != x.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("[convolution] shapes ", core::ShapeToString(x), ", ", core::ShapeToString(w),
                     " -> ", core::ShapeToString(y), " do not have 1 to 3 spatial dims alike"));
  }
  absl::StatusOr<int64_t> groups = GetAttr<int64_t>(node, "groups");
  if (!groups.ok()) return groups.status();
  ConvGeometry g;
  for (int d = 0; d < kConvSpatialDims; ++d) {
    g.stride[d] = g.dil[d] = 1;
    g.lo[d] = 0;
    g.in_dim[d] = g.k_dim[d] = g.out_dim[d] = 1;
  }
  const char* names[3] = {"stride", "padding_lo", "kernel_dilation"};
  int64_t* targets[3] = {g.stride, g.lo, g.dil};
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::vector<int64_t>> list = GetAttr<std::vector<int64_t>>(node, names[i]);
    if (!list.ok()) return list.status();
    if (list->size() != static_cast<size_t>(spatial)) {
      return absl::InvalidArgumentError(absl::StrCat("[convolution] '", names[i], "' has ",
                                                     list->size(), " values for ", spatial,
                                                     " spatial dims"));
    }
    for (int d = 0; d < spatial; ++d) targets[i][d] = (*list)[d];
  }
  for (int d = 0; d < spatial; ++d) {
    g.in_dim[d] = x[d + 1];
    g.k_dim[d] = w[d + 1];
    g.out_dim[d] = y[d + 1];
  }
  g.batch = x[0];
  g.c_in = x.back();
  g.c_out = y.back();
  g.groups = *groups;
  if (g.groups < 1 || g.c_in % g.groups != 0 || g.c_out % g.groups != 0) {
    return absl::InvalidArgumentError(absl::StrCat("[convolution] groups ", g.groups,
                                                   " must divide ", g.c_in, " input and ", g.c_out,
                                                   " output channels"));
  }
  return g;
}

void RegisterConvolutionKernels(KernelTable& table) { table["convolution"] = &ConvolutionKernel; }

}  // namespace ferry::kernels::cpu
