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
#include "kernels/cpu/parallel_rows.h"

namespace ferry::kernels::cpu {
namespace {

// A pass's lowered band stays in the last-level cache (a 3x3 layer of 64 channels: 3600
// rows). Measured on 8 x 56 x 56 x 64: passes of 4 MiB cost OpenBLAS 1.2x the time of 8 MiB
// (more, smaller products), 1 and 2 MiB more still.
constexpr size_t kPassBytes = size_t{8} << 20;

// Elements of the lowered matrix below which a part of a pass is not worth a thread.
constexpr int64_t kLowerPerThread = int64_t{1} << 16;

// Rows [row0, row0 + rows) of the lowered matrix of x into `lowered` (dense, groups x depth
// columns a row); taps in the padding are zeros. The position moves on row by row and each
// spatial dim's input index is worked out once per tap dim, not per tap.
template <typename F>
void Lower(const ConvGeometry& g, const F* x, int64_t row0, int64_t rows, F* lowered) {
  const int64_t cin_g = g.c_in / g.groups;
  const int64_t depth = LoweredDepth(g);
  // With one group, unit stride and dilation on the last dim, that dim's taps are adjacent
  // in x (channels last), as in the lowered row: one copy for all of them that are in range.
  const bool runs = g.groups == 1 && g.dil[2] == 1;
  ConvPosition p = PositionOfRow(g, row0);
  for (int64_t r = 0; r < rows; ++r) {
    F* dst = lowered + r * g.groups * depth;
    for (int64_t k0 = 0; k0 < g.k_dim[0]; ++k0) {
      const int64_t i0 = p.o[0] * g.stride[0] - g.lo[0] + k0 * g.dil[0];
      const bool in0 = i0 >= 0 && i0 < g.in_dim[0];
      for (int64_t k1 = 0; k1 < g.k_dim[1]; ++k1, dst += g.k_dim[2] * cin_g) {
        const int64_t i1 = p.o[1] * g.stride[1] - g.lo[1] + k1 * g.dil[1];
        const int64_t first = p.o[2] * g.stride[2] - g.lo[2];  // x's index of tap k2 = 0
        if (!in0 || i1 < 0 || i1 >= g.in_dim[1]) {
          for (int64_t group = 0; group < g.groups; ++group) {
            std::fill_n(dst + group * depth, g.k_dim[2] * cin_g, F{0});
          }
          continue;
        }
        const F* line = x + ((p.n * g.in_dim[0] + i0) * g.in_dim[1] + i1) * g.in_dim[2] * g.c_in;
        if (runs) {
          // Taps [k_lo, k_hi) are in range; those before and after are padding.
          const int64_t k_lo = std::min(g.k_dim[2], std::max<int64_t>(0, -first));
          const int64_t k_hi = std::max(k_lo, std::min(g.k_dim[2], g.in_dim[2] - first));
          std::fill(dst, dst + k_lo * cin_g, F{0});
          if (k_hi > k_lo) {
            std::memcpy(dst + k_lo * cin_g, line + (first + k_lo) * g.c_in,
                        (k_hi - k_lo) * cin_g * sizeof(F));
          }
          std::fill(dst + k_hi * cin_g, dst + g.k_dim[2] * cin_g, F{0});
          continue;
        }
        for (int64_t k2 = 0; k2 < g.k_dim[2]; ++k2) {
          const int64_t i2 = first + k2 * g.dil[2];
          const bool in = i2 >= 0 && i2 < g.in_dim[2];
          for (int64_t group = 0; group < g.groups; ++group) {
            F* to = dst + k2 * cin_g + group * depth;
            if (in) {
              std::memcpy(to, line + i2 * g.c_in + group * cin_g, cin_g * sizeof(F));
            } else {
              std::fill(to, to + cin_g, F{0});
            }
          }
        }
      }
    }
    // The next row's position: the last spatial dim moves fastest.
    for (int d = kConvSpatialDims - 1; d >= 0; --d) {
      if (++p.o[d] < g.out_dim[d]) break;
      p.o[d] = 0;
      if (d == 0) ++p.n;
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
      // Split among the cores: one thread's copies fall well short of the memory's bandwidth.
      ForRowsInParallel(
          band, kLowerPerThread / (g.groups * depth), [&](int64_t begin, int64_t end) {
            Lower(g, x, row0 + begin, end - begin, lowered.get() + begin * g.groups * depth);
          });
      a = lowered.get();
    }
    for (int64_t group = 0; group < g.groups; ++group) {
      Gemm(a + group * depth, static_cast<int>(g.groups * depth), /*a_transposed=*/false,
           w + group * cout_g * depth, static_cast<int>(depth), /*b_transposed=*/true,
           y + row0 * g.c_out + group * cout_g, static_cast<int>(g.c_out), static_cast<int>(band),
           static_cast<int>(cout_g), static_cast<int>(depth));
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
  return WithBlasOperands(node.op, in, w, out, [&](const auto* x, const auto* k, auto* y) {
    LoweredConvolution(*g, x, k, y);
  });
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
