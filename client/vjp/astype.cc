// The vector-Jacobian product of astype: the cotangent converted back (the caller casts
// every cotangent to its input's dtype, so the rule passes it through).

#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult Astype(const VjpArgs& args) { return {args.cotangent}; }

}  // namespace

// view reads bits as another dtype: nothing to differentiate (same dtype is no op at all).
void RegisterAstypeVjp(VjpTable& table) {
  table["astype"] = &Astype;
  table["view"] = &NoGradient;
}

}  // namespace ferry::detail
