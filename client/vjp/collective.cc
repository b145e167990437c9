// Vector-Jacobian products of the collectives, for the gradient of the sum of every rank's
// loss (as JAX transposes psum): each rank's cotangent reaches every rank that read its
// input. send has no rule: its gradient is on the receiving rank (client/distributed.h).

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

// A permutation of the ranks' blocks, whose inverse is itself.
VjpResult AllToAll(const VjpArgs& args) {
  return {MakeOp("all_to_all", {args.cotangent}, args.attrs)};
}

// Part r of rank r's output summed every rank's input.
VjpResult SumScatter(const VjpArgs& args) {
  return {MakeOp("all_gather", {args.cotangent}, args.attrs)};
}

// Every rank's cotangent goes to the ranks whose input attains the extreme, shared equally
// among tied ranks (as max's own rule shares among tied elements).
VjpResult AllExtreme(const VjpArgs& args) {
  const Array& x = args.inputs[0];
  Array holds = astype(x == args.output, x.dtype());
  Array cotangents = MakeOp("all_sum", {args.cotangent}, args.attrs);
  Array ties = MakeOp("all_sum", {holds}, args.attrs);
  return {holds * cotangents / ties};
}

}  // namespace

void RegisterCollectiveVjps(VjpTable& table) {
  table["all_sum"] = &AllSum;
  table["all_max"] = &AllExtreme;
  table["all_min"] = &AllExtreme;
  table["all_gather"] = &AllGather;
  table["sum_scatter"] = &SumScatter;
  table["all_to_all"] = &AllToAll;
}

}  // namespace ferry::detail
