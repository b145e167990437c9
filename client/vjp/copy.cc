// Vector-Jacobian product of Array::to: the cotangent goes back to the source's device.

#include "client/array_node.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult Copy(const VjpArgs& args) { return {args.cotangent.to(args.inputs[0].device())}; }

}  // namespace

void RegisterCopyVjp(VjpTable& table) { table[kCopyOp] = &Copy; }

}  // namespace ferry::detail
