// fft: the DFT along one axis as kernels/fft_plan.h describes, in float: every line
// gathered into a contiguous scratch buffer (rfft's real input as complex, irfft's
// Hermitian spectrum rebuilt), one launch per Stockham pass with a thread per butterfly
// (radices 2, 3, 4, 5 and 7 unrolled in registers, a larger prime looping), and the lines
// written back, scaled by 1/n for the inverse (irfft keeps the real parts). Bluestein's
// algorithm gathers each line times the chirp into m points, adds the chirp's kernel as one
// more line, transforms them all, multiplies each line by the kernel's spectrum, transforms
// the lines back and scatters them times the chirp.

#include <utility>

#include "kernels/cuda/complex.cuh"
#include "kernels/cuda/device.cuh"
#include "kernels/fft_plan.h"

namespace ferry::kernels::cuda {
namespace {

// The chirp c[t] = w(t^2 / 2, n) of Bluestein's algorithm (fft_plan.h).
__device__ __forceinline__ Complex64 Chirp(int64_t t, int64_t n, float sign) {
  return Twiddle(FftChirpTurn(t, n), 2 * n, sign);
}

// a[line * stride + t] = element t of line (o, i) for t < n (times c[t] for Bluestein), with
// g walking x's order (o, t, i).
template <bool kRealInput>
__global__ void GatherKernel(const void* x, Complex64* a, FftProblem p, int64_t stride,
                             bool chirp, float sign) {
  FERRY_GRID_LOOP(g, p.outer * p.n * p.inner) {
    const int64_t i = g % p.inner, rest = g / p.inner;
    const int64_t t = rest % p.n, o = rest / p.n;
    const int64_t base = o * p.in_dim * p.inner + i;
    Complex64 value;
    if constexpr (kRealInput) {
      value = Complex64(static_cast<const float*>(x)[base + t * p.inner], 0.0f);
    } else {
      // irfft: the bins past in_dim mirror those below (c2c: in_dim is n).
      const auto* z = static_cast<const Complex64*>(x);
      value = t < p.in_dim ? z[base + t * p.inner] : Conj(z[base + (p.n - t) * p.inner]);
    }
    a[(o * p.inner + i) * stride + t] = chirp ? value * Chirp(t, p.n, sign) : value;
  }
}

// Bluestein's m-point lines: the `lines` data lines zero past n, and line `lines` the
// kernel conj(c) wrapped around (at t and m - t for t < n), zero between.
__global__ void BluesteinPadKernel(Complex64* a, int64_t lines, int64_t n, int64_t m, float sign) {
  FERRY_GRID_LOOP(g, (lines + 1) * m) {
    const int64_t line = g / m, t = g - line * m;
    if (line < lines) {
      if (t >= n) a[g] = Complex64(0.0f, 0.0f);
    } else if (t < n) {
      a[g] = Conj(Chirp(t, n, sign));
    } else if (m - t < n) {
      a[g] = Conj(Chirp(m - t, n, sign));
    } else {
      a[g] = Complex64(0.0f, 0.0f);
    }
  }
}

// Each of the `lines` lines of m times line `lines` (the kernel's spectrum), elementwise.
__global__ void BluesteinProductKernel(Complex64* a, int64_t lines, int64_t m) {
  FERRY_GRID_LOOP(g, lines * m) { a[g] = a[g] * a[lines * m + g % m]; }
}

// exp(sign 2 pi i t / R) for R = 3, 5 or 7 and a t known once the loops are unrolled:
// from cos and sin of 2 pi u / R for u <= R / 2.
template <int R>
__device__ __forceinline__ Complex64 Root(int t, float sign) {
  const bool upper = 2 * t > R;
  const int u = upper ? R - t : t;
  float c, s;
  if constexpr (R == 3) {
    constexpr float kCos[] = {1.0f, -0.5f};
    constexpr float kSin[] = {0.0f, 0.866025403784438646764f};
    c = kCos[u], s = kSin[u];
  } else if constexpr (R == 5) {
    constexpr float kCos[] = {1.0f, 0.309016994374947424102f, -0.809016994374947424102f};
    constexpr float kSin[] = {0.0f, 0.951056516295153572116f, 0.587785252292473129169f};
    c = kCos[u], s = kSin[u];
  } else {
    static_assert(R == 7);
    constexpr float kCos[] = {1.0f, 0.623489801858733530525f, -0.222520933956314404289f,
                              -0.900968867902419126236f};
    constexpr float kSin[] = {0.0f, 0.781831482468029808708f, 0.974927912181823607018f,
                              0.433883739117558120475f};
    c = kCos[u], s = kSin[u];
  }
  return {c, (upper ? -sign : sign) * s};
}

// sign i z.
__device__ __forceinline__ Complex64 TimesI(Complex64 z, float sign) {
  return {-sign * z.im, sign * z.re};
}

// v = the R-point DFT of v, in registers.
template <int R>
__device__ __forceinline__ void SmallDft(Complex64 (&v)[R], float sign) {
  if constexpr (R == 2) {
    const Complex64 v0 = v[0];
    v[0] = v0 + v[1];
    v[1] = v0 - v[1];
  } else if constexpr (R == 4) {
    const Complex64 even_sum = v[0] + v[2], even_diff = v[0] - v[2];
    const Complex64 odd_sum = v[1] + v[3], odd_diff = TimesI(v[1] - v[3], sign);
    v[0] = even_sum + odd_sum;
    v[1] = even_diff + odd_diff;
    v[2] = even_sum - odd_sum;
    v[3] = even_diff - odd_diff;
  } else {
    Complex64 out[R];
#pragma unroll
    for (int q = 0; q < R; ++q) {
      Complex64 sum = v[0];
#pragma unroll
      for (int r = 1; r < R; ++r) sum = sum + v[r] * Root<R>(r * q % R, sign);
      out[q] = sum;
    }
#pragma unroll
    for (int q = 0; q < R; ++q) v[q] = out[q];
  }
}

// One pass of radix R over `lines` lines of n (fft_plan.h), s the product of the earlier
// radices: a thread per butterfly j < n / R of each line. kR is R, or 0 for a larger prime
// `radix`, whose R outputs each sum R inputs, each input's twiddle and root folded into
// one: w(r k, s R) w(r q, R) = w(r (k + q s), s R).
template <int kR>
__global__ void PassKernel(const Complex64* in, Complex64* out, int64_t lines, int64_t n, int64_t s,
                           int64_t radix, float sign) {
  const int64_t R = kR > 0 ? kR : radix;
  const int64_t m = n / R, turn = s * R;
  FERRY_GRID_LOOP(g, lines * m) {
    const int64_t line = g / m, j = g - line * m;
    const int64_t k = j % s;
    const Complex64* x = in + line * n + j;
    Complex64* y = out + line * n + (j - k) * R + k;
    if constexpr (kR > 0) {
      Complex64 v[kR];
      v[0] = x[0];
#pragma unroll
      for (int r = 1; r < kR; ++r) v[r] = x[r * m] * Twiddle(r * k, turn, sign);
      SmallDft<kR>(v, sign);
#pragma unroll
      for (int q = 0; q < kR; ++q) y[q * s] = v[q];
    } else {
      for (int64_t q = 0; q < R; ++q) {
        const int64_t step = k + q * s;  // below s R
        Complex64 sum(0.0f, 0.0f);
        int64_t a = 0;  // r step mod s R
        for (int64_t r = 0; r < R; ++r) {
          sum = sum + x[r * m] * Twiddle(a, turn, sign);
          a += step;
          if (a >= turn) a -= turn;
        }
        y[q * s] = sum;
      }
    }
  }
}

// y's element (o, t, i) = line (o, i)'s element t of a (times c[t] for Bluestein), times
// scale; irfft keeps the real part. g walks y's order.
template <bool kRealOutput>
__global__ void ScatterKernel(const Complex64* a, void* y, FftProblem p, int64_t stride,
                              bool chirp, float sign, float scale) {
  FERRY_GRID_LOOP(g, p.outer * p.out_dim * p.inner) {
    const int64_t i = g % p.inner, rest = g / p.inner;
    const int64_t t = rest % p.out_dim, o = rest / p.out_dim;
    Complex64 value = a[(o * p.inner + i) * stride + t];
    if (chirp) value = value * Chirp(t, p.n, sign);
    if constexpr (kRealOutput) {
      static_cast<float*>(y)[g] = value.re * scale;
    } else {
      static_cast<Complex64*>(y)[g] = value * scale;
    }
  }
}

template <int kR>
cudaError_t LaunchPass(const Complex64* in, Complex64* out, int64_t lines, int64_t n, int64_t s,
                       int64_t radix, float sign, cudaStream_t stream) {
  PassKernel<kR>
      <<<GridFor(lines * (n / radix)), kThreads, 0, stream>>>(in, out, lines, n, s, radix, sign);
  return cudaGetLastError();
}

// n's Stockham passes over `lines` lines in a (b the other buffer); *result is whichever
// holds the transform.
cudaError_t RunPasses(Complex64* a, Complex64* b, int64_t lines, int64_t n, float sign,
                      cudaStream_t stream, Complex64** result) {
  int64_t s = 1;
  for (int64_t radix : FftRadices(n)) {
    cudaError_t error;
    switch (radix) {
      case 2:
        error = LaunchPass<2>(a, b, lines, n, s, radix, sign, stream);
        break;
      case 3:
        error = LaunchPass<3>(a, b, lines, n, s, radix, sign, stream);
        break;
      case 4:
        error = LaunchPass<4>(a, b, lines, n, s, radix, sign, stream);
        break;
      case 5:
        error = LaunchPass<5>(a, b, lines, n, s, radix, sign, stream);
        break;
      case 7:
        error = LaunchPass<7>(a, b, lines, n, s, radix, sign, stream);
        break;
      default:
        error = LaunchPass<0>(a, b, lines, n, s, radix, sign, stream);
    }
    if (error != cudaSuccess) return error;
    std::swap(a, b);
    s *= radix;
  }
  *result = a;
  return cudaSuccess;
}

}  // namespace

int64_t FftScratchElements(const FftProblem& p) {
  const int64_t lines = p.outer * p.inner, m = FftBluesteinLength(p.n);
  return m > 0 ? (lines + 1) * m : lines * p.n;
}

cudaError_t LaunchFft(const FftProblem& p, const void* x, void* y, void* a_scratch, void* b_scratch,
                      cudaStream_t stream) {
  const int64_t lines = p.outer * p.inner;
  if (lines == 0) return cudaSuccess;
  auto* a = static_cast<Complex64*>(a_scratch);
  auto* b = static_cast<Complex64*>(b_scratch);
  const float sign = p.inverse ? 1.0f : -1.0f;
  const int64_t m = FftBluesteinLength(p.n), stride = m > 0 ? m : p.n;
  const bool chirp = m > 0;
  const int64_t elements = lines * p.n;
  if (p.real && !p.inverse) {
    GatherKernel<true><<<GridFor(elements), kThreads, 0, stream>>>(x, a, p, stride, chirp, sign);
  } else {
    GatherKernel<false><<<GridFor(elements), kThreads, 0, stream>>>(x, a, p, stride, chirp, sign);
  }
  if (cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
  Complex64* result = nullptr;
  double scale = p.inverse ? 1.0 / static_cast<double>(p.n) : 1.0;
  if (m > 0) {
    BluesteinPadKernel<<<GridFor((lines + 1) * m), kThreads, 0, stream>>>(a, lines, p.n, m, sign);
    if (cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
    Complex64* spectrum = nullptr;
    if (cudaError_t error = RunPasses(a, b, lines + 1, m, -1.0f, stream, &spectrum);
        error != cudaSuccess) {
      return error;
    }
    BluesteinProductKernel<<<GridFor(lines * m), kThreads, 0, stream>>>(spectrum, lines, m);
    if (cudaError_t error = cudaGetLastError(); error != cudaSuccess) return error;
    Complex64* other = spectrum == a ? b : a;
    if (cudaError_t error = RunPasses(spectrum, other, lines, m, 1.0f, stream, &result);
        error != cudaSuccess) {
      return error;
    }
    scale /= static_cast<double>(m);
  } else if (cudaError_t error = RunPasses(a, b, lines, p.n, sign, stream, &result);
             error != cudaSuccess) {
    return error;
  }
  const int64_t outputs = p.outer * p.out_dim * p.inner;
  const float scale_f = static_cast<float>(scale);
  if (p.real && p.inverse) {
    ScatterKernel<true>
        <<<GridFor(outputs), kThreads, 0, stream>>>(result, y, p, stride, chirp, sign, scale_f);
  } else {
    ScatterKernel<false>
        <<<GridFor(outputs), kThreads, 0, stream>>>(result, y, p, stride, chirp, sign, scale_f);
  }
  return cudaGetLastError();
}

}  // namespace ferry::kernels::cuda
