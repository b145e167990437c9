// Trigonometric and hyperbolic functions, and erfinv, composed of the elementwise ops
// (ops.h, part C).

#include <cmath>
#include <initializer_list>
#include <limits>
#include <optional>

#include "client/array_node.h"
#include "client/ops.h"
#include "core/dtype.h"

namespace ferry {
namespace {

// Past this the squares below overflow float32; there asinh(x) = log(2x) to the last bit.
constexpr double kLarge = 268435456.0;  // 2^28
const double kLn2 = std::log(2.0);

// sqrt(1 - x^2) as (1 - x)(1 + x), exact near |x| = 1.
Array Cofactor(const Array& x) { return sqrt((1.0 - x) * (1.0 + x)); }

}  // namespace

Array tan(const Array& a) { return sin(a) / cos(a); }

Array arcsin(const Array& a) {
  const Array x = detail::AsFloating(a);
  return arctan2(x, Cofactor(x));
}

Array arccos(const Array& a) {
  const Array x = detail::AsFloating(a);
  return arctan2(Cofactor(x), x);
}

Array arctan(const Array& a) {
  const Array x = detail::AsFloating(a);
  return arctan2(x, 1.0);
}

// expm1 keeps the precision near 0 that exp(x) - exp(-x) would cancel away.
Array sinh(const Array& a) {
  const Array x = detail::AsFloating(a);
  return (expm1(x) - expm1(-x)) * 0.5;
}

Array cosh(const Array& a) {
  const Array x = detail::AsFloating(a);
  return (exp(x) + exp(-x)) * 0.5;
}

// asinh(|x|) = log1p(|x| + x^2 / (1 + sqrt(1 + x^2))), odd; log(2|x|) for huge |x|.
Array arcsinh(const Array& a) {
  const Array x = detail::AsFloating(a);
  const Array m = abs(x);
  const Array small = log1p(m + square(m) / (1.0 + sqrt(1.0 + square(m))));
  const Array large = log(m) + kLn2;
  const Array magnitude = where(m > kLarge, large, small);
  return where(x < 0.0, -magnitude, magnitude);
}

// acosh(x) = log1p((x - 1) + sqrt((x - 1)(x + 1))), log(2x) for huge x; NaN below 1.
Array arccosh(const Array& a) {
  const Array x = detail::AsFloating(a);
  const Array t = x - 1.0;
  const Array small = log1p(t + sqrt(t * (x + 1.0)));
  return where(x > kLarge, log(x) + kLn2, small);
}

// atanh(x) = log1p(2x / (1 - x)) / 2: +-inf at +-1, NaN beyond.
Array arctanh(const Array& a) {
  const Array x = detail::AsFloating(a);
  return log1p(2.0 * x / (1.0 - x)) * 0.5;
}

namespace {

// p(w) by Horner's rule, coefficients from the highest power.
Array Polynomial(const Array& w, std::initializer_list<double> coefficients) {
  std::optional<Array> p;
  for (double c : coefficients) p = p ? *p * w + c : full({}, c, w.dtype(), w.device());
  return *p;
}

}  // namespace

Array erfinv(const Array& a) {
  const Array x = detail::AsFloating(a);
  const Array w = -log((1.0 - x) * (1.0 + x));
  const Array central =
      Polynomial(w - 2.5, {2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                           0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941});
  // Only used past w = 5; the floor keeps sqrt's derivative finite where it is not.
  const Array tail =
      Polynomial(sqrt(maximum(w, 5.0)) - 3.0,
                 {-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                  -0.0076224613, 0.00943887047, 1.00167406, 2.83297682});
  Array z = where(w < 5.0, central, tail) * x;
  if (x.dtype() == float64) {
    // Newton on erf(z) = x: z -= (erf(z) - x) / (2 / sqrt(pi) exp(-z^2)), up to |z| ~ 3.8,
    // past which erf's rounding over its tiny slope would outweigh the step. The other
    // elements step from 0, so no infinity reaches the gradient.
    const Array refine = w < 16.0;
    const double two_over_root_pi = 2.0 / std::sqrt(M_PI);
    for (int step = 0; step < 2; ++step) {
      const Array from = where(refine, z, 0.0);
      const Array error = erf(from) - where(refine, x, 0.0);
      z = z - error / (exp(-square(from)) * two_over_root_pi);
    }
  }
  const double inf = std::numeric_limits<double>::infinity();
  const Array pole =
      where(x > 0.0, full({}, inf, x.dtype(), x.device()), full({}, -inf, x.dtype(), x.device()));
  return where(abs(x) == 1.0, pole, z);
}

}  // namespace ferry
