// matmul on the local device.

#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(MatmulTest, Matrices) {
  Array a = from_host(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  Array b = from_host(std::vector<float>{7, 8, 9, 10, 11, 12}, {3, 2});
  Array c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  EXPECT_THAT(c.to_vector<float>(), ElementsAre(58, 64, 139, 154));
}

TEST(MatmulTest, VectorsArePromotedAndSqueezed) {
  Array m = from_host(std::vector<double>{1, 2, 3, 4}, {2, 2});
  Array v = from_host(std::vector<double>{1, 1}, {2});
  EXPECT_EQ(matmul(m, v).shape(), (Shape{2}));
  EXPECT_THAT(matmul(m, v).to_vector<double>(), ElementsAre(3, 7));
  EXPECT_THAT(matmul(v, m).to_vector<double>(), ElementsAre(4, 6));
  EXPECT_EQ(matmul(v, v).shape(), Shape{});
  EXPECT_EQ(matmul(v, v).item<double>(), 2);
}

TEST(MatmulTest, BatchDimsBroadcast) {
  Array a = reshape(arange(12), {2, 2, 3});
  Array b = ones({3, 1});
  Array c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2, 1}));
  EXPECT_THAT(c.to_vector<float>(), ElementsAre(3, 12, 21, 30));
}

TEST(MatmulTest, Errors) {
  try {
    matmul(ones({2, 3}), ones({2, 3}));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[matmul]"));
  }
  EXPECT_THROW(matmul(ones({2, 2}, int32), ones({2, 2}, int32)), Error);  // floating only
  EXPECT_THROW(matmul(ones({}), ones({2})), Error);
}

}  // namespace
}  // namespace ferry
