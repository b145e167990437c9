// The vector-Jacobian product of astype: the cotangent converted back (the caller casts
// every cotangent to its input's dtype, so the rule passes it through).

#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult Astype(const VjpArgs& args) { return {args.cotangent}; }

}  // namespace

void RegisterAstypeVjp(VjpTable& table) { table["astype"] = &Astype; }

}  // namespace ferry::detail
