#ifndef FERRY_CORE_HALF_H_
#define FERRY_CORE_HALF_H_

#include <cstdint>
#include <cstring>

namespace ferry::core {

// IEEE 754 binary16, stored as bits; arithmetic happens in float.
struct Float16 {
  uint16_t bits = 0;

  Float16() = default;
  explicit Float16(float value) : bits(FromFloat(value)) {}
  operator float() const { return ToFloat(bits); }

  static uint16_t FromFloat(float value) {
    uint32_t f;
    std::memcpy(&f, &value, 4);
    const uint32_t sign = (f >> 16) & 0x8000u;
    const uint32_t abs = f & 0x7fffffffu;
    if (abs >= 0x7f800000u) {  // inf or nan
      return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    }
    if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow
    if (abs < 0x38800000u) {  // subnormal or zero in half: round at 2^-24 granularity
      if (abs < 0x33000000u) return static_cast<uint16_t>(sign);
      const uint32_t exp = abs >> 23;
      const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
      const uint32_t shift = 126 - exp;  // 14 + (127 - exp) - 1 - ... aligned to 2^-24
      uint32_t half_mant = mant >> shift;
      const uint32_t rem = mant & ((1u << shift) - 1);
      const uint32_t halfway = 1u << (shift - 1);
      if (rem > halfway || (rem == halfway && (half_mant & 1u))) ++half_mant;
      return static_cast<uint16_t>(sign | half_mant);
    }
    uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);  // round to nearest even
    return static_cast<uint16_t>(sign | ((rounded - 0x38000000u) >> 13));
  }

  static float ToFloat(uint16_t h) {
    const uint32_t sign = (h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t f;
    if (exp == 0) {
      if (mant == 0) {
        f = sign;
      } else {  // subnormal: normalise
        int e = -1;
        do {
          ++e;
          mant <<= 1;
        } while ((mant & 0x400u) == 0);
        f = sign | ((127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
      }
    } else if (exp == 0x1f) {
      f = sign | 0x7f800000u | (mant << 13);
    } else {
      f = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float value;
    std::memcpy(&value, &f, 4);
    return value;
  }
};

// bfloat16: the top half of a float32, rounded to nearest even.
struct BFloat16 {
  uint16_t bits = 0;

  BFloat16() = default;
  explicit BFloat16(float value) : bits(FromFloat(value)) {}
  operator float() const { return ToFloat(bits); }

  static uint16_t FromFloat(float value) {
    uint32_t f;
    std::memcpy(&f, &value, 4);
    if ((f & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((f >> 16) | 0x40u);
    f += 0x7fffu + ((f >> 16) & 1u);
    return static_cast<uint16_t>(f >> 16);
  }

  static float ToFloat(uint16_t b) {
    const uint32_t f = static_cast<uint32_t>(b) << 16;
    float value;
    std::memcpy(&value, &f, 4);
    return value;
  }
};

static_assert(sizeof(Float16) == 2 && sizeof(BFloat16) == 2);

}  // namespace ferry::core

#endif  // FERRY_CORE_HALF_H_
