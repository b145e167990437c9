// The parts of complex64 numbers and their conjugate.

#include <complex>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"

namespace ferry::kernels::cpu {
namespace {

template <typename Out, typename F>
absl::Status Elementwise(absl::Span<const Tensor> inputs, const Tensor& out, F f) {
  const Complex64* x = inputs[0].data<Complex64>();
  Out* y = out.data<Out>();
  for (int64_t i = 0; i < out.size(); ++i) y[i] = f(x[i]);
  return absl::OkStatus();
}

absl::Status Real(const core::Node&, absl::Span<const Tensor> inputs, const Tensor& out) {
  return Elementwise<float>(inputs, out, [](Complex64 z) { return z.real(); });
}

absl::Status Imag(const core::Node&, absl::Span<const Tensor> inputs, const Tensor& out) {
  return Elementwise<float>(inputs, out, [](Complex64 z) { return z.imag(); });
}

absl::Status Conjugate(const core::Node&, absl::Span<const Tensor> inputs, const Tensor& out) {
  return Elementwise<Complex64>(inputs, out, [](Complex64 z) { return std::conj(z); });
}

}  // namespace

void RegisterComplexKernels(KernelTable& table) {
  table["real"] = &Real;
  table["imag"] = &Imag;
  table["conjugate"] = &Conjugate;
}

}  // namespace ferry::kernels::cpu
