// fft: the DFT along one axis, as kernels/fft_plan.h describes, each line copied into
// contiguous real and imaginary parts and transformed in double precision (fft_line.h; the
// reference the CUDA kernels are held to); rfft keeps bins 0..n/2, irfft first rebuilds the
// Hermitian spectrum.

#include <algorithm>
#include <complex>
#include <utility>
#include <vector>

#include "kernels/cpu/dispatch.h"
#include "kernels/cpu/fft_line.h"
#include "kernels/cpu/kernels.h"
#include "kernels/cpu/scratch_budget.h"
#include "kernels/fft_plan.h"

namespace ferry::kernels::cpu {
namespace {

absl::Status Fft(const core::Node& node, absl::Span<const Tensor> inputs, const Tensor& out) {
  const Tensor& in = inputs[0];
  absl::StatusOr<FftProblem> problem = GetFftProblem(node, in.shape(), out.shape());
  if (!problem.ok()) return problem.status();
  const auto [outer, inner, n, in_dim, out_dim, inverse, real] = *problem;
  const bool real_in = real && !inverse, real_out = real && inverse;
  const double scale = inverse ? 1.0 / static_cast<double>(n) : 1.0;
  absl::StatusOr<ScratchReservation> scratch_bytes = ReserveScratch(node.op, FftLineBytes(n));
  if (!scratch_bytes.ok()) return scratch_bytes.status();
  const FftLinePlan plan = MakeFftLinePlan(n, inverse);
  const SimdLevel level = BestSimdLevel();
  std::vector<double> re(n), im(n), scratch(plan.ScratchSize());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      const int64_t in_base = o * in_dim * inner + i, out_base = o * out_dim * inner + i;
      if (real_in) {
        const float* x = in.data<float>() + in_base;
        for (int64_t t = 0; t < n; ++t) {
          re[t] = x[t * inner];
          im[t] = 0;
        }
      } else {
        const Complex64* x = in.data<Complex64>() + in_base;
        for (int64_t t = 0; t < in_dim; ++t) {
          re[t] = x[t * inner].real();
          im[t] = x[t * inner].imag();
        }
        // irfft: the bins above n/2 mirror those below (the real part is all that is kept,
        // so the imaginary parts of bins 0 and n/2 drop out by themselves).
        for (int64_t t = in_dim; t < n; ++t) {
          re[t] = re[n - t];
          im[t] = -im[n - t];
        }
      }
      TransformLine(plan, re.data(), im.data(), scratch.data(), level);
      if (real_out) {
        float* y = out.data<float>() + out_base;
        for (int64_t t = 0; t < out_dim; ++t) y[t * inner] = static_cast<float>(re[t] * scale);
      } else {
        Complex64* y = out.data<Complex64>() + out_base;
        for (int64_t t = 0; t < out_dim; ++t) {
          y[t * inner] =
              Complex64(static_cast<float>(re[t] * scale), static_cast<float>(im[t] * scale));
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
