// Vector-Jacobian products of the collectives, for the gradient of the sum of every rank's
// loss (as JAX transposes psum): each rank's cotangent reaches every rank that read its
// input. all_max and all_min have no rule yet.

#include "client/array_node.h"
#include "client/ops.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

// Each rank's input fed every rank's output: its cotangent is the sum of theirs.
VjpResult AllSum(const VjpArgs& args) { return {MakeOp("all_sum", {args.cotangent}, args.attrs)}; }

// Rank r's input is part r of every rank's output.
VjpResult AllGather(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  Array summed = MakeOp("sum_scatter", {args.cotangent}, args.attrs);
  return {x.ndim() == 0 ? reshape(summed, {}) : summed};
}

// Part r of rank r's output summed every rank's input.
VjpResult SumScatter(const VjpArgs& args) {
  return {MakeOp("all_gather", {args.cotangent}, args.attrs)};
}

}  // namespace

void RegisterCollectiveVjps(VjpTable& table) {
  table["all_sum"] = &AllSum;
  table["all_gather"] = &AllGather;
  table["sum_scatter"] = &SumScatter;
}

}  // namespace ferry::detail
