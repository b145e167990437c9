// The parts of complex64 arrays, their conjugate, and complex64 arrays from parts.

#include "client/array_node.h"
#include "client/ops.h"
#include "core/dtype.h"

namespace ferry {

Array real(const Array& a) {
  if (!core::IsComplex(a.dtype())) return a;
  return detail::MakeOp("real", {a}, {});
}

Array imag(const Array& a) {
  if (!core::IsComplex(a.dtype())) return zeros_like(a);
  return detail::MakeOp("imag", {a}, {});
}

Array conjugate(const Array& a) {
  if (!core::IsComplex(a.dtype())) return a;
  return detail::MakeOp("conjugate", {a}, {});
}

Array complex(const Array& real, const Array& imag) {
  return astype(real, complex64) + astype(imag, complex64) * std::complex<float>(0, 1);
}

}  // namespace ferry
