// Vector-Jacobian products of the reductions over axes. The cotangent is broadcast back
// over the reduced axes; max and min share it equally among the elements that attain the
// extreme (as MLX does), and prod divides out each element without dividing by zero.
// argmax, argmin, all and any have no gradient.

#include <vector>

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

struct Reduction {
  std::vector<int64_t> axes;
  bool keepdims;
};

Reduction GetReduction(const VjpArgs& args) {
  return {GetAttr<std::vector<int64_t>>(args.attrs, "axes"),
          GetAttr<int64_t>(args.attrs, "keepdims") != 0};
}

std::vector<int> AsInts(const std::vector<int64_t>& axes) {
  return std::vector<int>(axes.begin(), axes.end());
}

// A reduced array (y or g) broadcast back to x's shape.
Array Expand(const VjpArgs& args, const Array& reduced) {
  const Reduction r = GetReduction(args);
  return ExpandReduced(reduced, args.inputs[0].shape(), r.axes, r.keepdims);
}

VjpResult Sum(const VjpArgs& args) { return {Expand(args, args.cotangent)}; }

VjpResult Mean(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  int64_t count = 1;
  for (int64_t axis : GetReduction(args).axes) count *= x.shape()[axis];
  return {Expand(args, args.cotangent) / static_cast<double>(count)};
}

VjpResult Extreme(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const Reduction r = GetReduction(args);
  Array mask = astype(x == Expand(args, args.output), x.dtype());
  Array ties = sum(mask, AsInts(r.axes), /*keepdims=*/true);
  return {mask * Expand(args, args.cotangent) / ties};
}

// d/dx_i prod(x) = prod of the others: y / x_i when no element of the group is zero; the
// product of the nonzero others at the one zero when there is exactly one; else 0.
VjpResult Prod(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const Reduction r = GetReduction(args);
  const std::vector<int> axes = AsInts(r.axes);
  Array is_zero = x == 0;
  Array zeros = sum(astype(is_zero, x.dtype()), axes, /*keepdims=*/true);
  Array nonzero_prod = prod(where(is_zero, 1, x), axes, /*keepdims=*/true);
  Array others = where(zeros == 0, nonzero_prod / where(is_zero, 1, x),
                       where(logical_and(zeros == 1, is_zero), nonzero_prod, 0));
  return {others * Expand(args, args.cotangent)};
}

}  // namespace

void RegisterReduceVjps(VjpTable& table) {
  table["sum"] = &Sum;
  table["mean"] = &Mean;
  table["prod"] = &Prod;
  table["max"] = &Extreme;
  table["min"] = &Extreme;
  table["argmax"] = &NoGradient;
  table["argmin"] = &NoGradient;
  table["all"] = &NoGradient;  // vjp2: bool results
  table["any"] = &NoGradient;
}

}  // namespace ferry::detail
