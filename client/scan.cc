// Scans along one axis: cumsum cumprod cummax cummin logcumsumexp.

#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"

namespace ferry {
namespace {

Array Scan(const char* op, const Array& a, int axis, bool reverse, bool inclusive) {
  if (a.ndim() == 0) {
    detail::ThrowOpError(op, "needs an array of rank 1 or more, got a scalar.");
  }
  return detail::MakeOp(op, {a},
                        {{"axis", detail::NormalizeAxis(op, axis, a.ndim())},
                         {"reverse", int64_t{reverse ? 1 : 0}},
                         {"inclusive", int64_t{inclusive ? 1 : 0}}});
}

// Without an axis, MLX scans the flattened array.
Array ScanFlat(const char* op, const Array& a, bool reverse, bool inclusive) {
  return Scan(op, reshape(a, {a.size()}), 0, reverse, inclusive);
}

}  // namespace

Array cumsum(const Array& a, bool reverse, bool inclusive) {
  return ScanFlat("cumsum", a, reverse, inclusive);
}
Array cumsum(const Array& a, int axis, bool reverse, bool inclusive) {
  return Scan("cumsum", a, axis, reverse, inclusive);
}
Array cumprod(const Array& a, bool reverse, bool inclusive) {
  return ScanFlat("cumprod", a, reverse, inclusive);
}
Array cumprod(const Array& a, int axis, bool reverse, bool inclusive) {
  return Scan("cumprod", a, axis, reverse, inclusive);
}
Array cummax(const Array& a, bool reverse, bool inclusive) {
  return ScanFlat("cummax", a, reverse, inclusive);
}
Array cummax(const Array& a, int axis, bool reverse, bool inclusive) {
  return Scan("cummax", a, axis, reverse, inclusive);
}
Array cummin(const Array& a, bool reverse, bool inclusive) {
  return ScanFlat("cummin", a, reverse, inclusive);
}
Array cummin(const Array& a, int axis, bool reverse, bool inclusive) {
  return Scan("cummin", a, axis, reverse, inclusive);
}
Array logcumsumexp(const Array& a, bool reverse, bool inclusive) {
  return ScanFlat("logcumsumexp", a, reverse, inclusive);
}
Array logcumsumexp(const Array& a, int axis, bool reverse, bool inclusive) {
  return Scan("logcumsumexp", a, axis, reverse, inclusive);
}

}  // namespace ferry
