// Elementwise functions of one array.

#include <cmath>
#include <limits>

#include "client/array_node.h"
#include "client/ops.h"
#include "core/dtype.h"

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

// ---- part A ----

Array square(const Array& a) { return Unary("square", a); }
Array reciprocal(const Array& a) { return divide(1.0f, a); }  // MLX composes it the same way
Array log1p(const Array& a) { return Unary("log1p", a); }
Array expm1(const Array& a) { return Unary("expm1", a); }
Array log2(const Array& a) { return Unary("log2", a); }
Array log10(const Array& a) { return Unary("log10", a); }
Array floor(const Array& a) { return Unary("floor", a); }
Array ceil(const Array& a) { return Unary("ceil", a); }
Array round(const Array& a, int decimals) {
  if (decimals == 0) return Unary("round", a);
  const double scale = std::pow(10.0, decimals);
  return Unary("round", a * scale) * (1.0 / scale);
}
Array sign(const Array& a) { return Unary("sign", a); }
Array isnan(const Array& a) { return Unary("isnan", a); }
Array isinf(const Array& a) { return Unary("isinf", a); }
Array logical_not(const Array& a) { return Unary("logical_not", a); }
Array bitwise_invert(const Array& a) { return Unary("bitwise_invert", a); }
Array silu(const Array& a) { return a * sigmoid(a); }          // as MLX's nn.silu
Array softplus(const Array& a) { return logaddexp(a, 0.0f); }  // as MLX's nn.softplus

Array operator~(const Array& a) { return bitwise_invert(a); }

// ---- Part D: composed, as MLX composes them -------------------------------------------------

Array isfinite(const Array& a) {
  if (!core::IsFloating(a.dtype())) return ones_like(a, bool_);
  return logical_not(logical_or(isnan(a), isinf(a)));
}
Array isposinf(const Array& a) {
  if (!core::IsFloating(a.dtype())) return zeros_like(a, bool_);
  return a == std::numeric_limits<double>::infinity();
}
Array isneginf(const Array& a) {
  if (!core::IsFloating(a.dtype())) return zeros_like(a, bool_);
  return a == -std::numeric_limits<double>::infinity();
}
Array trunc(const Array& a) {
  if (!core::IsFloating(a.dtype())) return a;
  return where(a < 0.0, ceil(a), floor(a));
}
Array degrees(const Array& a) { return a * (180.0 / M_PI); }
Array radians(const Array& a) { return a * (M_PI / 180.0); }
Array positive(const Array& a) { return a; }

}  // namespace ferry
