// cumsum, cumprod, cummax, cummin and logcumsumexp on the local device.

#include <cmath>
#include <cstdint>
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

// [[1, 2, 3],
//  [4, 5, 6]]
Array Matrix() { return from_host(std::vector<int32_t>{1, 2, 3, 4, 5, 6}, {2, 3}); }

TEST(ScanTest, AlongAnAxisAndFlattened) {
  EXPECT_THAT(cumsum(Matrix(), 1).to_vector<int32_t>(), ElementsAre(1, 3, 6, 4, 9, 15));
  EXPECT_THAT(cumsum(Matrix(), -2).to_vector<int32_t>(), ElementsAre(1, 2, 3, 5, 7, 9));
  Array flat = cumsum(Matrix());
  EXPECT_EQ(flat.shape(), (Shape{6}));
  EXPECT_THAT(flat.to_vector<int32_t>(), ElementsAre(1, 3, 6, 10, 15, 21));
  EXPECT_THAT(cumprod(Matrix(), 0).to_vector<int32_t>(), ElementsAre(1, 2, 3, 4, 10, 18));
}

TEST(ScanTest, ReverseAndExclusive) {
  EXPECT_THAT(cumsum(Matrix(), 1, /*reverse=*/true).to_vector<int32_t>(),
              ElementsAre(6, 5, 3, 15, 11, 6));
  EXPECT_THAT(cumsum(Matrix(), 1, false, /*inclusive=*/false).to_vector<int32_t>(),
              ElementsAre(0, 1, 3, 0, 4, 9));
  EXPECT_THAT(cumprod(Matrix(), 1, true, false).to_vector<int32_t>(),
              ElementsAre(6, 3, 1, 30, 6, 1));
}

TEST(ScanTest, MaxMinOnViewsAndDtypes) {
  Array x = from_host(std::vector<float>{3, 1, 4, 1, 5, 9}, {2, 3});
  // Along the rows of the transpose, i.e. down the columns of x.
  EXPECT_THAT(cummax(transpose(x), 1).to_vector<float>(), ElementsAre(3, 3, 1, 5, 4, 9));
  EXPECT_THAT(cummin(x, 1, true).to_vector<float>(), ElementsAre(1, 1, 4, 1, 5, 9));
  Array flags = from_host(std::vector<bool>{true, false, true}, {3});
  EXPECT_EQ(cumsum(flags).dtype(), int32);
  EXPECT_THAT(cumsum(flags).to_vector<int32_t>(), ElementsAre(1, 1, 2));
  EXPECT_EQ(cummax(flags).dtype(), bool_);
  Array h = astype(x, bfloat16);
  EXPECT_EQ(cumsum(h, 0).dtype(), bfloat16);
  EXPECT_THAT(astype(cumsum(h, 0), float32).to_vector<float>(), ElementsAre(3, 1, 4, 4, 6, 13));
  EXPECT_EQ(cumsum(zeros({0, 4}), 1).shape(), (Shape{0, 4}));
}

TEST(ScanTest, LogcumsumexpStaysFiniteAndFloating) {
  // exp(1000) overflows float32; the running log-sum does not.
  Array x = from_host(std::vector<float>{1000, 1000, -1000}, {3});
  EXPECT_THAT(logcumsumexp(x).to_vector<float>(),
              ElementsAre(1000, FloatNear(1000 + std::log(2.0f), 1e-3),
                          FloatNear(1000 + std::log(2.0f), 1e-3)));
  EXPECT_THAT(logcumsumexp(x, 0, /*reverse=*/true, /*inclusive=*/false).to_vector<float>(),
              ElementsAre(FloatNear(1000, 1e-3), -1000, -INFINITY));
  EXPECT_EQ(logcumsumexp(Matrix(), 1).dtype(), float32);
  EXPECT_EQ(logcumsumexp(astype(Matrix(), float16), 1).dtype(), float16);
  // Against its definition on small values.
  Array m = astype(Matrix(), float32);
  EXPECT_TRUE(allclose(logcumsumexp(m, 0), log(cumsum(exp(m), 0))).item<bool>());
}

TEST(ScanTest, BadArgumentsThrowWhereTheOpIsBuilt) {
  EXPECT_EQ(BuildError([] { cumsum(Matrix(), 2); }),
            "[cumsum] axis 2 is out of range for an array of rank 2.");
  EXPECT_EQ(BuildError([] { cummin(full({}, 1.0), 0); }),
            "[cummin] needs an array of rank 1 or more, got a scalar.");
  // Without an axis a scalar is flattened first, as in MLX.
  EXPECT_THAT(cumsum(full({}, 2.0)).to_vector<float>(), ElementsAre(2));
}

}  // namespace
}  // namespace ferry
