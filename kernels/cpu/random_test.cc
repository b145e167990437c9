#include <cmath>

#include "core/philox.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using ::testing::ElementsAre;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

TEST(Philox, MatchesRandom123KnownAnswers) {
  // Random123's kat_vectors for philox4x32_10.
  const core::PhiloxCounter zero = core::Philox4x32({{0, 0, 0, 0}}, {{0, 0}});
  EXPECT_THAT(zero.v, ElementsAre(0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u));
  const core::PhiloxCounter ones = core::Philox4x32(
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, {{0xffffffffu, 0xffffffffu}});
  EXPECT_THAT(ones.v, ElementsAre(0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu));
  const core::PhiloxCounter pi = core::Philox4x32(
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, {{0xa4093822u, 0x299f31d0u}});
  EXPECT_THAT(pi.v, ElementsAre(0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u));
}

TEST(Philox, ElementsUseTheirIndexAsCounterAndTheKeyWordsSwapped) {
  const core::PhiloxKey key = core::PhiloxKeyFromWords(/*key_high=*/7, /*key_low=*/9);
  EXPECT_EQ(key.v[0], 9u);
  EXPECT_EQ(key.v[1], 7u);
  const uint64_t index = (uint64_t{5} << 32) | 3;
  const core::PhiloxCounter block = core::PhiloxBlock(index, key);
  const core::PhiloxCounter direct = core::Philox4x32({{3, 5, 0, 0}}, key);
  EXPECT_THAT(block.v, ElementsAre(direct.v[0], direct.v[1], direct.v[2], direct.v[3]));
  EXPECT_EQ(core::PhiloxUnitFloat(0xffffffffu), 1.0f - std::ldexp(1.0f, -24));
  EXPECT_EQ(core::PhiloxUnitFloat(0xffu), 0.0f);
}

core::HostTensor Key(uint32_t high, uint32_t low) {
  return MakeHost(DType::kUInt32, {2}, {static_cast<double>(high), static_cast<double>(low)});
}

core::HostTensor Uniform(const core::HostTensor& key, double low, double high,
                         std::vector<int64_t> shape, DType dtype = DType::kFloat32) {
  absl::StatusOr<core::HostTensor> out =
      RunOp("random_uniform", {key},
            {{"low", low}, {"high", high}, {"shape", std::move(shape)}, {"dtype", dtype}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

core::HostTensor Normal(const core::HostTensor& key, double loc, double scale,
                        std::vector<int64_t> shape, DType dtype = DType::kFloat32) {
  absl::StatusOr<core::HostTensor> out =
      RunOp("random_normal", {key},
            {{"loc", loc}, {"scale", scale}, {"shape", std::move(shape)}, {"dtype", dtype}});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

TEST(RandomUniform, FirstElementOfKeyZeroIsTheKnownAnswersFirstWord) {
  // Element 0 under key 0 draws the block of counter 0: w0 = 0x6627e8d5.
  const std::vector<double> u = Values(Uniform(Key(0, 0), 0, 1, {2}, DType::kFloat64));
  EXPECT_EQ(u[0], 0x6627e8 * std::ldexp(1.0, -24));
  const std::vector<double> scaled = Values(Uniform(Key(0, 0), -2, 2, {1}, DType::kFloat64));
  EXPECT_EQ(scaled[0], -2 + 4 * (0x6627e8 * std::ldexp(1.0, -24)));
}

TEST(RandomNormal, FirstElementOfKeyZeroIsBoxMullerOfTheKnownAnswer) {
  const double u1 = (0x6627e8 + 1) * std::ldexp(1.0, -24);
  const double u2 = 0xe169c5 * std::ldexp(1.0, -24);
  const double z = std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  EXPECT_DOUBLE_EQ(Values(Normal(Key(0, 0), 0, 1, {1}, DType::kFloat64))[0], z);
  EXPECT_DOUBLE_EQ(Values(Normal(Key(0, 0), 1, 3, {1}, DType::kFloat64))[0], 1 + 3 * z);
}

TEST(Random, SameKeySameNumbersOtherKeyOtherNumbers) {
  const core::HostTensor a = Uniform(Key(1, 2), 0, 1, {64});
  EXPECT_EQ(a.data, Uniform(Key(1, 2), 0, 1, {64}).data);
  EXPECT_NE(a.data, Uniform(Key(2, 1), 0, 1, {64}).data);
  EXPECT_NE(a.data, Uniform(Key(1, 3), 0, 1, {64}).data);
  // The shape only says how many: element i is the same in any shape.
  const std::vector<double> flat = Values(Normal(Key(4, 4), 0, 1, {6}));
  const std::vector<double> grid = Values(Normal(Key(4, 4), 0, 1, {2, 3}));
  EXPECT_EQ(flat, grid);
}

// Mean and variance of `values`.
std::pair<double, double> Moments(const std::vector<double>& values) {
  double sum = 0, sq = 0;
  for (double v : values) sum += v;
  const double mean = sum / values.size();
  for (double v : values) sq += (v - mean) * (v - mean);
  return {mean, sq / values.size()};
}

TEST(RandomUniform, HundredThousandSamplesLookUniform) {
  const std::vector<double> u = Values(Uniform(Key(0, 42), 2, 5, {100000}));
  for (double v : u) {
    ASSERT_GE(v, 2);
    ASSERT_LT(v, 5);
  }
  const auto [mean, var] = Moments(u);
  EXPECT_NEAR(mean, 3.5, 0.015);      // sd of the mean: 0.0027
  EXPECT_NEAR(var, 9.0 / 12, 0.015);  // 0.75
  int below = 0;
  for (double v : u) below += v < 2.3;
  EXPECT_NEAR(below / 1e5, 0.1, 0.005);
}

TEST(RandomNormal, HundredThousandSamplesLookNormal) {
  const std::vector<double> z = Values(Normal(Key(123, 456), 3, 2, {100000}));
  const auto [mean, var] = Moments(z);
  EXPECT_NEAR(mean, 3, 0.03);  // sd of the mean: 0.0063
  EXPECT_NEAR(var, 4, 0.08);   // sd of the variance: about 0.018
  int within = 0;
  for (double v : z) within += std::fabs(v - 3) < 2;
  EXPECT_NEAR(within / 1e5, 0.6827, 0.01);
  for (double v : z) ASSERT_TRUE(std::isfinite(v));
}

TEST(RandomUniform, HalfPrecisionStaysBelowHigh) {
  // A 24-bit u within 2^-12 of 1 rounds to 1.0 in float16; such samples are capped.
  const std::vector<double> u = Values(Uniform(Key(9, 9), 0, 1, {100000}, DType::kFloat16));
  double max = 0;
  for (double v : u) max = std::max(max, v);
  EXPECT_EQ(max, 1 - std::ldexp(1.0, -11));
  const std::vector<double> bf = Values(Uniform(Key(9, 9), -1, 0, {100000}, DType::kBFloat16));
  for (double v : bf) {
    ASSERT_GE(v, -1);
    ASSERT_LT(v, 0);
  }
}

TEST(Random, EmptyAndScalarOutputs) {
  EXPECT_TRUE(Uniform(Key(0, 0), 0, 1, {0, 3}).data.empty());
  EXPECT_EQ(Normal(Key(0, 0), 0, 1, {}).type.shape, core::Shape{});
  const std::vector<double> point = Values(Uniform(Key(0, 0), 1, 1, {3}));
  EXPECT_THAT(point, ElementsAre(1, 1, 1));
}

// ---- random_bits (ops part B) ----------------------------------------------------------

TEST(RandomBits, WordZeroOfEachElementsBlock) {
  absl::StatusOr<core::HostTensor> bits =
      RunOp("random_bits", {Key(0, 0)}, {{"shape", std::vector<int64_t>{2, 2}}});
  ASSERT_TRUE(bits.ok()) << bits.status();
  EXPECT_EQ(bits->type, (core::TensorType{DType::kUInt32, {2, 2}}));
  const std::vector<uint32_t> words = testing::Elements<uint32_t>(*bits);
  EXPECT_EQ(words[0], 0x6627e8d5u);  // Random123's known answer for key 0, counter 0
  const core::PhiloxKey key = core::PhiloxKeyFromWords(7, 9);
  absl::StatusOr<core::HostTensor> other =
      RunOp("random_bits", {Key(7, 9)}, {{"shape", std::vector<int64_t>{3}}});
  ASSERT_TRUE(other.ok()) << other.status();
  for (uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(testing::Elements<uint32_t>(*other)[i], core::PhiloxBlock(i, key).v[0]) << i;
  }
}

TEST(RandomBits, RefusesABadKey) {
  EXPECT_FALSE(
      core::InferOp("random_bits", {{DType::kUInt32, {3}}}, {{"shape", std::vector<int64_t>{2}}})
          .ok());
}

}  // namespace
}  // namespace ferry::kernels::cpu
