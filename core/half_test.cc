#include "core/half.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

TEST(Float16Test, ExactValues) {
  EXPECT_EQ(Float16(1.0f).bits, 0x3c00);
  EXPECT_EQ(Float16(-2.0f).bits, 0xc000);
  EXPECT_EQ(Float16(0.5f).bits, 0x3800);
  EXPECT_EQ(Float16(65504.0f).bits, 0x7bff);               // largest finite
  EXPECT_EQ(Float16(std::ldexp(1.0f, -14)).bits, 0x0400);  // smallest normal
  EXPECT_EQ(Float16(std::ldexp(1.0f, -24)).bits, 0x0001);  // smallest subnormal
  EXPECT_EQ(Float16(1023 * std::ldexp(1.0f, -24)).bits, 0x03ff);
  EXPECT_EQ(Float16(0.0f).bits, 0x0000);
  EXPECT_EQ(Float16(-0.0f).bits, 0x8000);
}

TEST(Float16Test, ToFloat) {
  EXPECT_EQ(float(Float16::ToFloat(0x3c00)), 1.0f);
  EXPECT_EQ(Float16::ToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(Float16::ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(Float16::ToFloat(0x03ff), 1023 * std::ldexp(1.0f, -24));
  EXPECT_EQ(Float16::ToFloat(0x0400), std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::signbit(Float16::ToFloat(0x8000)));
  EXPECT_EQ(Float16::ToFloat(0x7c00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Float16::ToFloat(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Float16::ToFloat(0x7e00)));
}

TEST(Float16Test, RoundsToNearestEven) {
  const float ulp = std::ldexp(1.0f, -10);                     // spacing just above 1
  EXPECT_EQ(Float16(1.0f + ulp / 2).bits, 0x3c00);             // tie, down to even
  EXPECT_EQ(Float16(1.0f + 3 * ulp / 2).bits, 0x3c02);         // tie, up to even
  EXPECT_EQ(Float16(1.0f + ulp / 2 + ulp / 64).bits, 0x3c01);  // above the tie
  EXPECT_EQ(Float16(0.1f).bits, 0x2e66);
  // Subnormals round at 2^-24 too.
  EXPECT_EQ(Float16(std::ldexp(1.0f, -25)).bits, 0x0000);      // tie, down to even 0
  EXPECT_EQ(Float16(3 * std::ldexp(1.0f, -25)).bits, 0x0002);  // tie, up to even 2
  EXPECT_EQ(Float16(std::ldexp(1.0f, -26)).bits, 0x0000);
  EXPECT_EQ(Float16(std::ldexp(1.0f, -25) * 1.01f).bits, 0x0001);
  // The largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(Float16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)).bits, 0x0400);
}

TEST(Float16Test, OverflowAndSpecials) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Float16(65519.0f).bits, 0x7bff);  // below the tie with 65536
  EXPECT_EQ(Float16(65520.0f).bits, 0x7c00);  // the tie rounds to even: infinity
  EXPECT_EQ(Float16(1e10f).bits, 0x7c00);
  EXPECT_EQ(Float16(-1e10f).bits, 0xfc00);
  EXPECT_EQ(Float16(inf).bits, 0x7c00);
  EXPECT_EQ(Float16(-inf).bits, 0xfc00);
  EXPECT_TRUE(std::isnan(float(Float16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Float16Test, EveryValueRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = Float16::ToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(value)) continue;
    EXPECT_EQ(Float16::FromFloat(value), bits) << std::hex << bits;
  }
}

TEST(BFloat16Test, ExactValues) {
  EXPECT_EQ(BFloat16(1.0f).bits, 0x3f80);
  EXPECT_EQ(BFloat16(-2.0f).bits, 0xc000);
  EXPECT_EQ(BFloat16::ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BFloat16::ToFloat(0x0001), std::ldexp(1.0f, -133));  // subnormal
}

TEST(BFloat16Test, RoundsToNearestEven) {
  const float ulp = std::ldexp(1.0f, -7);
  EXPECT_EQ(BFloat16(1.0f + ulp / 2).bits, 0x3f80);
  EXPECT_EQ(BFloat16(1.0f + 3 * ulp / 2).bits, 0x3f82);
  EXPECT_EQ(BFloat16(1.0f + ulp / 2 + ulp / 1024).bits, 0x3f81);
  EXPECT_EQ(BFloat16(std::numeric_limits<float>::max()).bits, 0x7f80);  // to infinity
}

TEST(BFloat16Test, Specials) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(BFloat16(inf).bits, 0x7f80);
  EXPECT_EQ(BFloat16(-inf).bits, 0xff80);
  // A NaN whose payload lies only in the dropped low bits stays a NaN.
  const uint32_t quiet_low = 0x7f800001u;
  float nan;
  std::memcpy(&nan, &quiet_low, 4);
  EXPECT_TRUE(std::isnan(float(BFloat16(nan))));
}

TEST(BFloat16Test, EveryValueRoundTrips) {
  for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float value = BFloat16::ToFloat(static_cast<uint16_t>(bits));
    if (std::isnan(value)) continue;
    EXPECT_EQ(BFloat16::FromFloat(value), bits) << std::hex << bits;
  }
}

}  // namespace
}  // namespace ferry::core
