// The Fourier transforms, composed as MLX composes them: each axis is cut or zero-padded to
// its n, then transformed by core's one-axis `fft` op (rfft on the last axis first, irfft
// on it last), and the norm is one scale at the end.

#include "client/fft.h"

#include <algorithm>
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
    x = detail::FftAlongAxis(Resize(x, request.axes[k], request.n[k]), request.axes[k],
                             request.n[k], inverse, false);
  }
  return Scale(x, request.n, inverse, norm);
}

Array RealForward(const std::string& op, const Array& a, const Shape* n,
                  const std::vector<int>& axes, FFTNorm norm) {
  const Request request = Check(op, a, n, axes, Kind::kReal);
  const int64_t last = request.axes.back(), last_n = request.n.back();
  Array x =
      detail::FftAlongAxis(Resize(astype(a, float32), last, last_n), last, last_n, false, true);
  for (size_t k = 0; k + 1 < request.axes.size(); ++k) {
    x = detail::FftAlongAxis(Resize(x, request.axes[k], request.n[k]), request.axes[k],
                             request.n[k], false, false);
  }
  return Scale(x, request.n, false, norm);
}

Array RealInverse(const std::string& op, const Array& a, const Shape* n,
                  const std::vector<int>& axes, FFTNorm norm) {
  const Request request = Check(op, a, n, axes, Kind::kRealInverse);
  Array x = astype(a, complex64);
  for (size_t k = 0; k + 1 < request.axes.size(); ++k) {
    x = detail::FftAlongAxis(Resize(x, request.axes[k], request.n[k]), request.axes[k],
                             request.n[k], true, false);
  }
  const int64_t last = request.axes.back(), last_n = request.n.back();
  x = detail::FftAlongAxis(Resize(x, last, last_n / 2 + 1), last, last_n, true, true);
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

// Checks stft's and istft's framing and returns the window, centered in n_fft zeros.
Array PaddedWindow(const std::string& op, int n_fft, int hop, int win,
                   const std::optional<Array>& window, const Device& device) {
  if (n_fft < 1 || hop < 1 || win < 1 || win > n_fft) {
    detail::ThrowOpError(op, absl::StrCat("needs n_fft >= 1, hop_length >= 1 and 1 <= "
                                          "win_length <= n_fft, got n_fft ",
                                          n_fft, ", hop_length ", hop, ", win_length ", win, "."));
  }
  Array w = window.has_value() ? *window : ones({win}, float32, device);
  if (w.ndim() != 1 || w.shape(0) != win) {
    detail::ThrowOpError(op, absl::StrCat("needs a window of shape (", win, ",), got ",
                                          core::ShapeToString(w.shape()), "."));
  }
  const int left = (n_fft - win) / 2;
  return pad(w, {{left, n_fft - win - left}});
}

// x's last axis with p samples added at each end.
Array PadEnds(const Array& x, int64_t p, const std::string& mode) {
  const int64_t length = x.shape(-1);
  const int last = x.ndim() - 1;
  auto part = [&](int64_t start, int64_t stop) {
    Shape begin(x.ndim(), 0), end = x.shape();
    begin[last] = start;
    end[last] = stop;
    return slice(x, begin, end);
  };
  if (mode == "constant") {
    std::vector<std::pair<int64_t, int64_t>> widths(x.ndim(), {0, 0});
    widths[last] = {p, p};
    return pad(x, widths);
  }
  if (mode == "edge") {
    return concatenate({repeat(part(0, 1), p, last), x, repeat(part(length - 1, length), p, last)},
                       last);
  }
  if (mode != "reflect") {
    detail::ThrowOpError("stft", absl::StrCat("pad_mode must be \"reflect\", \"constant\" or "
                                              "\"edge\", got \"",
                                              mode, "\"."));
  }
  if (length <= p) {
    detail::ThrowOpError("stft",
                         absl::StrCat("reflect padding of n_fft / 2 = ", p, " needs more than ", p,
                                      " samples, got ", length, "."));
  }
  return concatenate({flip(part(1, p + 1), last), x, flip(part(length - p - 1, length - 1), last)},
                     last);
}

}  // namespace

Array stft(const Array& x, int n_fft, std::optional<int> hop_length, std::optional<int> win_length,
           const std::optional<Array>& window, bool center, const std::string& pad_mode,
           FFTNorm norm, std::optional<bool> onesided) {
  if (x.ndim() == 0) detail::ThrowOpError("stft", "needs an array of at least one dimension.");
  const int hop = hop_length.value_or(n_fft / 4), win = win_length.value_or(n_fft);
  const Array w = PaddedWindow("stft", n_fft, hop, win, window, x.device());
  const bool half = onesided.value_or(!core::IsComplex(x.dtype()));
  const Array padded = center ? PadEnds(x, n_fft / 2, pad_mode) : x;
  const int64_t length = padded.shape(-1);
  if (length < n_fft) {
    detail::ThrowOpError("stft", absl::StrCat("needs at least n_fft = ", n_fft,
                                              " samples (after centering), got ", length, "."));
  }
  const int64_t frames = 1 + (length - n_fft) / hop;
  const Array starts =
      reshape(arange(static_cast<double>(frames), int32, x.device()) * hop, {frames, 1});
  const Array index = starts + arange(n_fft, int32, x.device());
  const Array windowed = take(padded, index, -1) * w;  // (..., frames, n_fft)
  const Array spectrum = half ? rfft(windowed, -1, norm) : fft(windowed, -1, norm);
  return swapaxes(spectrum, -1, -2);
}

Array istft(const Array& stft_matrix, std::optional<int> n_fft, std::optional<int> hop_length,
            std::optional<int> win_length, const std::optional<Array>& window, bool center,
            FFTNorm norm, std::optional<bool> onesided, std::optional<int> length) {
  if (stft_matrix.ndim() < 2) {
    detail::ThrowOpError("istft", "needs an array of at least two dimensions (n_freq, n_frames).");
  }
  const bool half = onesided.value_or(true);
  const int n_freq = static_cast<int>(stft_matrix.shape(-2));
  const int size = n_fft.value_or(half ? 2 * (n_freq - 1) : n_freq);
  const int hop = hop_length.value_or(size / 4), win = win_length.value_or(size);
  const Device device = stft_matrix.device();
  const Array w = PaddedWindow("istft", size, hop, win, window, device);
  const Array spectra = swapaxes(stft_matrix, -1, -2);  // (..., frames, n_freq)
  const Array frames = (half ? irfft(spectra, size, -1, norm) : real(ifft(spectra, -1, norm))) * w;
  const int64_t count = frames.shape(-2);
  const int64_t total = size + hop * (count - 1);
  // Overlap-add: frame f's sample t lands at f * hop + t.
  const Array starts = reshape(arange(static_cast<double>(count), int32, device) * hop, {count, 1});
  const Array positions = flatten(starts + arange(size, int32, device));
  Shape out_shape(frames.shape().begin(), frames.shape().end() - 2);
  Shape flat_shape = out_shape;
  flat_shape.push_back(count * size);
  out_shape.push_back(total);
  const Array signal =
      scatter_add_axis(zeros(out_shape, float32, device), broadcast_to(positions, flat_shape),
                       reshape(frames, flat_shape), -1);
  const Array envelope = scatter_add_axis(zeros({total}, float32, device), positions,
                                          flatten(broadcast_to(square(w), {count, size})), 0);
  const Array nonzero = envelope > 1e-11f;
  Array y = where(nonzero, signal / where(nonzero, envelope, 1.0f), 0.0f);
  const int64_t start = center ? size / 2 : 0;
  const int64_t stop = length.has_value() ? start + *length : total - start;
  const int last = y.ndim() - 1;
  Shape begin(y.ndim(), 0), end = y.shape();
  begin[last] = start;
  end[last] = std::min(stop, total);
  y = slice(y, begin, end);
  if (stop > total) {
    std::vector<std::pair<int64_t, int64_t>> widths(y.ndim(), {0, 0});
    widths[last].second = stop - total;
    y = pad(y, widths);
  }
  return y;
}

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
Array fft(const Array& a, int axis, FFTNorm norm) { return fftn(a, std::vector<int>{axis}, norm); }
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
Array irfft(const Array& a, int n, int axis, FFTNorm norm) { return irfftn(a, {n}, {axis}, norm); }
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

namespace ferry::detail {

Array FftAlongAxis(const Array& a, int64_t axis, int64_t n, bool inverse, bool real) {
  return MakeOp("fft", {a},
                {{"axis", axis}, {"n", n}, {"inverse", int64_t{inverse}}, {"real", int64_t{real}}});
}

}  // namespace ferry::detail
