// full, zeros, ones, arange, astype and view on the local device.

#include <cstdint>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CreationTest, FullZerosOnes) {
  Array f = full({2, 2}, 2.5);
  EXPECT_EQ(f.dtype(), float32);
  EXPECT_THAT(f.to_vector<float>(), ElementsAre(2.5, 2.5, 2.5, 2.5));
  EXPECT_THAT(zeros({3}, int64).to_vector<int64_t>(), ElementsAre(0, 0, 0));
  EXPECT_THAT(ones({2}, uint8).to_vector<uint8_t>(), ElementsAre(1, 1));
  EXPECT_THAT(ones({2}, bool_).to_vector<bool>(), ElementsAre(true, true));
  EXPECT_EQ(full({}, -7, int32).item<int32_t>(), -7);
  EXPECT_EQ(zeros({0, 4}).size(), 0);
}

TEST(CreationTest, FullRefusesAValueTheDtypeCannotHold) {
  try {
    full({1}, 300, uint8);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[full]"));
  }
}

TEST(CreationTest, Arange) {
  EXPECT_THAT(arange(4).to_vector<float>(), ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(arange(1, 2, 0.25).to_vector<float>(), ElementsAre(1, 1.25, 1.5, 1.75));
  EXPECT_THAT(arange(5, 0, -2, int32).to_vector<int32_t>(), ElementsAre(5, 3, 1));
  EXPECT_THAT(arange(2, 5, int64).to_vector<int64_t>(), ElementsAre(2, 3, 4));
  EXPECT_EQ(arange(3, 3).size(), 0);
  EXPECT_THROW(arange(0, 1, 0.0), Error);
}

TEST(CreationTest, Astype) {
  Array a = from_host(std::vector<float>{-1.5f, 0.0f, 2.7f}, {3});
  EXPECT_THAT(astype(a, int32).to_vector<int32_t>(), ElementsAre(-1, 0, 2));
  EXPECT_THAT(astype(a, bool_).to_vector<bool>(), ElementsAre(true, false, true));
  EXPECT_THAT(astype(a, float64).to_vector<double>(), ElementsAre(-1.5, 0.0, 2.700000047683716));
  EXPECT_EQ(static_cast<float>(astype(a, float16).to_vector<float16_t>()[2]), 2.69921875f);
  Array i = from_host(std::vector<int32_t>{7, -1}, {2});
  EXPECT_THAT(astype(i, float32).to_vector<float>(), ElementsAre(7, -1));
}

TEST(CreationTest, ViewReadsTheSameBytesAsAnotherDtype) {
  Array one = from_host(std::vector<float>{1.0f, -2.0f}, {2});
  EXPECT_THAT(view(one, int32).to_vector<int32_t>(), ElementsAre(0x3f800000, -0x40000000));
  Array bytes = view(one, uint8);  // little-endian: 1.0f is 00 00 80 3f
  EXPECT_EQ(bytes.shape(), (Shape{8}));
  EXPECT_THAT(bytes.to_vector<uint8_t>(), ElementsAre(0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0));
  EXPECT_EQ(view(view(one, uint8), float32).to_vector<float>(), one.to_vector<float>());
  EXPECT_EQ(view(zeros({2, 4}, float32), int64).shape(), (Shape{2, 2}));
  try {
    view(zeros({3}, float32), int64);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[view] cannot view float32 (3,) as int64"));
  }
  try {
    view(zeros({4}, uint8), bool_);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[view] cannot read uint8 bytes as bool"));
  }
  // No gradient through a reinterpretation; the same dtype is no op at all.
  Array x = from_host(std::vector<float>{3.0f}, {1});
  EXPECT_THAT(grad([](const Array& v) { return sum(astype(view(v, int32), float32)) + sum(v); })(x)
                  .to_vector<float>(),
              ElementsAre(1.0f));
}

}  // namespace
}  // namespace ferry
