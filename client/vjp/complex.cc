// Vector-Jacobian products of the complex64 ops. A complex cotangent is dL/dRe + i dL/dIm,
// as MLX and PyTorch take it, so a linear map's rule is its adjoint: the DFT's is n times
// the inverse DFT.

#include <complex>
#include <vector>

#include "client/array_node.h"
#include "client/ops.h"
#include "client/vjp/registry.h"

namespace ferry::detail {
namespace {

VjpResult Real(const VjpArgs& args) { return {astype(args.cotangent, complex64)}; }

VjpResult Imag(const VjpArgs& args) {
  return {astype(args.cotangent, complex64) * std::complex<float>(0, 1)};
}

VjpResult Conjugate(const VjpArgs& args) { return {conjugate(args.cotangent)}; }

VjpResult Fft(const VjpArgs& args) {
  const int64_t axis = std::get<int64_t>(args.attrs.values().at("axis"));
  const int64_t n = std::get<int64_t>(args.attrs.values().at("n"));
  const bool inverse = std::get<int64_t>(args.attrs.values().at("inverse")) != 0;
  const bool real = std::get<int64_t>(args.attrs.values().at("real")) != 0;
  const Array& g = args.cotangent;
  const double count = static_cast<double>(n);
  if (!real)
    return {inverse ? FftAlongAxis(g, axis, n, false, false) * (1.0 / count)
                    : FftAlongAxis(g, axis, n, true, false) * count};
  if (!inverse) {  // rfft: the adjoint of keeping bins 0..n/2 is padding with zeros
    std::vector<std::pair<int64_t, int64_t>> widths(g.ndim(), {0, 0});
    widths[axis].second = n - g.shape(static_cast<int>(axis));
    return {ferry::real(FftAlongAxis(pad(g, widths), axis, n, true, false) * count)};
  }
  // irfft: bins 1..(n-1)/2 stand for themselves and their mirror images, so count twice.
  const int64_t bins = n / 2 + 1;
  std::vector<float> weights(bins, 2.0f / static_cast<float>(n));
  weights[0] = 1.0f / static_cast<float>(n);
  if (n % 2 == 0) weights[bins - 1] = 1.0f / static_cast<float>(n);
  Shape shape(g.ndim(), 1);
  shape[axis] = bins;
  return {FftAlongAxis(g, axis, n, false, true) * from_host(weights, shape, g.device())};
}

}  // namespace

void RegisterComplexVjps(VjpTable& table) {
  table["real"] = &Real;
  table["imag"] = &Imag;
  table["conjugate"] = &Conjugate;
  table["fft"] = &Fft;
}

}  // namespace ferry::detail
