// Trigonometric and hyperbolic functions composed of the elementwise ops (ops.h, part C).

#include <cmath>

#include "client/ops.h"
#include "core/dtype.h"

namespace ferry {
namespace {

// Integers and bool compute in float32, as the unary ops do.
Array Floating(const Array& a) { return core::IsFloating(a.dtype()) ? a : astype(a, float32); }

// Past this the squares below overflow float32; there asinh(x) = log(2x) to the last bit.
constexpr double kLarge = 268435456.0;  // 2^28
const double kLn2 = std::log(2.0);

// sqrt(1 - x^2) as (1 - x)(1 + x), exact near |x| = 1.
Array Cofactor(const Array& x) { return sqrt((1.0 - x) * (1.0 + x)); }

}  // namespace

Array tan(const Array& a) { return sin(a) / cos(a); }

Array arcsin(const Array& a) {
  const Array x = Floating(a);
  return arctan2(x, Cofactor(x));
}

Array arccos(const Array& a) {
  const Array x = Floating(a);
  return arctan2(Cofactor(x), x);
}

Array arctan(const Array& a) {
  const Array x = Floating(a);
  return arctan2(x, 1.0);
}

// expm1 keeps the precision near 0 that exp(x) - exp(-x) would cancel away.
Array sinh(const Array& a) {
  const Array x = Floating(a);
  return (expm1(x) - expm1(-x)) * 0.5;
}

Array cosh(const Array& a) {
  const Array x = Floating(a);
  return (exp(x) + exp(-x)) * 0.5;
}

// asinh(|x|) = log1p(|x| + x^2 / (1 + sqrt(1 + x^2))), odd; log(2|x|) for huge |x|.
Array arcsinh(const Array& a) {
  const Array x = Floating(a);
  const Array m = abs(x);
  const Array small = log1p(m + square(m) / (1.0 + sqrt(1.0 + square(m))));
  const Array large = log(m) + kLn2;
  const Array magnitude = where(m > kLarge, large, small);
  return where(x < 0.0, -magnitude, magnitude);
}

// acosh(x) = log1p((x - 1) + sqrt((x - 1)(x + 1))), log(2x) for huge x; NaN below 1.
Array arccosh(const Array& a) {
  const Array x = Floating(a);
  const Array t = x - 1.0;
  const Array small = log1p(t + sqrt(t * (x + 1.0)));
  return where(x > kLarge, log(x) + kLn2, small);
}

// atanh(x) = log1p(2x / (1 - x)) / 2: +-inf at +-1, NaN beyond.
Array arctanh(const Array& a) {
  const Array x = Floating(a);
  return log1p(2.0 * x / (1.0 - x)) * 0.5;
}

}  // namespace ferry
