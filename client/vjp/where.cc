// The vector-Jacobian product of where(cond, x, y): the cotangent goes to x where cond
// holds and to y elsewhere; cond gets none.

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult Where(const VjpArgs& args) {
  const Array& cond = args.inputs[0];
  const Array& g = args.cotangent;
  VjpResult result(3);
  if (args.needs[1]) result[1] = SumToShape(where(cond, g, 0), args.inputs[1].shape());
  if (args.needs[2]) result[2] = SumToShape(where(cond, 0, g), args.inputs[2].shape());
  return result;
}

}  // namespace

void RegisterWhereVjp(VjpTable& table) { table["where"] = &Where; }

}  // namespace ferry::detail
