// Keys and the random generators on the local device, checked against core's Philox.

// core/philox.h calls log/cos unqualified inside ferry::core, so it must be read before
// client/ops.h declares ferry::log and ferry::cos.
#include "core/philox.h"
// (The order above matters.)
#include <cstdint>
#include <vector>

#include "client/ferry.h"
#include "client/random.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;

TEST(RandomTest, KeyHoldsTheSeedsWords) {
  Array k = random::key(0x0000000100000002ull);
  EXPECT_EQ(k.dtype(), uint32);
  EXPECT_EQ(k.shape(), (Shape{2}));
  EXPECT_THAT(k.to_vector<uint32_t>(), ElementsAre(1u, 2u));
}

TEST(RandomTest, UniformFollowsPhilox) {
  Array u = random::uniform({2, 3}, float32, -1.0, 3.0, random::key(42));
  EXPECT_EQ(u.shape(), (Shape{2, 3}));
  std::vector<float> values = u.to_vector<float>();
  const core::PhiloxKey key = core::PhiloxKeyFromWords(0, 42);
  for (uint64_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], static_cast<float>(core::PhiloxUniform(i, key, -1.0, 3.0))) << i;
    EXPECT_GE(values[i], -1.0f);
    EXPECT_LT(values[i], 3.0f);
  }
}

TEST(RandomTest, NormalFollowsPhilox) {
  Array n = random::normal({5}, float64, 2.0, 0.5, random::key(7));
  std::vector<double> values = n.to_vector<double>();
  const core::PhiloxKey key = core::PhiloxKeyFromWords(0, 7);
  for (uint64_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(values[i], core::PhiloxNormal(i, key, 2.0, 0.5)) << i;
  }
}

TEST(RandomTest, SameKeySameNumbers) {
  Array k = random::key(3);
  EXPECT_EQ(random::normal({8}, float32, 0, 1, k).to_vector<float>(),
            random::normal({8}, float32, 0, 1, k).to_vector<float>());
  EXPECT_NE(random::normal({8}, float32, 0, 1, k).to_vector<float>(),
            random::normal({8}, float32, 0, 1, random::key(4)).to_vector<float>());
}

TEST(RandomTest, WithoutAKeyEachCallDrawsAFreshKey) {
  random::seed(1);
  std::vector<float> a = random::uniform({4}).to_vector<float>();
  std::vector<float> b = random::uniform({4}).to_vector<float>();
  EXPECT_NE(a, b);
  random::seed(1);
  EXPECT_EQ(random::uniform({4}).to_vector<float>(), a);  // re-seeding replays
}

TEST(RandomTest, Errors) {
  EXPECT_THROW(random::uniform({2}, int32), Error);        // floating only
  EXPECT_THROW(random::uniform({2}, float32, 1.0, 0.0), Error);
  EXPECT_THROW(random::normal({2}, float32, 0.0, 1.0, ones({2}, int32)), Error);
  EXPECT_THROW(random::normal({2}, float32, 0.0, 1.0, ones({3}, uint32)), Error);
}

TEST(RandomTest, DeviceOverloads) {
  EXPECT_EQ(random::normal({4, 4}, float32, local()).shape(), (Shape{4, 4}));
  EXPECT_EQ(random::uniform({3}, float16, local()).dtype(), float16);
}

}  // namespace
}  // namespace ferry
