#ifndef FERRY_CORE_PHILOX_H_
#define FERRY_CORE_PHILOX_H_

// Counter-based random numbers shared by every backend, so that a graph draws the same
// numbers on the CPU and on a GPU. Header only; usable from CUDA device code.
//
// The generator is Philox 4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011), exactly as Random123's philox4x32(): multipliers
// 0xD2511F53 and 0xCD9E8D57, key bumps 0x9E3779B9 and 0xBB67AE85, 10 rounds.
//
// How the random ops use it (a backend must follow this to the letter):
//   * The key input is a uint32 tensor of shape (2,), as MLX's keys: key[0] is the high
//     word and key[1] the low word of a 64-bit key. The Philox key is
//     {k0 = key[1], k1 = key[0]}.
//   * Element i (row-major index into the output, as uint64) draws one block with the
//     counter {c0 = low 32 bits of i, c1 = high 32 bits of i, c2 = 0, c3 = 0}; the block's
//     output words are w0..w3.
//   * random_uniform: u = (w0 >> 8) * 2^-24, a float exactly representable in [0, 1);
//     the value is low + (high - low) * u computed in double (PhiloxUniform), then
//     rounded to the output dtype (float16 and bfloat16: to float32, then to 16 bits).
//     When low < high and the rounded value is not below high, it is replaced by the
//     largest value of the output dtype below high, so samples stay in [low, high).
//   * random_normal: u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1] (never 0, so the log is
//     finite), u2 = (w1 >> 8) * 2^-24 in [0, 1), z = sqrt(-2 ln u1) * cos(2 pi u2)
//     (Box-Muller, computed in double), and the value is loc + scale * z computed in
//     double (PhiloxNormal), then rounded to the output dtype as above.
// The words and u values are exact on every backend; the double-precision log/cos agree
// across math libraries to far below float rounding.

#include <math.h>
#include <stdint.h>

#include "core/host_device.h"

namespace ferry::core {

struct PhiloxCounter {
  uint32_t v[4];
};

struct PhiloxKey {
  uint32_t v[2];
};

inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
inline constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
inline constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;
inline constexpr int kPhiloxRounds = 10;

FERRY_HOST_DEVICE inline PhiloxCounter PhiloxRound(PhiloxCounter c, PhiloxKey k) {
  const uint64_t p0 = static_cast<uint64_t>(kPhiloxM0) * c.v[0];
  const uint64_t p1 = static_cast<uint64_t>(kPhiloxM1) * c.v[2];
  const uint32_t hi0 = static_cast<uint32_t>(p0 >> 32), lo0 = static_cast<uint32_t>(p0);
  const uint32_t hi1 = static_cast<uint32_t>(p1 >> 32), lo1 = static_cast<uint32_t>(p1);
  PhiloxCounter out;
  out.v[0] = hi1 ^ c.v[1] ^ k.v[0];
  out.v[1] = lo1;
  out.v[2] = hi0 ^ c.v[3] ^ k.v[1];
  out.v[3] = lo0;
  return out;
}

// Philox 4x32-10 of one counter under one key: the four output words.
FERRY_HOST_DEVICE inline PhiloxCounter Philox4x32(PhiloxCounter counter, PhiloxKey key) {
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      key.v[0] += kPhiloxW0;
      key.v[1] += kPhiloxW1;
    }
    counter = PhiloxRound(counter, key);
  }
  return counter;
}

// The Philox key of a uint32 (2,) key tensor's words (key[0] high, key[1] low).
FERRY_HOST_DEVICE inline PhiloxKey PhiloxKeyFromWords(uint32_t key_high, uint32_t key_low) {
  return PhiloxKey{{key_low, key_high}};
}

// The block that element `index` of a random op's output draws.
FERRY_HOST_DEVICE inline PhiloxCounter PhiloxBlock(uint64_t index, PhiloxKey key) {
  const PhiloxCounter counter{
      {static_cast<uint32_t>(index), static_cast<uint32_t>(index >> 32), 0u, 0u}};
  return Philox4x32(counter, key);
}

// (w >> 8) * 2^-24: the top 24 bits of a word as a float in [0, 1), exactly.
FERRY_HOST_DEVICE inline float PhiloxUnitFloat(uint32_t word) {
  return static_cast<float>(word >> 8) * 5.9604644775390625e-08f;  // 2^-24
}

// Element `index` of random_uniform(low, high), before rounding to the output dtype.
FERRY_HOST_DEVICE inline double PhiloxUniform(uint64_t index, PhiloxKey key, double low,
                                              double high) {
  const PhiloxCounter w = PhiloxBlock(index, key);
  return low + (high - low) * static_cast<double>(PhiloxUnitFloat(w.v[0]));
}

// Element `index` of random_normal(loc, scale), before rounding to the output dtype.
FERRY_HOST_DEVICE inline double PhiloxNormal(uint64_t index, PhiloxKey key, double loc,
                                             double scale) {
  const PhiloxCounter w = PhiloxBlock(index, key);
  const double u1 = static_cast<double>((w.v[0] >> 8) + 1u) * 5.9604644775390625e-08;
  const double u2 = static_cast<double>(PhiloxUnitFloat(w.v[1]));
  const double two_pi = 6.283185307179586476925286766559;
  const double z = ::sqrt(-2.0 * ::log(u1)) * ::cos(two_pi * u2);  // ::, as in CUDA device code
  return loc + scale * z;
}

}  // namespace ferry::core

#endif  // FERRY_CORE_PHILOX_H_
