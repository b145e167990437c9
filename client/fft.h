#ifndef FERRY_CLIENT_FFT_H_
#define FERRY_CLIENT_FFT_H_

// Discrete Fourier transforms, after mlx.core.fft (and NumPy's numpy.fft): complex64 results
// (irfft's are float32) whatever the input's dtype. `n` gives each transformed axis's
// length: the input is cut or zero-padded to it (for irfft, n is the output's length and the
// input is brought to n/2 + 1). `axes` may be negative; they must be distinct. Bad
// arguments throw ferry::Error ("[fftn] ...") at the line that built them.
//
//   Array spectrum = ferry::fft::rfft(signal);          // (..., n/2 + 1) complex64
//   Array back = ferry::fft::irfft(spectrum, n);        // (..., n) float32

#include <optional>
#include <string>
#include <vector>

#include "client/array.h"

namespace ferry::fft {

// Which transform carries the 1/n: the inverse (NumPy's default), both as 1/sqrt(n), or the
// forward one.
enum class FFTNorm { kBackward, kOrtho, kForward };

// Over `axes` (fftn without axes: every axis; fft2: the last two; fft: the last).
Array fftn(const Array& a, const Shape& n, const std::vector<int>& axes,
           FFTNorm norm = FFTNorm::kBackward);
Array fftn(const Array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::kBackward);
Array fftn(const Array& a, FFTNorm norm = FFTNorm::kBackward);
Array ifftn(const Array& a, const Shape& n, const std::vector<int>& axes,
            FFTNorm norm = FFTNorm::kBackward);
Array ifftn(const Array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::kBackward);
Array ifftn(const Array& a, FFTNorm norm = FFTNorm::kBackward);
Array fft(const Array& a, int n, int axis, FFTNorm norm = FFTNorm::kBackward);
Array fft(const Array& a, int axis = -1, FFTNorm norm = FFTNorm::kBackward);
Array ifft(const Array& a, int n, int axis, FFTNorm norm = FFTNorm::kBackward);
Array ifft(const Array& a, int axis = -1, FFTNorm norm = FFTNorm::kBackward);
Array fft2(const Array& a, const Shape& n, const std::vector<int>& axes,
           FFTNorm norm = FFTNorm::kBackward);
Array fft2(const Array& a, const std::vector<int>& axes = {-2, -1},
           FFTNorm norm = FFTNorm::kBackward);
Array ifft2(const Array& a, const Shape& n, const std::vector<int>& axes,
            FFTNorm norm = FFTNorm::kBackward);
Array ifft2(const Array& a, const std::vector<int>& axes = {-2, -1},
            FFTNorm norm = FFTNorm::kBackward);

// Of a real input (a complex one throws): the last of `axes` keeps its n/2 + 1
// non-negative frequencies. The inverses take such a half spectrum back to real float32;
// the last axis's default n is 2 (dim - 1).
Array rfftn(const Array& a, const Shape& n, const std::vector<int>& axes,
            FFTNorm norm = FFTNorm::kBackward);
Array rfftn(const Array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::kBackward);
Array rfftn(const Array& a, FFTNorm norm = FFTNorm::kBackward);
Array irfftn(const Array& a, const Shape& n, const std::vector<int>& axes,
             FFTNorm norm = FFTNorm::kBackward);
Array irfftn(const Array& a, const std::vector<int>& axes, FFTNorm norm = FFTNorm::kBackward);
Array irfftn(const Array& a, FFTNorm norm = FFTNorm::kBackward);
Array rfft(const Array& a, int n, int axis, FFTNorm norm = FFTNorm::kBackward);
Array rfft(const Array& a, int axis = -1, FFTNorm norm = FFTNorm::kBackward);
Array irfft(const Array& a, int n, int axis, FFTNorm norm = FFTNorm::kBackward);
Array irfft(const Array& a, int axis = -1, FFTNorm norm = FFTNorm::kBackward);
Array rfft2(const Array& a, const Shape& n, const std::vector<int>& axes,
            FFTNorm norm = FFTNorm::kBackward);
Array rfft2(const Array& a, const std::vector<int>& axes = {-2, -1},
            FFTNorm norm = FFTNorm::kBackward);
Array irfft2(const Array& a, const Shape& n, const std::vector<int>& axes,
             FFTNorm norm = FFTNorm::kBackward);
Array irfft2(const Array& a, const std::vector<int>& axes = {-2, -1},
             FFTNorm norm = FFTNorm::kBackward);

// The short-time Fourier transform of x's last axis, as MLX's: frames of n_fft samples
// every hop_length (default n_fft / 4), each multiplied by `window` (win_length long, default
// ones; centered and zero-padded to n_fft) and transformed (rfft when onesided, the default
// for a real x) -> (..., n_freq, n_frames) complex64. With center, n_fft / 2 samples are
// first padded at each end by pad_mode: "reflect", "constant" (zeros) or "edge".
Array stft(const Array& x, int n_fft = 2048, std::optional<int> hop_length = std::nullopt,
           std::optional<int> win_length = std::nullopt,
           const std::optional<Array>& window = std::nullopt, bool center = true,
           const std::string& pad_mode = "reflect", FFTNorm norm = FFTNorm::kBackward,
           std::optional<bool> onesided = std::nullopt);
// Its inverse: each frame's inverse transform (real, float32), windowed and overlap-added,
// divided by the overlap-added squared window (0 where that vanishes), the centering padding
// taken off, then cut or zero-padded to `length`. n_fft defaults to 2 (n_freq - 1) when
// onesided (the default), else n_freq.
Array istft(const Array& stft_matrix, std::optional<int> n_fft = std::nullopt,
            std::optional<int> hop_length = std::nullopt,
            std::optional<int> win_length = std::nullopt,
            const std::optional<Array>& window = std::nullopt, bool center = true,
            FFTNorm norm = FFTNorm::kBackward, std::optional<bool> onesided = std::nullopt,
            std::optional<int> length = std::nullopt);

// Rolls the zero frequency to the middle of each axis (all by default), and back.
Array fftshift(const Array& a);
Array fftshift(const Array& a, const std::vector<int>& axes);
Array ifftshift(const Array& a);
Array ifftshift(const Array& a, const std::vector<int>& axes);

}  // namespace ferry::fft

#endif  // FERRY_CLIENT_FFT_H_
