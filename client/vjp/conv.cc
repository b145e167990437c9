// The vector-Jacobian product of convolution (channels last), composed of convolutions as
// MLX composes it. With s the stride, d the dilation, K the kernel and lo the low padding:
//  - input: the cotangent, spread s apart and placed in zeros so that position i sees the
//    outputs whose windows cover it, correlated with the weight flipped in space and with
//    its channel axes swapped per group (a transposed convolution);
//  - weight: per group, the padded input correlated with the cotangent as the kernel, the
//    roles of stride and dilation swapped and batch and channels exchanged.

#include <numeric>
#include <vector>

#include "client/array_node.h"
#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

using Ints = std::vector<int64_t>;

struct Conv {
  Ints stride, lo, hi, dilation;
  int64_t groups;
};

Array Convolve(const Array& input, const Array& weight, const Ints& stride, const Ints& lo,
               const Ints& hi, const Ints& dilation, int64_t groups) {
  return MakeOp("convolution", {input, weight},
                {{"stride", stride},
                 {"padding_lo", lo},
                 {"padding_hi", hi},
                 {"kernel_dilation", dilation},
                 {"groups", groups}});
}

// Swaps the first and last axes.
Array SwapEnds(const Array& a) { return swapaxes(a, 0, -1); }

Array InputGrad(const Conv& c, const Array& x, const Array& w, const Array& g) {
  const int spatial = x.ndim() - 2;
  // The cotangent at positions span - lo + o * s of an axis of length I + span; outputs
  // whose windows lie wholly in the padding fall outside and are dropped.
  Shape placed_shape = g.shape();
  Shape first(g.ndim(), 0), end = g.shape(), at(g.ndim(), 0), at_end = g.shape(),
                            strides(g.ndim(), 1);
  for (int d = 0; d < spatial; ++d) {
    const int64_t s = c.stride[d], span = c.dilation[d] * (w.shape()[d + 1] - 1);
    const int64_t length = x.shape()[d + 1] + span;
    const int64_t o_first = std::max<int64_t>(0, (c.lo[d] - span + s - 1) / s);
    const int64_t o_last =
        std::min<int64_t>(g.shape()[d + 1] - 1, (length - 1 - span + c.lo[d]) / s);
    if (o_last < o_first) return ZerosLike(x);
    first[d + 1] = o_first;
    end[d + 1] = o_last + 1;
    at[d + 1] = span - c.lo[d] + o_first * s;
    at_end[d + 1] = at[d + 1] + (o_last - o_first) * s + 1;
    strides[d + 1] = s;
    placed_shape[d + 1] = length;
  }
  Array placed = slice_update(zeros(placed_shape, g.dtype(), g.device()), slice(g, first, end), at,
                              at_end, strides);
  // weight (C_out, K..., C_in/G) -> (C_in, K flipped..., C_out/G), group by group.
  const int64_t c_out = w.shape()[0], c_group = w.shape().back();
  Shape grouped = w.shape();
  grouped[0] = c_out / c.groups;
  grouped.insert(grouped.begin(), c.groups);
  std::vector<int> perm(grouped.size());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[1], perm.back());
  Shape swapped = w.shape();
  swapped[0] = c_group * c.groups;
  swapped.back() = c_out / c.groups;
  Array turned = reshape(transpose(reshape(w, grouped), perm), swapped);
  Shape from(w.ndim(), 0), to = swapped, step(w.ndim(), 1);
  for (int d = 1; d <= spatial; ++d) {
    from[d] = -1;
    to[d] = -swapped[d] - 1;
    step[d] = -1;
  }
  const Ints ones(spatial, 1), none(spatial, 0);
  return Convolve(placed, slice(turned, from, to, step), ones, none, none, c.dilation, c.groups);
}

Array WeightGrad(const Conv& c, const Array& x, const Array& w, const Array& g) {
  const Array xt = SwapEnds(x);  // (C_in, I..., N)
  const Array gt = SwapEnds(g);  // (C_out, O..., N)
  const int64_t c_in_group = w.shape().back(), c_out_group = w.shape()[0] / c.groups;
  std::vector<Array> parts;
  for (int64_t k = 0; k < c.groups; ++k) {
    Shape x_from(xt.ndim(), 0), x_to = xt.shape(), g_from(gt.ndim(), 0), g_to = gt.shape();
    x_from[0] = k * c_in_group;
    x_to[0] = x_from[0] + c_in_group;
    g_from[0] = k * c_out_group;
    g_to[0] = g_from[0] + c_out_group;
    // (C_in/G, K'..., C_out/G) with K' >= K: a stride that left input over makes K' larger.
    Array part = Convolve(slice(xt, x_from, x_to), slice(gt, g_from, g_to), c.dilation, c.lo, c.hi,
                          c.stride, 1);
    Shape kernel = part.shape();
    for (int d = 1; d + 1 < w.ndim(); ++d) kernel[d] = w.shape()[d];
    if (kernel != part.shape()) part = slice(part, Shape(part.ndim(), 0), kernel);
    parts.push_back(SwapEnds(part));
  }
  return parts.size() == 1 ? parts[0] : concatenate(parts, 0);
}

VjpResult Convolution(const VjpArgs& args) {
  const Conv c{GetAttr<Ints>(args.attrs, "stride"), GetAttr<Ints>(args.attrs, "padding_lo"),
               GetAttr<Ints>(args.attrs, "padding_hi"),
               GetAttr<Ints>(args.attrs, "kernel_dilation"),
               GetAttr<int64_t>(args.attrs, "groups")};
  const Array& x = args.inputs[0];
  const Array& w = args.inputs[1];
  VjpResult result(2);
  if (args.cotangent.size() == 0) {
    if (args.needs[0]) result[0] = ZerosLike(x);
    if (args.needs[1]) result[1] = ZerosLike(w);
    return result;
  }
  if (args.needs[0]) result[0] = InputGrad(c, x, w, args.cotangent);
  if (args.needs[1]) result[1] = WeightGrad(c, x, w, args.cotangent);
  return result;
}

}  // namespace

void RegisterConvolutionVjp(VjpTable& table) { table["convolution"] = &Convolution; }

}  // namespace ferry::detail
