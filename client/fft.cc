// The Fourier transforms, composed as MLX composes them: each axis is cut or zero-padded to
// its n, then transformed by core's one-axis `fft` op (rfft on the last axis first, irfft
// on it last), and the norm is one scale at the end.

#include "client/fft.h"

#include <cmath>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/axes.h"
#include "client/ops.h"
#include "core/shape.h"

namespace ferry::fft {
namespace {

enum class Kind { kComplex, kReal, kRealInverse };

// The checked axes (non-negative) and lengths of one call.
struct Request {
  std::vector<int64_t> axes;
  Shape n;
};

Request Check(const std::string& op, const Array& a, const Shape* n, const std::vector<int>& axes,
              Kind kind) {
  if (a.ndim() == 0) detail::ThrowOpError(op, "needs an array of at least one dimension.");
  if (axes.empty()) detail::ThrowOpError(op, "needs at least one axis.");
  if (kind == Kind::kReal && core::IsComplex(a.dtype())) {
    detail::ThrowOpError(op, "needs a real input, got complex64.");
  }
  Request request{detail::NormalizeAxes(op, axes, a.ndim(), /*sort=*/false), {}};
  if (n != nullptr) {
    if (n->size() != axes.size()) {
      detail::ThrowOpError(op, absl::StrCat("got ", n->size(), " lengths for ", axes.size(),
                                            " axes; they must match."));
    }
    request.n = *n;
  } else {
    for (int64_t axis : request.axes) request.n.push_back(a.shape(static_cast<int>(axis)));
    if (kind == Kind::kRealInverse) request.n.back() = 2 * (request.n.back() - 1);
  }
  for (int64_t length : request.n) {
    if (length < 1) {
      detail::ThrowOpError(op, absl::StrCat("needs transform lengths of at least 1, got ",
                                            core::ShapeToString(request.n), "."));
    }
  }
  return request;
}

// `a` cut or zero-padded at the end of `axis` to `size`.
Array Resize(const Array& a, int64_t axis, int64_t size) {
  const int64_t dim = a.shape(static_cast<int>(axis));
  if (dim == size) return a;
  if (dim > size) {
    Shape start(a.ndim(), 0), stop = a.shape();
    stop[axis] = size;
    return slice(a, start, stop);
  }
  std::vector<std::pair<int64_t, int64_t>> widths(a.ndim(), {0, 0});
  widths[axis].second = size - dim;
  return pad(a, widths);
}

Array Transform(const Array& a, int64_t axis, int64_t n, bool inverse, bool real) {
  return detail::MakeOp("fft", {a},
                        {{"axis", axis},
                         {"n", n},
                         {"inverse", int64_t{inverse}},
                         {"real", int64_t{real}}});
}

// The norm's factor on top of the inverse's 1/N.
Array Scale(const Array& x, const Shape& n, bool inverse, FFTNorm norm) {
  double count = 1;
  for (int64_t length : n) count *= static_cast<double>(length);
  switch (norm) {
    case FFTNorm::kBackward:
      return x;
    case FFTNorm::kOrtho:
      return x * (inverse ? std::sqrt(count) : 1.0 / std::sqrt(count));
    case FFTNorm::kForward:
      return x * (inverse ? count : 1.0 / count);
  }
  return x;
}

Array Complex(const std::string& op, const Array& a, const Shape* n, const std::vector<int>& axes,
              bool inverse, FFTNorm norm) {
  const Request request = Check(op, a, n, axes, Kind::kComplex);
  Array x = astype(a, complex64);
  for (size_t k = 0; k < request.axes.size(); ++k) {
    x = Transform(Resize(x, request.axes[k], request.n[k]), request.axes[k], request.n[k],
                  inverse, false);
  }
  return Scale(x, request.n, inverse, norm);
}

Array RealForward(const std::string& op, const Array& a, const Shape* n,
                  const std::vector<int>& axes, FFTNorm norm) {
  const Request request = Check(op, a, n, axes, Kind::kReal);
  const int64_t last = request.axes.back(), last_n = request.n.back();
  Array x = Transform(Resize(astype(a, float32), last, last_n), last, last_n, false, true);
  for (size_t k = 0; k + 1 < request.axes.size(); ++k) {
    x = Transform(Resize(x, request.axes[k], request.n[k]), request.axes[k], request.n[k], false,
                  false);
  }
  return Scale(x, request.n, false, norm);
}

Array RealInverse(const std::string& op, const Array& a, const Shape* n,
                  const std::vector<int>& axes, FFTNorm norm) {
  const Request request = Check(op, a, n, axes, Kind::kRealInverse);
  Array x = astype(a, complex64);
  for (size_t k = 0; k + 1 < request.axes.size(); ++k) {
    x = Transform(Resize(x, request.axes[k], request.n[k]), request.axes[k], request.n[k], true,
                  false);
  }
  const int64_t last = request.axes.back(), last_n = request.n.back();
  x = Transform(Resize(x, last, last_n / 2 + 1), last, last_n, true, true);
  return Scale(x, request.n, true, norm);
}

std::vector<int> Every(const Array& a) {
  std::vector<int> axes(a.ndim());
  for (int d = 0; d < a.ndim(); ++d) axes[d] = d;
  return axes;
}

Array Shift(const std::string& op, const Array& a, const std::vector<int>& axes, bool inverse) {
  const std::vector<int64_t> normalized = detail::NormalizeAxes(op, axes, a.ndim(), false);
  Shape shifts;
  for (int64_t axis : normalized) {
    const int64_t half = a.shape(static_cast<int>(axis)) / 2;
    shifts.push_back(inverse ? -half : half);
  }
  return roll(a, shifts, axes);
}

}  // namespace

Array fftn(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return Complex("fftn", a, &n, axes, false, norm);
}
Array fftn(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return Complex("fftn", a, nullptr, axes, false, norm);
}
Array fftn(const Array& a, FFTNorm norm) { return fftn(a, Every(a), norm); }
Array ifftn(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return Complex("ifftn", a, &n, axes, true, norm);
}
Array ifftn(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return Complex("ifftn", a, nullptr, axes, true, norm);
}
Array ifftn(const Array& a, FFTNorm norm) { return ifftn(a, Every(a), norm); }
Array fft(const Array& a, int n, int axis, FFTNorm norm) { return fftn(a, {n}, {axis}, norm); }
Array fft(const Array& a, int axis, FFTNorm norm) {
  return fftn(a, std::vector<int>{axis}, norm);
}
Array ifft(const Array& a, int n, int axis, FFTNorm norm) { return ifftn(a, {n}, {axis}, norm); }
Array ifft(const Array& a, int axis, FFTNorm norm) {
  return ifftn(a, std::vector<int>{axis}, norm);
}
Array fft2(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return fftn(a, n, axes, norm);
}
Array fft2(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return fftn(a, axes, norm);
}
Array ifft2(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return ifftn(a, n, axes, norm);
}
Array ifft2(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return ifftn(a, axes, norm);
}

Array rfftn(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return RealForward("rfftn", a, &n, axes, norm);
}
Array rfftn(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return RealForward("rfftn", a, nullptr, axes, norm);
}
Array rfftn(const Array& a, FFTNorm norm) { return rfftn(a, Every(a), norm); }
Array irfftn(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return RealInverse("irfftn", a, &n, axes, norm);
}
Array irfftn(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return RealInverse("irfftn", a, nullptr, axes, norm);
}
Array irfftn(const Array& a, FFTNorm norm) { return irfftn(a, Every(a), norm); }
Array rfft(const Array& a, int n, int axis, FFTNorm norm) { return rfftn(a, {n}, {axis}, norm); }
Array rfft(const Array& a, int axis, FFTNorm norm) {
  return rfftn(a, std::vector<int>{axis}, norm);
}
Array irfft(const Array& a, int n, int axis, FFTNorm norm) {
  return irfftn(a, {n}, {axis}, norm);
}
Array irfft(const Array& a, int axis, FFTNorm norm) {
  return irfftn(a, std::vector<int>{axis}, norm);
}
Array rfft2(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return rfftn(a, n, axes, norm);
}
Array rfft2(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return rfftn(a, axes, norm);
}
Array irfft2(const Array& a, const Shape& n, const std::vector<int>& axes, FFTNorm norm) {
  return irfftn(a, n, axes, norm);
}
Array irfft2(const Array& a, const std::vector<int>& axes, FFTNorm norm) {
  return irfftn(a, axes, norm);
}

Array fftshift(const Array& a) { return fftshift(a, Every(a)); }
Array fftshift(const Array& a, const std::vector<int>& axes) {
  return Shift("fftshift", a, axes, false);
}
Array ifftshift(const Array& a) { return ifftshift(a, Every(a)); }
Array ifftshift(const Array& a, const std::vector<int>& axes) {
  return Shift("ifftshift", a, axes, true);
}

}  // namespace ferry::fft
