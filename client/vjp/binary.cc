// Vector-Jacobian products of the broadcasting elementwise ops of two arrays. Each input's
// cotangent is summed back over the axes it was broadcast along. Comparisons and logical
// ops have no gradient.

#include "client/ops.h"
#include "client/vjp/common.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

// A rule of two inputs: each cotangent, at the output's shape, from a, b, y and g. Only
// the cotangents an input needs are built.
template <Array (*kGradA)(const Array& a, const Array& b, const Array& y, const Array& g),
          Array (*kGradB)(const Array& a, const Array& b, const Array& y, const Array& g)>
VjpResult Binary(const VjpArgs& args) {
  const Array& a = args.inputs[0];
  const Array& b = args.inputs[1];
  VjpResult result(2);
  if (args.needs[0]) result[0] = SumToShape(kGradA(a, b, args.output, args.cotangent), a.shape());
  if (args.needs[1]) result[1] = SumToShape(kGradB(a, b, args.output, args.cotangent), b.shape());
  return result;
}

Array Same(const Array&, const Array&, const Array&, const Array& g) { return g; }
Array Negated(const Array&, const Array&, const Array&, const Array& g) { return negative(g); }
// Complex operands take the derivative's conjugate (the cotangent is dL/dRe + i dL/dIm);
// conjugate is the identity on real arrays.
Array MulA(const Array&, const Array& b, const Array&, const Array& g) { return g * conjugate(b); }
Array MulB(const Array& a, const Array&, const Array&, const Array& g) { return g * conjugate(a); }
Array DivA(const Array&, const Array& b, const Array&, const Array& g) { return g / conjugate(b); }
Array DivB(const Array&, const Array& b, const Array& y, const Array& g) {
  return negative(g * conjugate(y / b));
}
Array PowA(const Array& a, const Array& b, const Array&, const Array& g) {
  return g * b * power(a, b - 1.0);
}
// d/db a^b = a^b log a; taken as 0 where a is 0 (the limit from the right for b > 0),
// so a zero base does not turn the whole gradient into NaN.
Array PowB(const Array& a, const Array&, const Array& y, const Array& g) {
  return where(a == 0, 0, g * y * log(where(a == 0, 1, a)));
}
// Ties send the gradient to a, as one side of the subgradient.
Array MaxA(const Array& a, const Array& b, const Array&, const Array& g) {
  return where(a < b, 0, g);
}
Array MaxB(const Array& a, const Array& b, const Array&, const Array& g) {
  return where(a < b, g, 0);
}
Array MinA(const Array& a, const Array& b, const Array&, const Array& g) {
  return where(a > b, 0, g);
}
Array MinB(const Array& a, const Array& b, const Array&, const Array& g) {
  return where(a > b, g, 0);
}
// ---- vjp2: the binary ops of part A ----
// d/da atan2(a, b) = b / (a^2 + b^2), d/db = -a / (a^2 + b^2).
Array Arctan2A(const Array& a, const Array& b, const Array&, const Array& g) {
  return g * b / (a * a + b * b);
}
Array Arctan2B(const Array& a, const Array& b, const Array&, const Array& g) {
  return negative(g * a / (a * a + b * b));
}
// d/da log(e^a + e^b) = e^(a - y).
Array LogAddExpA(const Array& a, const Array&, const Array& y, const Array& g) {
  return g * exp(a - y);
}
Array LogAddExpB(const Array&, const Array& b, const Array& y, const Array& g) {
  return g * exp(b - y);
}
// remainder(a, b) = a - b floor(a / b), the floor's derivative taken as 0 (as MLX).
Array RemainderB(const Array& a, const Array& b, const Array&, const Array& g) {
  return negative(g * floor_divide(a, b));
}

}  // namespace

void RegisterBinaryVjps(VjpTable& table) {
  table["add"] = &Binary<Same, Same>;
  table["sub"] = &Binary<Same, Negated>;
  table["mul"] = &Binary<MulA, MulB>;
  table["div"] = &Binary<DivA, DivB>;
  table["pow"] = &Binary<PowA, PowB>;
  table["maximum"] = &Binary<MaxA, MaxB>;
  table["minimum"] = &Binary<MinA, MinB>;
  for (const char* op : {"equal", "less", "greater", "logical_and", "logical_or"}) {
    table[op] = &NoGradient;
  }
  // vjp2
  table["arctan2"] = &Binary<Arctan2A, Arctan2B>;
  table["logaddexp"] = &Binary<LogAddExpA, LogAddExpB>;
  table["remainder"] = &Binary<Same, RemainderB>;
  for (const char* op : {"not_equal", "less_equal", "greater_equal", "floor_divide", "bitwise_and",
                         "bitwise_or", "bitwise_xor", "left_shift", "right_shift"}) {
    table[op] = &NoGradient;
  }
}

}  // namespace ferry::detail
