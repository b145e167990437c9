// fft: the DFT along one axis, as kernels/fft_plan.h describes, each line copied into a
// contiguous buffer and transformed in double precision (the reference the CUDA kernels
// are held to); rfft keeps bins 0..n/2, irfft first rebuilds the Hermitian spectrum.

#include <complex>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/fft_plan.h"

namespace ferry::kernels::cpu {
namespace {

using ComplexD = std::complex<double>;

// Transforms a[0..n) in place (b is scratch of n), per fft_plan.h. roots[t] is
// exp(sign 2 pi i t / n).
void TransformLine(std::vector<ComplexD>& a, std::vector<ComplexD>& b,
                   const std::vector<int64_t>& radices, const std::vector<ComplexD>& roots) {
  const int64_t n = static_cast<int64_t>(a.size());
  std::vector<ComplexD> v;
  int64_t s = 1;
  for (int64_t radix : radices) {
    const int64_t m = n / radix;          // butterflies in this pass
    const int64_t twiddle_step = m / s;   // n / (s R): w(r k, s R) = roots[r k twiddle_step]
    v.resize(radix);
    for (int64_t j = 0; j < m; ++j) {
      const int64_t k = j % s;
      for (int64_t r = 0; r < radix; ++r) v[r] = a[j + r * m] * roots[(r * k * twiddle_step) % n];
      const int64_t base = (j / s) * s * radix + k;
      for (int64_t q = 0; q < radix; ++q) {
        ComplexD sum = 0;
        for (int64_t r = 0; r < radix; ++r) sum += v[r] * roots[(r * q % radix) * m];
        b[base + q * s] = sum;
      }
    }
    a.swap(b);
    s *= radix;
  }
}

absl::Status Fft(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  absl::StatusOr<int64_t> axis = GetAttr<int64_t>(node, "axis");
  absl::StatusOr<int64_t> n = GetAttr<int64_t>(node, "n");
  absl::StatusOr<int64_t> inverse = GetAttr<int64_t>(node, "inverse");
  absl::StatusOr<int64_t> real = GetAttr<int64_t>(node, "real");
  for (const absl::Status& s : {axis.status(), n.status(), inverse.status(), real.status()}) {
    if (!s.ok()) return s;
  }
  const Tensor& in = inputs[0];
  const core::Shape& in_shape = in.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(in_shape.size()); ++d) {
    if (d < *axis) outer *= in_shape[d];
    if (d > *axis) inner *= in_shape[d];
  }
  const int64_t in_dim = in_shape[*axis], out_dim = out.shape()[*axis];
  const bool real_in = *real && !*inverse, real_out = *real && *inverse;
  const double sign = *inverse ? 1.0 : -1.0;
  const double scale = *inverse ? 1.0 / static_cast<double>(*n) : 1.0;
  std::vector<ComplexD> roots(*n);
  for (int64_t t = 0; t < *n; ++t) {
    roots[t] = std::polar(1.0, sign * 2.0 * M_PI * static_cast<double>(t) / *n);
  }
  const std::vector<int64_t> radices = FftRadices(*n);
  std::vector<ComplexD> a(*n), b(*n);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t in_base = o * in_dim * inner + i, out_base = o * out_dim * inner + i;
      if (real_in) {
        const float* x = in.data<float>() + in_base;
        for (int64_t t = 0; t < *n; ++t) a[t] = x[t * inner];
      } else {
        const Complex64* x = in.data<Complex64>() + in_base;
        for (int64_t t = 0; t < in_dim; ++t) a[t] = ComplexD(x[t * inner]);
        // irfft: the bins above n/2 mirror those below (the real part is all that is kept,
        // so the imaginary parts of bins 0 and n/2 drop out by themselves).
        for (int64_t t = in_dim; t < *n; ++t) a[t] = std::conj(a[*n - t]);
      }
      TransformLine(a, b, radices, roots);
      if (real_out) {
        float* y = out.data<float>() + out_base;
        for (int64_t t = 0; t < out_dim; ++t) y[t * inner] = static_cast<float>(a[t].real() * scale);
      } else {
        Complex64* y = out.data<Complex64>() + out_base;
        for (int64_t t = 0; t < out_dim; ++t) y[t * inner] = Complex64(a[t] * scale);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterFftKernels(KernelTable& table) { table["fft"] = &Fft; }

}  // namespace ferry::kernels::cpu
