#ifndef FERRY_KERNELS_CPU_FLOAT_MATH_H_
#define FERRY_KERNELS_CPU_FLOAT_MATH_H_

// exp, tanh, log, erf, gelu, sin and cos of float32 in a form compilers vectorize: straight-line
// arithmetic, selects rather than branches, no calls and no tables. The C library's are calls
// per element (tanhf and erff 10 to 12 ns here: most of a CPU training step of an MLP with
// tanh or gelu layers); these run in the kernels' vector loops, within the ulps of the exact
// value float_math_test states: exp 1, log 1, sin 1, cos 1, erf 1.5, tanh 1.5, gelu 6.
//
// The CPU kernels of these ops, sigmoid and softmax call them for float (float16 and
// bfloat16 compute in float), and so do fused groups and their tile program: fused and
// unfused results agree bit for bit. The files that call them build with -ffp-contract=off
// (exact_float_kernels in BUILD): no build fuses a multiply and an add into an FMA, which
// only some instruction sets have, so every build of a loop gives the same bits.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

// Inlined into every loop that calls them whatever their size: a call per element would
// keep the loop from vectorizing.
#define FERRY_MATH_INLINE inline __attribute__((always_inline))

namespace ferry::kernels::cpu {

FERRY_MATH_INLINE float FloatFromBits(int32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

inline int32_t BitsOfFloat(float value) {
  int32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

// e^x. x = n ln2 + r with |r| <= ln2 / 2; e^r by Cephes' expf polynomial; 2^n applied in
// two halves, so a result near overflow or in the subnormals is rounded once.
FERRY_MATH_INLINE float ExpF32(float x) {
  // e^x is inf past the first bound and 0 past the second; clamping keeps n in range (and
  // leaves NaN, which compares false, as it is).
  x = x > 88.8f ? 88.8f : x;
  x = x < -104.0f ? -104.0f : x;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float shifted = x * 1.44269504088896341f + kRound;
  const float n = shifted - kRound;
  const int32_t k = BitsOfFloat(shifted) - BitsOfFloat(kRound);  // n, as an integer
  // ln2 in two parts; n times the first is exact.
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float er = p * (r * r) + r + 1.0f;
  // Unsigned shifts: a NaN's k is any number, and its result NaN whatever they give.
  const int32_t half = k >> 1;
  const auto power = [](int32_t e) {
    return FloatFromBits(static_cast<int32_t>(static_cast<uint32_t>(e + 127) << 23));
  };
  return er * power(half) * power(k - half);
}

// tanh x, with x's sign (tanh -0 is -0). Below 0.625 Cephes' tanhf polynomial, which has no
// cancellation near 0; above, 1 - 2 / (e^2|x| + 1), which reaches 1 and stays there.
FERRY_MATH_INLINE float TanhF32(float x) {
  const int32_t sign = BitsOfFloat(x) & INT32_MIN;
  const float a = FloatFromBits(BitsOfFloat(x) & INT32_MAX);
  const float z = a * a;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float near_zero = p * z * a + a;
  const float far = 1.0f - 2.0f / (ExpF32(a + a) + 1.0f);
  return FloatFromBits(BitsOfFloat(a < 0.625f ? near_zero : far) | sign);
}

// log x: NaN below 0, -inf at 0. x = 2^n m with m in [sqrt(1/2), sqrt(2)); log m = log(1 + f)
// by Cephes' logf polynomial, n ln2 added in two parts as in ExpF32.
FERRY_MATH_INLINE float LogF32(float x) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  // Subnormals are scaled by 2^23 into the normals first.
  const bool subnormal = x < std::numeric_limits<float>::min();
  const float normal = subnormal ? x * 8388608.0f : x;
  constexpr int32_t kSqrtHalf = 0x3f3504f3;  // the bits of sqrt(1/2)
  // In unsigned arithmetic: a negative x's bits would overflow (its result is NaN anyway).
  const int32_t offset = static_cast<int32_t>(static_cast<uint32_t>(BitsOfFloat(normal)) -
                                              static_cast<uint32_t>(kSqrtHalf));
  const float n = static_cast<float>((offset >> 23) - (subnormal ? 23 : 0));
  const float f = FloatFromBits((offset & 0x007fffff) + kSqrtHalf) - 1.0f;
  const float z = f * f;
  float p = 7.0376836292e-2f;
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  const float small = (f * (z * p) + n * -2.12194440e-4f) - 0.5f * z;
  float log = (f + small) + n * 0.693359375f;
  log = x == kInf ? kInf : log;
  log = x == 0.0f ? -kInf : log;
  log = x < 0.0f ? std::numeric_limits<float>::quiet_NaN() : log;
  return x != x ? x : log;
}

// e^(-s x^2) for s = 1 or 1/2. x^2 is split into a part that is exact in float and a small
// rest, each exponentiated: e^-(x^2) rounded would be 40 ulps off by x = 9.
FERRY_MATH_INLINE float ExpOfMinusSquare(float x, float s) {
  // Past 20 the result is 0 either way; clamping keeps infinities out of the split.
  x = x > 20.0f ? 20.0f : x;
  x = x < -20.0f ? -20.0f : x;
  const float high = FloatFromBits(BitsOfFloat(x) & ~int32_t{0xfff});  // 12 bits: high^2 exact
  const float low = x - high;
  return ExpF32(-(s * (high * high))) * ExpF32(-(s * (low * (x + high))));
}

// erfc a for a >= 1 (and NaN), given e = e^(-a^2): e times erfcx a, fitted in r = 1/a by
// polynomials of relative error under 0.3 ulp: in r on [1, 2), r P(r^2) from 2 on.
FERRY_MATH_INLINE float ErfcTail(float a, float e) {
  const float r = 1.0f / a;
  float near = -1.7990421504e-02f;
  near = near * r + 1.1960796267e-01f;
  near = near * r - 3.4789544344e-01f;
  near = near * r + 5.6345897913e-01f;
  near = near * r - 4.9386045337e-01f;
  near = near * r + 4.4609148055e-02f;
  near = near * r + 5.5950129032e-01f;
  near = near * r + 1.5252562298e-04f;
  const float v = r * r;
  float far = -9.7192373276e+00f;
  far = far * v + 1.2254821777e+01f;
  far = far * v - 7.2186799049e+00f;
  far = far * v + 2.8664846420e+00f;
  far = far * v - 1.0094208717e+00f;
  far = far * v + 4.2151531577e-01f;
  far = far * v - 2.8206795454e-01f;
  far = far * v + 5.6418943405e-01f;
  return e * (a < 2.0f ? near : far * r);
}

// erf x - x for |x| < 1: x Q(x^2), a fitted polynomial whose constant is 2/sqrt(pi) - 1, so
// that erf's leading term x is added exactly.
FERRY_MATH_INLINE float ErfNearZeroMinusX(float x) {
  const float z = x * x;
  float q = 7.8538912931e-05f;
  q = q * z - 8.0102036009e-04f;
  q = q * z + 5.1883291453e-03f;
  q = q * z - 2.6853812858e-02f;
  q = q * z + 1.1283585429e-01f;
  q = q * z - 3.7612625957e-01f;
  q = q * z + 1.2837916709551257e-01f;
  return x * q;
}

// erf x: 1 - erfc |x|, with x's sign, from 1 on. erfc is under 0.16 there, so e^-(x^2)
// rounded is close enough. A NaN comes back as it came (the arithmetic would flip signs).
FERRY_MATH_INLINE float ErfF32(float x) {
  const int32_t sign = BitsOfFloat(x) & INT32_MIN;
  const float a = FloatFromBits(BitsOfFloat(x) & INT32_MAX);
  const float tail_at = a < 1.0f ? 1.0f : a;
  const float far = 1.0f - ErfcTail(tail_at, ExpF32(-(tail_at * tail_at)));
  const float erf = a < 1.0f ? x + ErfNearZeroMinusX(x) : FloatFromBits(BitsOfFloat(far) | sign);
  return x != x ? x : erf;
}

// gelu x = x/2 (1 + erf z), z = x / sqrt 2 (MLX's nn.gelu, the exact form). Past |z| = 1 the
// sum is 2 - erfc z or, below, erfc -z without cancelling: 1 + erf z in float would lose
// every digit by x = -6. e^(-z^2) comes from x^2 / 2, exact, not from z rounded; nearer 0,
// (1 + z) + (erf z - z) has only the last addition's rounding to cancel.
FERRY_MATH_INLINE float GeluF32(float x) {
  const float z = x * 0.70710678118654752440f;
  const float a = FloatFromBits(BitsOfFloat(z) & INT32_MAX);
  const float tail = ErfcTail(a < 1.0f ? 1.0f : a, ExpOfMinusSquare(x, 0.5f));
  const float sum = a < 1.0f ? (1.0f + z) + ErfNearZeroMinusX(z) : z < 0.0f ? tail : 2.0f - tail;
  const float gelu = 0.5f * x * sum;
  return x != x ? x : gelu;
}

// sin x and cos x for |x| < kTrigNearLimit (`quarter` 0 and 1), in double: x = j pi/2 + r
// with |r| <= pi/4, pi/2 in three parts (Cody and Waite) of which the first two hold 30
// bits, so j pi/2's products are exact for j < 2^23 and r keeps every bit a float needs
// even when x lies close to a multiple of pi/2; then the Taylor polynomials of sin r or
// cos r (quarter j + quarter), their error under 1e-11, rounded once to float: within 1 ulp,
// nearly always correctly rounded. Rotary embeddings' angles (position times frequency) run
// to 1e5 and past, where float's own reduction loses every digit.
inline constexpr float kTrigNearLimit = 1.3e7f;  // j < 2^23

FERRY_MATH_INLINE float SinCosNear(float x, int32_t quarter) {
  constexpr double kTwoOverPi = 0.63661977236758134308;
  constexpr double kHalfPi1 = 0x1.921fb54p+0;
  constexpr double kHalfPi2 = 0x1.10b46118p-30;
  constexpr double kHalfPi3 = 0x1.313198a2e037p-61;
  constexpr double kRound = 0x1.8p52;  // adding it rounds to an integer, ties to even
  const double xd = x;
  const double jd = (xd * kTwoOverPi + kRound) - kRound;
  const double r = ((xd - jd * kHalfPi1) - jd * kHalfPi2) - jd * kHalfPi3;
  const double z = r * r;
  // r (1 + z P(z)): in double the sum's rounding is far below float's, and -0 stays -0.
  const double sin_r =
      r * (1.0 +
           z * (-1.0 / 6 +
                z * (1.0 / 120 + z * (-1.0 / 5040 + z * (1.0 / 362880 + z * (-1.0 / 39916800))))));
  const double cos_r =
      1.0 +
      z * (-0.5 +
           z * (1.0 / 24 + z * (-1.0 / 720 +
                                z * (1.0 / 40320 + z * (-1.0 / 3628800 + z * (1.0 / 479001600))))));
  const int32_t q = static_cast<int32_t>(jd) + quarter;
  const double value = (q & 1) != 0 ? cos_r : sin_r;
  return static_cast<float>((q & 2) != 0 ? -value : value);
}

// Any float: the C library's beyond the limit (and for inf and NaN).
FERRY_MATH_INLINE float SinF32(float x) {
  return std::fabs(x) < kTrigNearLimit ? SinCosNear(x, 0) : std::sin(x);
}
FERRY_MATH_INLINE float CosF32(float x) {
  return std::fabs(x) < kTrigNearLimit ? SinCosNear(x, 1) : std::cos(x);
}

// sin (`quarter` 0) or cos (1) of x[0, n) into y, which may be x: the vector loop when every
// argument is in SinCosNear's range (checked before anything is written), else SinF32's or
// CosF32's branch per element; the same bits either way. Kernels call it on blocks, so one
// huge argument keeps only its own block scalar.
FERRY_MATH_INLINE void SinOrCosOfBlock(const float* x, float* y, int64_t n, int32_t quarter) {
  int32_t far = 0;
  for (int64_t i = 0; i < n; ++i) far |= !(std::fabs(x[i]) < kTrigNearLimit);
  if (far == 0) {
    for (int64_t i = 0; i < n; ++i) y[i] = SinCosNear(x[i], quarter);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = quarter == 0 ? SinF32(x[i]) : CosF32(x[i]);
  }
}

// The functions in a kernel's compute type: the ones above for float, the C library's
// otherwise (double, complex).
#define FERRY_IN_COMPUTE_TYPE(Name, float_function, otherwise) \
  template <typename C>                                        \
  FERRY_MATH_INLINE C Name(C x) {                              \
    if constexpr (std::is_same_v<C, float>) {                  \
      return float_function(x);                                \
    } else {                                                   \
      return otherwise;                                        \
    }                                                          \
  }

FERRY_IN_COMPUTE_TYPE(ExpOf, ExpF32, std::exp(x))
FERRY_IN_COMPUTE_TYPE(TanhOf, TanhF32, std::tanh(x))
FERRY_IN_COMPUTE_TYPE(LogOf, LogF32, std::log(x))
FERRY_IN_COMPUTE_TYPE(ErfOf, ErfF32, std::erf(x))
FERRY_IN_COMPUTE_TYPE(SinOf, SinF32, std::sin(x))
FERRY_IN_COMPUTE_TYPE(CosOf, CosF32, std::cos(x))
FERRY_IN_COMPUTE_TYPE(GeluOf, GeluF32, C(0.5) * x * std::erfc(x * C(-0.70710678118654752440)))

#undef FERRY_IN_COMPUTE_TYPE

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_FLOAT_MATH_H_
