// Linear algebra.

#include "client/array_node.h"
#include "client/ops.h"

namespace ferry {

Array matmul(const Array& a, const Array& b) { return detail::MakeOp("matmul", {a, b}, {}); }

}  // namespace ferry
