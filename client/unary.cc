// Elementwise functions of one array.

#include "client/array_node.h"
#include "client/ops.h"

namespace ferry {
namespace {

Array Unary(const char* op, const Array& a) { return detail::MakeOp(op, {a}, {}); }

}  // namespace

Array negative(const Array& a) { return Unary("neg", a); }
Array abs(const Array& a) { return Unary("abs", a); }
Array exp(const Array& a) { return Unary("exp", a); }
Array log(const Array& a) { return Unary("log", a); }
Array sqrt(const Array& a) { return Unary("sqrt", a); }
Array rsqrt(const Array& a) { return Unary("rsqrt", a); }
Array sin(const Array& a) { return Unary("sin", a); }
Array cos(const Array& a) { return Unary("cos", a); }
Array tanh(const Array& a) { return Unary("tanh", a); }
Array sigmoid(const Array& a) { return Unary("sigmoid", a); }
Array relu(const Array& a) { return Unary("relu", a); }
Array gelu(const Array& a) { return Unary("gelu", a); }
Array erf(const Array& a) { return Unary("erf", a); }

Array operator-(const Array& a) { return negative(a); }

}  // namespace ferry
