// Random draws depend on their key only through bits: no gradient.

#include "client/vjp/registry.h"

namespace ferry::detail {

void RegisterRandomVjps(VjpTable& table) {
  table["random_uniform"] = &NoGradient;
  table["random_normal"] = &NoGradient;
  table["random_bits"] = &NoGradient;
}

}  // namespace ferry::detail
