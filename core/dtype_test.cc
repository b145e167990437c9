#include "core/dtype.h"

#include <iterator>
#include <string>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

constexpr DType b = DType::kBool, u8 = DType::kUInt8, u16 = DType::kUInt16, u32 = DType::kUInt32,
                u64 = DType::kUInt64, i8 = DType::kInt8, i16 = DType::kInt16, i32 = DType::kInt32,
                i64 = DType::kInt64, f16 = DType::kFloat16, bf16 = DType::kBFloat16,
                f32 = DType::kFloat32, f64 = DType::kFloat64, c64 = DType::kComplex64;

TEST(DTypeTest, PromotionTableFollowsMlx) {
  // Rows and columns in kAllDTypes order; the table is MLX 0.32's, printed by adding arrays.
  // clang-format off
  const DType expected[14][14] = {
      {b, u8, u16, u32, u64, i8, i16, i32, i64, f16, bf16, f32, f64, c64},
      {u8, u8, u16, u32, u64, i16, i16, i32, i64, f16, bf16, f32, f64, c64},
      {u16, u16, u16, u32, u64, i32, i32, i32, i64, f16, bf16, f32, f64, c64},
      {u32, u32, u32, u32, u64, i64, i64, i64, i64, f16, bf16, f32, f64, c64},
      {u64, u64, u64, u64, u64, f32, f32, f32, f32, f16, bf16, f32, f64, c64},
      {i8, i16, i32, i64, f32, i8, i16, i32, i64, f16, bf16, f32, f64, c64},
      {i16, i16, i32, i64, f32, i16, i16, i32, i64, f16, bf16, f32, f64, c64},
      {i32, i32, i32, i64, f32, i32, i32, i32, i64, f16, bf16, f32, f64, c64},
      {i64, i64, i64, i64, f32, i64, i64, i64, i64, f16, bf16, f32, f64, c64},
      {f16, f16, f16, f16, f16, f16, f16, f16, f16, f16, f32, f32, f64, c64},
      {bf16, bf16, bf16, bf16, bf16, bf16, bf16, bf16, bf16, f32, bf16, f32, f64, c64},
      {f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f64, c64},
      {f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, f64, c64},
      {c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64, c64},
  };
  // clang-format on
  static_assert(std::size(kAllDTypes) == 14);
  for (int i = 0; i < 14; ++i) {
    for (int j = 0; j < 14; ++j) {
      EXPECT_EQ(PromoteTypes(kAllDTypes[i], kAllDTypes[j]), expected[i][j])
          << DTypeName(kAllDTypes[i]) << " with " << DTypeName(kAllDTypes[j]);
    }
  }
}

TEST(DTypeTest, NotablePromotionsSpelledOut) {
  EXPECT_EQ(PromoteTypes(u32, i32), i64);
  EXPECT_EQ(PromoteTypes(u8, i8), i16);
  EXPECT_EQ(PromoteTypes(u64, i8), f32);
  EXPECT_EQ(PromoteTypes(f16, bf16), f32);
  EXPECT_EQ(PromoteTypes(i64, f16), f16);
  EXPECT_EQ(PromoteTypes(b, b), b);
  EXPECT_EQ(PromoteTypes(f64, c64), c64);  // MLX: complex64 wins even over float64
  EXPECT_EQ(FloatingResultType(c64), c64);
  EXPECT_FALSE(IsFloating(c64));
  EXPECT_FALSE(IsInteger(c64));
}

TEST(DTypeTest, NamesRoundTrip) {
  for (DType dtype : kAllDTypes) {
    EXPECT_EQ(DTypeFromName(DTypeName(dtype)), dtype) << DTypeName(dtype);
  }
  EXPECT_EQ(std::string(DTypeName(bf16)), "bfloat16");
  EXPECT_EQ(std::string(DTypeName(u32)), "uint32");
  EXPECT_EQ(DTypeFromName("float"), std::nullopt);
  EXPECT_EQ(DTypeFromName(""), std::nullopt);
  EXPECT_EQ(DTypeFromName("Float32"), std::nullopt);
}

TEST(DTypeTest, Sizes) {
  EXPECT_EQ(SizeOf(b), 1u);
  EXPECT_EQ(SizeOf(u8), 1u);
  EXPECT_EQ(SizeOf(u16), 2u);
  EXPECT_EQ(SizeOf(u32), 4u);
  EXPECT_EQ(SizeOf(u64), 8u);
  EXPECT_EQ(SizeOf(i8), 1u);
  EXPECT_EQ(SizeOf(i16), 2u);
  EXPECT_EQ(SizeOf(i32), 4u);
  EXPECT_EQ(SizeOf(i64), 8u);
  EXPECT_EQ(SizeOf(f16), 2u);
  EXPECT_EQ(SizeOf(bf16), 2u);
  EXPECT_EQ(SizeOf(f32), 4u);
  EXPECT_EQ(SizeOf(f64), 8u);
  EXPECT_EQ(SizeOf(c64), 8u);
}

TEST(DTypeTest, Categories) {
  EXPECT_FALSE(IsFloating(b));
  EXPECT_FALSE(IsInteger(b));
  EXPECT_TRUE(IsUnsigned(b));
  EXPECT_TRUE(IsInteger(u32));
  EXPECT_TRUE(IsUnsigned(u32));
  EXPECT_FALSE(IsUnsigned(i32));
  EXPECT_TRUE(IsUnsigned(u64));
  EXPECT_FALSE(IsUnsigned(i8));
  EXPECT_TRUE(IsInteger(i16));
  EXPECT_FALSE(IsInteger(f64));
  EXPECT_TRUE(IsFloating(bf16));
  EXPECT_FALSE(IsInteger(f16));
}

TEST(DTypeTest, FloatingResultType) {
  EXPECT_EQ(FloatingResultType(f16), f16);
  EXPECT_EQ(FloatingResultType(bf16), bf16);
  EXPECT_EQ(FloatingResultType(f64), f64);
  EXPECT_EQ(FloatingResultType(i64), f32);
  EXPECT_EQ(FloatingResultType(b), f32);
}

}  // namespace
}  // namespace ferry::core
