// Vector-Jacobian products of gather, the scatters and slice_update, after MLX's
// Gather::vjp, Scatter::vjp and SliceUpdate::vjp. A gather's cotangent is scattered back
// (adding where indices repeat); an overwritten element gets no gradient and each update
// gets the cotangent where it landed. As in MLX, scatter_max and scatter_min send it to
// the elements equal to the result, and scatter_prod has no rule. Indices get none.

#include <vector>

#include "client/array_node.h"
#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

std::vector<int> Axes(const VjpArgs& args) {
  const std::vector<int64_t> axes = GetAttr<std::vector<int64_t>>(args.attrs, "axes");
  return std::vector<int>(axes.begin(), axes.end());
}

VjpResult Gather(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const std::vector<Array> indices(args.inputs.begin() + 1, args.inputs.end());
  VjpResult result(args.inputs.size());
  if (args.needs[0]) result[0] = scatter_add(ZerosLike(a), indices, args.cotangent, Axes(args));
  return result;
}

enum class Combine { kReplace, kAdd, kExtreme };

template <Combine kCombine>
VjpResult Scatter(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const Array& updates = args.inputs.back();
  const Array& g = args.cotangent;
  const std::vector<Array> indices(args.inputs.begin() + 1, args.inputs.end() - 1);
  const std::vector<int> axes = Axes(args);
  const size_t last = args.inputs.size() - 1;
  VjpResult result(args.inputs.size());
  if (args.needs[0]) {
    switch (kCombine) {
      case Combine::kReplace:
        result[0] = scatter(g, indices, ZerosLike(updates), axes);
        break;
      case Combine::kAdd:
        result[0] = g;
        break;
      case Combine::kExtreme:
        result[0] = where(args.output == a, g, 0);
        break;
    }
  }
  if (args.needs[last]) {
    const Shape& shape = updates.shape();
    const Shape slice_sizes(shape.end() - a.ndim(), shape.end());
    Array landed = reshape(gather(g, indices, axes, slice_sizes), shape);
    if (kCombine == Combine::kExtreme) {
      Array result_there = reshape(gather(args.output, indices, axes, slice_sizes), shape);
      landed = where(result_there == updates, landed, 0);
    }
    result[last] = landed;
  }
  return result;
}

VjpResult SliceUpdate(const VjpArgs& args) {
  VjpResult result(2);
  if (args.needs[0]) {
    result[0] = MakeOp("slice_update", {args.cotangent, ZerosLike(args.inputs[1])}, args.attrs);
  }
  if (args.needs[1]) result[1] = MakeOp("slice", {args.cotangent}, args.attrs);
  return result;
}

}  // namespace

void RegisterIndexingVjps(VjpTable& table) {
  table["gather"] = &Gather;
  table["scatter"] = &Scatter<Combine::kReplace>;
  table["scatter_add"] = &Scatter<Combine::kAdd>;
  table["scatter_max"] = &Scatter<Combine::kExtreme>;
  table["scatter_min"] = &Scatter<Combine::kExtreme>;
  table["slice_update"] = &SliceUpdate;
}

}  // namespace ferry::detail
