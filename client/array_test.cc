// Arrays on the local device: host round trips for every dtype, eval, and build-time errors.

#include "client/array.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

template <typename T>
void ExpectRoundTrip(const std::vector<T>& values, Dtype dtype) {
  Array a = from_host(values, {2, 2});
  EXPECT_EQ(a.dtype(), dtype);
  EXPECT_EQ(a.shape(), (Shape{2, 2}));
  EXPECT_EQ(a.nbytes(), static_cast<int64_t>(4 * sizeof(T)));
  EXPECT_TRUE(a.is_available());  // host data needs no eval
  std::vector<T> back = a.to_vector<T>();
  ASSERT_EQ(back.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {  // bytes: exact for uint64's top and NaNs
    EXPECT_EQ(std::memcmp(&back[i], &values[i], sizeof(T)), 0) << i;
  }
}

TEST(ArrayTest, HostRoundTripForEveryDtype) {
  ExpectRoundTrip<uint8_t>({0, 1, 200, 255}, uint8);
  ExpectRoundTrip<uint16_t>({0, 1, 40000, 65535}, uint16);
  ExpectRoundTrip<uint32_t>({0, 1, 4000000000u, 7}, uint32);
  ExpectRoundTrip<uint64_t>({0, 1, ~uint64_t{0}, ~uint64_t{0} - 1}, uint64);
  ExpectRoundTrip<int8_t>({-128, -1, 0, 127}, int8);
  ExpectRoundTrip<int16_t>({-32768, -1, 0, 32767}, int16);
  ExpectRoundTrip<int32_t>({-2147483647 - 1, -1, 0, 2147483647}, int32);
  ExpectRoundTrip<int64_t>({-(int64_t{1} << 62), -1, 0, int64_t{1} << 62}, int64);
  ExpectRoundTrip<float>({-1.5f, 0.0f, 3.25f, 1e30f}, float32);
  ExpectRoundTrip<double>({-1.5, 0.1, 3.25, 1e300}, float64);
  ExpectRoundTrip<float16_t>(
      {float16_t(-1.5f), float16_t(0.0f), float16_t(3.25f), float16_t(65504.0f)}, float16);
  ExpectRoundTrip<bfloat16_t>(
      {bfloat16_t(-1.5f), bfloat16_t(0.0f), bfloat16_t(3.25f), bfloat16_t(1e30f)}, bfloat16);
  Array b = from_host(std::vector<bool>{true, false, false, true}, {4});
  EXPECT_EQ(b.dtype(), bool_);
  EXPECT_THAT(b.to_vector<bool>(), ElementsAre(true, false, false, true));
}

TEST(ArrayTest, FromPointerCopiesTheData) {
  float data[6] = {1, 2, 3, 4, 5, 6};
  Array a = from_host(data, {2, 3});
  data[0] = 100;  // the array has its own copy
  EXPECT_THAT(a.to_vector<float>(), ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_EQ(a.shape(1), 3);
  EXPECT_EQ(a.shape(-2), 2);
  EXPECT_EQ(a.ndim(), 2);
  EXPECT_EQ(a.size(), 6);
}

TEST(ArrayTest, ScalarAndEmptyArrays) {
  Array s = from_host(std::vector<int32_t>{42}, {});
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.size(), 1);
  EXPECT_EQ(s.item<int32_t>(), 42);
  Array e = from_host(std::vector<float>{}, {0, 3});
  EXPECT_EQ(e.size(), 0);
  EXPECT_TRUE(e.to_vector<float>().empty());
  EXPECT_EQ((e + 1.0f).to_vector<float>().size(), 0u);
}

TEST(ArrayTest, FromHostRefusesAWrongElementCount) {
  try {
    from_host(std::vector<float>{1, 2, 3}, {2, 2});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[from_host]"));
  }
}

TEST(ArrayTest, ReadingNeedsTheArraysDtype) {
  Array a = from_host(std::vector<float>{1, 2}, {2});
  try {
    a.to_vector<int32_t>();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("float32"));
    EXPECT_THAT(e.what(), HasSubstr("int32"));
  }
  EXPECT_THROW(a.item<float>(), Error);  // two elements
  EXPECT_EQ(astype(a, int32).to_vector<int32_t>(), (std::vector<int32_t>{1, 2}));
}

TEST(ArrayTest, OpsAreLazyUntilEval) {
  Array a = from_host(std::vector<float>{1, 2, 3}, {3});
  Array b = a * 2.0f + 1.0f;
  EXPECT_FALSE(b.is_available());
  EXPECT_EQ(b.shape(), (Shape{3}));  // known before eval
  b.eval();
  EXPECT_TRUE(b.is_available());
  EXPECT_THAT(b.to_vector<float>(), ElementsAre(3, 5, 7));
}

TEST(ArrayTest, EvalOfSeveralArraysRunsOneGraph) {
  Device device = local();
  const int64_t before = device.stats().executes;
  Array x = from_host(std::vector<float>{1, 2, 3, 4}, {2, 2});
  Array s = sum(x);
  Array m = max(x, 1);
  Array y = x * x;
  eval({s, m, y, s});  // s twice: computed once
  EXPECT_EQ(device.stats().executes, before + 1);
  EXPECT_TRUE(s.is_available() && m.is_available() && y.is_available());
  EXPECT_EQ(s.item<float>(), 10.0f);
  EXPECT_THAT(m.to_vector<float>(), ElementsAre(2, 4));
  EXPECT_THAT(y.to_vector<float>(), ElementsAre(1, 4, 9, 16));
  EXPECT_EQ(device.stats().executes, before + 1);  // reads need no more runs
}

TEST(ArrayTest, EvaluatedArraysFeedLaterGraphs) {
  Array x = from_host(std::vector<int32_t>{1, 2, 3}, {3});
  Array y = x + 1;
  y.eval();
  Array z = y * y;  // y enters this graph as a parameter
  EXPECT_THAT(z.to_vector<int32_t>(), ElementsAre(4, 9, 16));
  EXPECT_THAT(y.to_vector<int32_t>(), ElementsAre(2, 3, 4));
}

TEST(ArrayTest, LongChainsNeedNoRecursion) {
  Array x = zeros({4}, int32);
  Array y = x;
  for (int i = 0; i < 20000; ++i) y = y + 1;
  EXPECT_THAT(y.to_vector<int32_t>(), ElementsAre(20000, 20000, 20000, 20000));
  // And a long unevaluated chain is freed without deep recursion.
  Array z = x;
  for (int i = 0; i < 100000; ++i) z = z + 1;
}

TEST(ArrayTest, ErrorsSurfaceWhereTheOpIsBuilt) {
  Array a = ones({2, 3});
  Array b = ones({4, 5});
  try {
    matmul(a, b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[matmul]"));
  }
  try {
    a + b;
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("[add]"));
  }
}

TEST(DeviceTest, LocalIsTheDefault) {
  EXPECT_EQ(default_device(), local());
  EXPECT_EQ(ones({1}).device(), local());
  EXPECT_THAT(local().description(), HasSubstr("local (cpu"));
  EXPECT_FALSE(local().info().remote);
  EXPECT_EQ(local().info().backend, "cpu");
}

TEST(DeviceTest, ConnectToNothingIsUnavailable) {
  ConnectOptions options;
  options.timeout = std::chrono::milliseconds(300);
  try {
    connect("127.0.0.1:1", options);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:1"));
  }
}

}  // namespace
}  // namespace ferry
