// Vector-Jacobian products of the elementwise functions of one array. `y` is the op's
// output, so rules like exp's reuse the forward value instead of recomputing it.

#include <cmath>

#include "client/ops.h"
#include "client/vjp/registry.h"
#include "core/dtype.h"

namespace ferry::detail {
namespace {

// A rule of one input: the cotangent from x, y and g.
template <Array (*kGrad)(const Array& x, const Array& y, const Array& g)>
VjpResult Unary(const VjpArgs& args) {
  return {kGrad(args.inputs[0], args.output, args.cotangent)};
}

// The rules of the ops complex64 takes use the derivative's conjugate (the cotangent is
// dL/dRe + i dL/dIm, as MLX); conjugate is the identity on real arrays.
Array Neg(const Array&, const Array&, const Array& g) { return negative(g); }
Array Abs(const Array& x, const Array& y, const Array& g) {
  if (core::IsComplex(x.dtype())) {  // g z / |z|, and 0 at 0
    return where(y == 0.0f, 0.0f, astype(g, complex64) * x / astype(y, complex64));
  }
  return where(x > 0, g, where(x < 0, negative(g), 0));
}
Array Exp(const Array&, const Array& y, const Array& g) { return g * conjugate(y); }
Array Log(const Array& x, const Array&, const Array& g) { return g / conjugate(x); }
Array Sqrt(const Array&, const Array& y, const Array& g) { return g * 0.5 / conjugate(y); }
// d/dx x^(-1/2) = -x^(-3/2) / 2 = -y^3 / 2.
Array Rsqrt(const Array&, const Array& y, const Array& g) { return g * -0.5 * (y * y * y); }
Array Sin(const Array& x, const Array&, const Array& g) { return g * conjugate(cos(x)); }
Array Cos(const Array& x, const Array&, const Array& g) { return negative(g * conjugate(sin(x))); }
Array Tanh(const Array&, const Array& y, const Array& g) { return g * (1.0 - y * y); }
Array Sigmoid(const Array&, const Array& y, const Array& g) { return g * (y * (1.0 - y)); }
Array Relu(const Array& x, const Array&, const Array& g) { return where(x > 0, g, 0); }
// d/dx x Phi(x) = Phi(x) + x phi(x), with Phi(x) = (1 + erf(x / sqrt 2)) / 2.
Array Gelu(const Array& x, const Array&, const Array& g) {
  const double inv_sqrt2 = 1.0 / std::sqrt(2.0);
  const double inv_sqrt2pi = 1.0 / std::sqrt(2.0 * M_PI);
  Array cdf = (erf(x * inv_sqrt2) + 1.0) * 0.5;
  Array pdf = exp(x * x * -0.5) * inv_sqrt2pi;
  return g * (cdf + x * pdf);
}
Array Erf(const Array& x, const Array&, const Array& g) {
  return g * (exp(negative(x * x)) * (2.0 / std::sqrt(M_PI)));
}
// ---- vjp2: the unary ops of part A ----
Array Square(const Array& x, const Array&, const Array& g) { return g * (2.0 * conjugate(x)); }
Array Log1p(const Array& x, const Array&, const Array& g) { return g / (x + 1.0); }
Array Expm1(const Array&, const Array& y, const Array& g) { return g * (y + 1.0); }
Array Log2(const Array& x, const Array&, const Array& g) { return g / (x * M_LN2); }
Array Log10(const Array& x, const Array&, const Array& g) { return g / (x * M_LN10); }

}  // namespace

void RegisterUnaryVjps(VjpTable& table) {
  table["neg"] = &Unary<Neg>;
  table["abs"] = &Unary<Abs>;
  table["exp"] = &Unary<Exp>;
  table["log"] = &Unary<Log>;
  table["sqrt"] = &Unary<Sqrt>;
  table["rsqrt"] = &Unary<Rsqrt>;
  table["sin"] = &Unary<Sin>;
  table["cos"] = &Unary<Cos>;
  table["tanh"] = &Unary<Tanh>;
  table["sigmoid"] = &Unary<Sigmoid>;
  table["relu"] = &Unary<Relu>;
  table["gelu"] = &Unary<Gelu>;
  table["erf"] = &Unary<Erf>;
  // vjp2
  table["square"] = &Unary<Square>;
  table["log1p"] = &Unary<Log1p>;
  table["expm1"] = &Unary<Expm1>;
  table["log2"] = &Unary<Log2>;
  table["log10"] = &Unary<Log10>;
  // Piecewise constant or not floating: no gradient, as in MLX.
  for (const char* op :
       {"floor", "ceil", "round", "sign", "isnan", "isinf", "logical_not", "bitwise_invert"}) {
    table[op] = &NoGradient;
  }
}

}  // namespace ferry::detail
