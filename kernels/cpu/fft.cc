// fft: the DFT along one axis, as kernels/fft_plan.h describes, each line copied into a
// contiguous buffer and transformed in double precision (the reference the CUDA kernels are
// held to); rfft keeps bins 0..n/2, irfft first rebuilds the Hermitian spectrum.

#include <algorithm>
#include <complex>
#include <utility>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/kernels.h"
#include "kernels/fft_plan.h"

namespace ferry::kernels::cpu {
namespace {

using ComplexD = std::complex<double>;

// One Stockham pass (kernels/fft_plan.h) with its twiddles w(r k, s R), k < s, r < R, as
// twiddles[k R + r], and for a radix other than 2 and 4 (an odd one) its R-point DFT
// matrix dft[q R + r].
struct Pass {
  int64_t radix = 0, s = 0;
  std::vector<ComplexD> twiddles, dft;
};

std::vector<Pass> MakePasses(int64_t n, double sign) {
  std::vector<Pass> passes;
  int64_t s = 1;
  for (int64_t radix : FftRadices(n)) {
    Pass pass{radix, s, std::vector<ComplexD>(s * radix), {}};
    for (int64_t k = 0; k < s; ++k) {
      for (int64_t r = 0; r < radix; ++r) {
        pass.twiddles[k * radix + r] =
            std::polar(1.0, sign * 2 * M_PI * static_cast<double>(r * k) / (s * radix));
      }
    }
    if (radix != 2 && radix != 4) {
      pass.dft.resize(radix * radix);
      for (int64_t q = 0; q < radix; ++q) {
        for (int64_t r = 0; r < radix; ++r) {
          pass.dft[q * radix + r] =
              std::polar(1.0, sign * 2 * M_PI * static_cast<double>(r * q % radix) / radix);
        }
      }
    }
    passes.push_back(std::move(pass));
    s *= radix;
  }
  return passes;
}

// Plain products: std::complex's operator* checks for NaN and infinities through a library
// call on each product, which costs more than the rest of a butterfly.
inline ComplexD Mul(ComplexD a, ComplexD b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

// Transforms a[0..n) (the result ends in a; b is scratch of n). A line of up to 2^14 points
// stays in the L1 and L2 caches through its passes; batching lines into SIMD lanes instead
// measured slower (bench/compute_bench.cc).
void TransformLine(std::vector<ComplexD>& a, std::vector<ComplexD>& b,
                   const std::vector<Pass>& passes, double sign) {
  const int64_t n = static_cast<int64_t>(a.size());
  std::vector<ComplexD> v;
  for (const Pass& pass : passes) {
    const int64_t radix = pass.radix, s = pass.s, m = n / radix;
    const ComplexD* in = a.data();
    ComplexD* out = b.data();
    v.resize(radix);
    for (int64_t block = 0; block < m; block += s) {  // j = block + k, k = j mod s
      for (int64_t k = 0; k < s; ++k) {
        const int64_t j = block + k, base = block * radix + k;
        const ComplexD* w = pass.twiddles.data() + k * radix;
        for (int64_t r = 0; r < radix; ++r) v[r] = Mul(in[j + r * m], w[r]);
        if (radix == 2) {
          out[base] = v[0] + v[1];
          out[base + s] = v[0] - v[1];
        } else if (radix == 4) {
          const ComplexD even = v[0] + v[2], odd = v[0] - v[2], sum13 = v[1] + v[3];
          const ComplexD diff13 = v[1] - v[3];
          const ComplexD turned(-sign * diff13.imag(), sign * diff13.real());  // w(1, 4) diff13
          out[base] = even + sum13;
          out[base + s] = odd + turned;
          out[base + 2 * s] = even - sum13;
          out[base + 3 * s] = odd - turned;
        } else {
          // An odd radix: v[r] and v[R - r] meet the same cosine and opposite sines, so bins
          // q and R - q share their sums (half the products of the plain R x R DFT).
          const int64_t half = radix / 2;
          ComplexD total = v[0];
          for (int64_t r = 1; r <= half; ++r) {
            const ComplexD sum = v[r] + v[radix - r];
            total += sum;
            v[radix - r] = v[r] - v[radix - r];  // the difference, in place
            v[r] = sum;
          }
          out[base] = total;
          for (int64_t q = 1; q <= half; ++q) {
            const ComplexD* row = pass.dft.data() + q * radix;  // (cos, sign sin) of r q
            ComplexD even = v[0], odd = 0;
            for (int64_t r = 1; r <= half; ++r) {
              even += v[r] * row[r].real();
              odd += v[radix - r] * row[r].imag();
            }
            const ComplexD turned(-odd.imag(), odd.real());  // i odd
            out[base + q * s] = even + turned;
            out[base + (radix - q) * s] = even - turned;
          }
        }
      }
    }
    a.swap(b);
  }
}

absl::Status Fft(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  const Tensor& in = inputs[0];
  absl::StatusOr<FftProblem> problem = GetFftProblem(node, in.shape(), out.shape());
  if (!problem.ok()) return problem.status();
  const auto [outer, inner, n, in_dim, out_dim, inverse, real] = *problem;
  const bool real_in = real && !inverse, real_out = real && inverse;
  const double sign = inverse ? 1.0 : -1.0;
  const double scale = inverse ? 1.0 / static_cast<double>(n) : 1.0;
  const std::vector<Pass> passes = MakePasses(n, sign);
  std::vector<ComplexD> a(n), b(n);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t in_base = o * in_dim * inner + i, out_base = o * out_dim * inner + i;
      if (real_in) {
        const float* x = in.data<float>() + in_base;
        for (int64_t t = 0; t < n; ++t) a[t] = x[t * inner];
      } else {
        const Complex64* x = in.data<Complex64>() + in_base;
        for (int64_t t = 0; t < in_dim; ++t) a[t] = ComplexD(x[t * inner]);
        // irfft: the bins above n/2 mirror those below (the real part is all that is kept,
        // so the imaginary parts of bins 0 and n/2 drop out by themselves).
        for (int64_t t = in_dim; t < n; ++t) a[t] = std::conj(a[n - t]);
      }
      TransformLine(a, b, passes, sign);
      if (real_out) {
        float* y = out.data<float>() + out_base;
        for (int64_t t = 0; t < out_dim; ++t)
          y[t * inner] = static_cast<float>(a[t].real() * scale);
      } else {
        Complex64* y = out.data<Complex64>() + out_base;
        for (int64_t t = 0; t < out_dim; ++t) {
          y[t * inner] = Complex64(static_cast<float>(a[t].real() * scale),
                                   static_cast<float>(a[t].imag() * scale));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FftProblem> GetFftProblem(const core::Node& node, const core::Shape& in,
                                         const core::Shape& out) {
  absl::StatusOr<int64_t> axis = GetAttr<int64_t>(node, "axis");
  absl::StatusOr<int64_t> n = GetAttr<int64_t>(node, "n");
  absl::StatusOr<int64_t> inverse = GetAttr<int64_t>(node, "inverse");
  absl::StatusOr<int64_t> real = GetAttr<int64_t>(node, "real");
  for (const absl::Status& s : {axis.status(), n.status(), inverse.status(), real.status()}) {
    if (!s.ok()) return s;
  }
  FftProblem p{1, 1, *n, in[*axis], out[*axis], *inverse != 0, *real != 0};
  for (int64_t d = 0; d < static_cast<int64_t>(in.size()); ++d) {
    if (d < *axis) p.outer *= in[d];
    if (d > *axis) p.inner *= in[d];
  }
  return p;
}

void RegisterFftKernels(KernelTable& table) { table["fft"] = &Fft; }

}  // namespace ferry::kernels::cpu
