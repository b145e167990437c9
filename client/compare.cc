// Comparisons with tolerance, and nan_to_num (ops.h, part C).

#include <limits>

#include "client/ops.h"
#include "core/dtype.h"

namespace ferry {

Array isclose(const Array& a, const Array& b, double rtol, double atol, bool equal_nan) {
  // Infinities are close only to themselves: |inf - x| <= inf would call them close to all.
  const Array infinite = logical_or(isinf(a), isinf(b));
  const Array within = abs(a - b) <= atol + rtol * abs(b);
  Array close = where(infinite, a == b, within);
  if (equal_nan) close = logical_or(close, logical_and(isnan(a), isnan(b)));
  return close;
}

Array allclose(const Array& a, const Array& b, double rtol, double atol, bool equal_nan) {
  return all(isclose(a, b, rtol, atol, equal_nan));
}

Array array_equal(const Array& a, const Array& b, bool equal_nan) {
  if (a.shape() != b.shape()) return full({}, 0.0, bool_, a.device());
  Array same = a == b;
  if (equal_nan) same = logical_or(same, logical_and(isnan(a), isnan(b)));
  return all(same);
}

Array nan_to_num(const Array& a, double nan, std::optional<double> posinf,
                 std::optional<double> neginf) {
  if (!core::IsFloating(a.dtype())) return a;
  const double largest = finfo_max(a.dtype());
  // Each value as an array of a's dtype (weak float scalars would take it too, but a
  // float64 default past float32's range must not become an infinity on the way).
  auto value = [&](double v) { return full({}, v, a.dtype(), a.device()); };
  Array out = where(isnan(a), value(nan), a);
  out = where(a == std::numeric_limits<double>::infinity(), value(posinf.value_or(largest)), out);
  return where(a == -std::numeric_limits<double>::infinity(), value(neginf.value_or(-largest)),
               out);
}

}  // namespace ferry
