// Elementwise functions of two operands, scalar promotion and where, on the local device.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

TEST(BinaryTest, Arithmetic) {
  Array a = from_host(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Array b = from_host(std::vector<float>{4, 3, 2, 1}, {2, 2});
  EXPECT_THAT((a + b).to_vector<float>(), ElementsAre(5, 5, 5, 5));
  EXPECT_THAT((a - b).to_vector<float>(), ElementsAre(-3, -1, 1, 3));
  EXPECT_THAT((a * b).to_vector<float>(), ElementsAre(4, 6, 6, 4));
  EXPECT_THAT((a / b).to_vector<float>(), ElementsAre(0.25, 2.0f / 3, 1.5, 4));
  EXPECT_THAT(power(a, b).to_vector<float>(), ElementsAre(1, 8, 9, 4));
  EXPECT_THAT(maximum(a, b).to_vector<float>(), ElementsAre(4, 3, 3, 4));
  EXPECT_THAT(minimum(a, b).to_vector<float>(), ElementsAre(1, 2, 2, 1));
}

TEST(BinaryTest, Broadcasting) {
  Array col = from_host(std::vector<int32_t>{10, 20}, {2, 1});
  Array row = from_host(std::vector<int32_t>{1, 2, 3}, {3});
  Array sum = col + row;
  EXPECT_EQ(sum.shape(), (Shape{2, 3}));
  EXPECT_THAT(sum.to_vector<int32_t>(), ElementsAre(11, 12, 13, 21, 22, 23));
  try {
    col + from_host(std::vector<int32_t>{1, 2, 3}, {3, 1});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[add]"));
  }
}

TEST(BinaryTest, ComparisonsAndLogic) {
  Array a = from_host(std::vector<int32_t>{1, 2, 3}, {3});
  Array b = from_host(std::vector<int32_t>{3, 2, 1}, {3});
  EXPECT_EQ(less(a, b).dtype(), bool_);
  EXPECT_THAT((a < b).to_vector<bool>(), ElementsAre(true, false, false));
  EXPECT_THAT((a > b).to_vector<bool>(), ElementsAre(false, false, true));
  EXPECT_THAT((a == b).to_vector<bool>(), ElementsAre(false, true, false));
  EXPECT_THAT((a == 3).to_vector<bool>(), ElementsAre(false, false, true));
  EXPECT_THAT(((a < b) || (a == b)).to_vector<bool>(), ElementsAre(true, true, false));
  EXPECT_THAT(((a < 3) && (a > 1)).to_vector<bool>(), ElementsAre(false, true, false));
  EXPECT_THAT(logical_and(a, b).to_vector<bool>(), ElementsAre(true, true, true));
  EXPECT_THAT((a < 2 || true).to_vector<bool>(), ElementsAre(true, true, true));
}

TEST(BinaryTest, FloatScalarsTakeAFloatArraysDtype) {
  Array h = from_host(std::vector<float16_t>{float16_t(1.0f)}, {1});
  EXPECT_EQ((h + 1.5).dtype(), float16);
  EXPECT_EQ(static_cast<float>((h + 1.5).item<float16_t>()), 2.5f);
  Array d = from_host(std::vector<double>{1.0}, {1});
  EXPECT_EQ((2.0f * d).dtype(), float64);
  Array f = from_host(std::vector<float>{1.0f}, {1});
  EXPECT_EQ((f - 0.5).dtype(), float32);
  EXPECT_EQ((f - 0.5).item<float>(), 0.5f);
}

TEST(BinaryTest, FloatScalarsMakeIntegerArraysFloat32) {
  Array i = from_host(std::vector<int64_t>{3}, {1});
  EXPECT_EQ((i * 0.5).dtype(), float32);
  EXPECT_EQ((i * 0.5).item<float>(), 1.5f);
  Array b = from_host(std::vector<bool>{true}, {1});
  EXPECT_EQ((b + 0.5).dtype(), float32);
}

TEST(BinaryTest, IntegerScalarsTakeTheArraysDtype) {
  Array u = from_host(std::vector<uint8_t>{250}, {1});
  EXPECT_EQ((u + 10).dtype(), uint8);
  EXPECT_EQ((u + 10).item<uint8_t>(), 4);  // wraps, as uint8 does
  Array f = from_host(std::vector<float>{1.5f}, {1});
  EXPECT_EQ((f + 1).dtype(), float32);
  EXPECT_EQ((f + 1).item<float>(), 2.5f);
  Array b = from_host(std::vector<bool>{true}, {1});
  EXPECT_EQ((b + 1).dtype(), int32);
  EXPECT_EQ((b + 1).item<int32_t>(), 2);
}

TEST(BinaryTest, TwoNumbersKeepTheirOwnDtypes) {
  EXPECT_EQ(add(2, 3).dtype(), int32);
  EXPECT_EQ(add(2, 3).item<int32_t>(), 5);
  EXPECT_EQ(multiply(2, 0.5).dtype(), float32);
  EXPECT_EQ(add(2, 3).device(), default_device());
}

TEST(BinaryTest, ArraysPromote) {
  Array i = from_host(std::vector<int32_t>{1, 2}, {2});
  Array f = from_host(std::vector<float>{0.5f, 0.5f}, {2});
  EXPECT_EQ((i + f).dtype(), float32);
  Array u = from_host(std::vector<uint32_t>{1, 2}, {2});
  EXPECT_EQ((i + u).dtype(), int64);
  EXPECT_EQ((i / i).dtype(), float32);  // divide is floating
  EXPECT_THAT((i / 2).to_vector<float>(), ElementsAre(0.5, 1));
}

TEST(BinaryTest, EveryIntegerWidthPromotesAsMlx) {
  Array i8 = from_host(std::vector<int8_t>{-100, 50}, {2});
  Array u8 = from_host(std::vector<uint8_t>{200, 250}, {2});
  EXPECT_EQ((i8 + u8).dtype(), int16);  // the narrowest signed type holding both
  EXPECT_THAT((i8 + u8).to_vector<int16_t>(), ElementsAre(100, 300));
  EXPECT_EQ((i8 + 1).dtype(), int8);
  EXPECT_EQ((i8 * 2.5).dtype(), float32);
  Array u16 = from_host(std::vector<uint16_t>{1, 65535}, {2});
  EXPECT_EQ((u16 + i8).dtype(), int32);
  EXPECT_THAT((-u16).to_vector<uint16_t>(), ElementsAre(65535, 1));  // wraps
  Array u64 = from_host(std::vector<uint64_t>{uint64_t{1} << 40, 3}, {2});
  EXPECT_EQ((u64 + i8).dtype(), float32);  // no integer type holds both, as MLX
  EXPECT_THAT((u64 + i8).to_vector<float>(), ElementsAre(1099511627776.0f - 100, 53));
  // sum and prod widen to 32 bits; cumsum keeps the dtype and wraps.
  Array hundreds = from_host(std::vector<int8_t>{100, 100}, {2});
  EXPECT_EQ(sum(hundreds).item<int32_t>(), 200);
  EXPECT_THAT(cumsum(hundreds).to_vector<int8_t>(), ElementsAre(100, -56));
  EXPECT_EQ(prod(u16).dtype(), uint32);
  EXPECT_EQ(prod(u16).item<uint32_t>(), 65535u);
}

TEST(BinaryTest, Where) {
  Array c = from_host(std::vector<bool>{true, false, true}, {3});
  Array x = from_host(std::vector<float>{1, 2, 3}, {3});
  Array y = from_host(std::vector<float>{-1, -2, -3}, {3});
  EXPECT_THAT(where(c, x, y).to_vector<float>(), ElementsAre(1, -2, 3));
  EXPECT_THAT(where(x > 1.5f, x, 0.0f).to_vector<float>(), ElementsAre(0, 2, 3));
  EXPECT_EQ(where(c, x, 0).dtype(), float32);
  EXPECT_THAT(where(c, 1, 0).to_vector<int32_t>(), ElementsAre(1, 0, 1));
  Array col = from_host(std::vector<bool>{true, false}, {2, 1});
  EXPECT_THAT(where(col, x, y).to_vector<float>(), ElementsAre(1, 2, 3, -1, -2, -3));
}

TEST(BinaryTest, Power) {
  Array x = from_host(std::vector<float>{4, 9}, {2});
  EXPECT_THAT(power(x, 0.5).to_vector<float>(), Pointwise(FloatNear(1e-6), {2.0f, 3.0f}));
  EXPECT_THAT(power(2, from_host(std::vector<int32_t>{0, 3}, {2})).to_vector<int32_t>(),
              ElementsAre(1, 8));
}

// ---- part A -------------------------------------------------------------------------

TEST(BinaryPartATest, ComparisonsAndOperators) {
  Array a = from_host(std::vector<int32_t>{1, 2, 3}, {3});
  EXPECT_THAT((a != 2).to_vector<bool>(), ElementsAre(true, false, true));
  EXPECT_THAT((a <= 2).to_vector<bool>(), ElementsAre(true, true, false));
  EXPECT_THAT((a >= 2).to_vector<bool>(), ElementsAre(false, true, true));
  EXPECT_THAT((a % 2).to_vector<int32_t>(), ElementsAre(1, 0, 1));
  EXPECT_THAT((a & 6).to_vector<int32_t>(), ElementsAre(0, 2, 2));
  EXPECT_THAT((a | 4).to_vector<int32_t>(), ElementsAre(5, 6, 7));
  EXPECT_THAT((a ^ 3).to_vector<int32_t>(), ElementsAre(2, 1, 0));
  EXPECT_THAT((a << 2).to_vector<int32_t>(), ElementsAre(4, 8, 12));
  EXPECT_THAT((16 >> a).to_vector<int32_t>(), ElementsAre(8, 4, 2));
}

TEST(BinaryPartATest, FloorDivideRemainderBroadcastNumPySigns) {
  Array a = from_host(std::vector<int64_t>{7, -7}, {2, 1});
  Array b = from_host(std::vector<int64_t>{2, -2, 3}, {3});
  Array q = floor_divide(a, b);
  EXPECT_EQ(q.shape(), (Shape{2, 3}));
  EXPECT_THAT(q.to_vector<int64_t>(), ElementsAre(3, -4, 2, -4, 3, -3));
  EXPECT_THAT(remainder(a, b).to_vector<int64_t>(), ElementsAre(1, -1, 1, 1, -1, 2));
  Array f = from_host(std::vector<float>{-5.5f}, {1});
  EXPECT_THAT(remainder(f, 2).to_vector<float>(), ElementsAre(0.5));
  EXPECT_THAT(floor_divide(f, 2).to_vector<float>(), ElementsAre(-3));
}

TEST(BinaryPartATest, Arctan2LogaddexpAndClip) {
  Array y = from_host(std::vector<float>{1, -1}, {2});
  EXPECT_THAT(arctan2(y, -1.0f).to_vector<float>(),
              Pointwise(FloatNear(1e-6), {2.3561945f, -2.3561945f}));
  EXPECT_EQ(arctan2(from_host(std::vector<int32_t>{1}, {1}), 1).dtype(), float32);
  EXPECT_THAT(logaddexp(y, y).to_vector<float>(),
              Pointwise(FloatNear(1e-6), {1.6931472f, -0.3068528f}));
  Array x = from_host(std::vector<float>{-3, 0.5, 9}, {3});
  EXPECT_THAT(clip(x, -1.0f, 1.0f).to_vector<float>(), ElementsAre(-1, 0.5, 1));
  EXPECT_THAT(clip(x, std::nullopt, 0).to_vector<float>(), ElementsAre(-3, 0, 0));
  EXPECT_THAT(clip(x, 0, std::nullopt).to_vector<float>(), ElementsAre(0, 0.5, 9));
  Array lo = from_host(std::vector<float>{0, 1, 2}, {3});
  EXPECT_THAT(clip(x, lo, 5.0f).to_vector<float>(), ElementsAre(0, 1, 5));
  EXPECT_EQ(BuildError([&] { clip(x, std::nullopt, std::nullopt); }),
            "[clip] needs a_min, a_max or both.");
}

TEST(BinaryPartATest, BadArgumentsThrowWhereTheOpIsBuilt) {
  Array f = ones({2}, float32);
  Array i = ones({2}, int32);
  Array t = ones({2}, bool_);
  EXPECT_EQ(BuildError([&] { bitwise_and(f, i); }),
            "[bitwise_and] needs integer or bool inputs, got float32 and int32");
  EXPECT_EQ(BuildError([&] { f << 1; }),
            "[left_shift] needs integer inputs, got float32 and float32");
  EXPECT_EQ(BuildError([&] { right_shift(t, t); }),
            "[right_shift] needs integer inputs, got bool and bool");
  EXPECT_EQ(BuildError([&] { remainder(t, t); }),
            "[remainder] needs numeric (not bool) inputs, got bool and bool");
  EXPECT_EQ(BuildError([&] { not_equal(i, ones({3}, int32)); }),
            "[not_equal] shapes (2,) and (3,) cannot be broadcast together");
  EXPECT_THAT((t & t).to_vector<bool>(), ElementsAre(true, true));
}

TEST(BinaryPartATest, HalfPrecisionComputesInFloat) {
  Array h = astype(from_host(std::vector<float>{7.5f, -7.5f}, {2}), float16);
  Array r = remainder(h, 2);
  EXPECT_EQ(r.dtype(), float16);
  EXPECT_THAT(astype(r, float32).to_vector<float>(), ElementsAre(1.5, 0.5));
  Array b = astype(from_host(std::vector<float>{0, 0}, {2}), bfloat16);
  EXPECT_EQ(logaddexp(b, b).dtype(), bfloat16);
  EXPECT_THAT(astype(logaddexp(b, b), float32).to_vector<float>(),
              ElementsAre(0.69140625f, 0.69140625f));
}

}  // namespace
}  // namespace ferry
