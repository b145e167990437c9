#ifndef FERRY_KERNELS_CPU_FLOAT_MATH_H_
#define FERRY_KERNELS_CPU_FLOAT_MATH_H_

// exp and tanh of float32 in a form compilers vectorize: straight-line arithmetic, selects
// rather than branches, no calls and no tables. The C library's expf and tanhf are calls per
// element (tanhf 10 ns here, most of a CPU training step of an MLP with tanh layers); these
// run in the kernels' vector loops, exp within 1 ulp of the exact value and tanh within 1.5
// (float_math_test).
//
// The CPU kernels of exp, tanh, sigmoid and softmax call these for float (float16 and
// bfloat16 compute in float), and so do fused groups and their tile program: fused and
// unfused results agree bit for bit. The files that call them build with -ffp-contract=off
// (exact_float_kernels in BUILD): no build fuses a multiply and an add into an FMA, which
// only some instruction sets have, so every build of a loop gives the same bits.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ferry::kernels::cpu {

inline float FloatFromBits(int32_t bits) {
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
inline float ExpF32(float x) {
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
inline float TanhF32(float x) {
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

// exp and tanh in a kernel's compute type: the functions above for float, the C library's
// otherwise (double, complex).
template <typename C>
C ExpOf(C x) {
  if constexpr (std::is_same_v<C, float>) {
    return ExpF32(x);
  } else {
    return std::exp(x);
  }
}

template <typename C>
C TanhOf(C x) {
  if constexpr (std::is_same_v<C, float>) {
    return TanhF32(x);
  } else {
    return std::tanh(x);
  }
}

}  // namespace ferry::kernels::cpu

#endif  // FERRY_KERNELS_CPU_FLOAT_MATH_H_
