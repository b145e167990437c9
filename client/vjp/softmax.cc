// Vector-Jacobian products of softmax and logsumexp over axes.

#include <vector>

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

std::vector<int> Axes(const VjpArgs& args) {
  const std::vector<int64_t> axes = GetAttr<std::vector<int64_t>>(args.attrs, "axes");
  return std::vector<int>(axes.begin(), axes.end());
}

// y (g - sum(g y)) over the axes.
VjpResult Softmax(const VjpArgs& args) {
  const Array& y = args.output;
  const Array& g = args.cotangent;
  return {y * (g - sum(g * y, Axes(args), /*keepdims=*/true))};
}

// g softmax(x), with g broadcast back over the reduced axes.
VjpResult Logsumexp(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  const std::vector<int64_t> axes = GetAttr<std::vector<int64_t>>(args.attrs, "axes");
  const bool keepdims = GetAttr<int64_t>(args.attrs, "keepdims") != 0;
  return {ExpandReduced(args.cotangent, x.shape(), axes, keepdims) * softmax(x, Axes(args))};
}

}  // namespace

void RegisterSoftmaxVjps(VjpTable& table) {
  table["softmax"] = &Softmax;
  table["logsumexp"] = &Logsumexp;
}

}  // namespace ferry::detail
