// Reductions, arg-reductions, softmax and logsumexp on the local device.

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
using ::testing::HasSubstr;
using ::testing::Pointwise;

// [[1, 2, 3],
//  [4, 5, 6]]
Array Matrix() { return from_host(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}); }

TEST(ReduceTest, AllAxes) {
  EXPECT_EQ(sum(Matrix()).item<float>(), 21);
  EXPECT_EQ(prod(Matrix()).item<float>(), 720);
  EXPECT_EQ(mean(Matrix()).item<float>(), 3.5);
  EXPECT_EQ(max(Matrix()).item<float>(), 6);
  EXPECT_EQ(min(Matrix()).item<float>(), 1);
  EXPECT_EQ(sum(Matrix()).shape(), Shape{});
  EXPECT_EQ(sum(Matrix(), true).shape(), (Shape{1, 1}));
}

TEST(ReduceTest, OneAxis) {
  EXPECT_THAT(sum(Matrix(), 0).to_vector<float>(), ElementsAre(5, 7, 9));
  EXPECT_THAT(sum(Matrix(), 1).to_vector<float>(), ElementsAre(6, 15));
  EXPECT_THAT(sum(Matrix(), -1).to_vector<float>(), ElementsAre(6, 15));
  EXPECT_EQ(sum(Matrix(), -1, true).shape(), (Shape{2, 1}));
  EXPECT_THAT(max(Matrix(), 0).to_vector<float>(), ElementsAre(4, 5, 6));
  EXPECT_THAT(min(Matrix(), 1).to_vector<float>(), ElementsAre(1, 4));
  EXPECT_THAT(mean(Matrix(), 0).to_vector<float>(), ElementsAre(2.5, 3.5, 4.5));
  EXPECT_THAT(prod(Matrix(), 1).to_vector<float>(), ElementsAre(6, 120));
}

TEST(ReduceTest, AxisLists) {
  Array x = reshape(arange(24, int32), {2, 3, 4});
  Array s = sum(x, {0, -1});
  EXPECT_EQ(s.shape(), (Shape{3}));
  // Rows of x[0] sum to 6, 22, 38; of x[1] to 54, 70, 86.
  EXPECT_THAT(s.to_vector<int32_t>(), ElementsAre(60, 92, 124));
  EXPECT_EQ(sum(x, {2, 0}, true).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(sum(x, std::vector<int>{}).shape(), (Shape{2, 3, 4}));  // reduces nothing
}

TEST(ReduceTest, Dtypes) {
  Array b = from_host(std::vector<bool>{true, true, false}, {3});
  EXPECT_EQ(sum(b).dtype(), int32);
  EXPECT_EQ(sum(b).item<int32_t>(), 2);
  Array i = from_host(std::vector<int32_t>{1, 2}, {2});
  EXPECT_EQ(mean(i).dtype(), float32);
  EXPECT_EQ(mean(i).item<float>(), 1.5);
  EXPECT_EQ(max(i).dtype(), int32);
}

TEST(ReduceTest, BadAxes) {
  try {
    sum(Matrix(), 2);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[sum] axis 2 is out of range"));
  }
  EXPECT_THROW(sum(Matrix(), {0, -2}), Error);  // the same axis twice
  EXPECT_THROW(mean(Matrix(), -3), Error);
}

TEST(ReduceTest, ArgMaxArgMin) {
  Array x = from_host(std::vector<float>{3, 9, 9, 1, 7, 0}, {2, 3});
  EXPECT_EQ(argmax(x, 1).dtype(), uint32);
  EXPECT_THAT(argmax(x, 1).to_vector<uint32_t>(), ElementsAre(1, 1));  // the first of ties
  EXPECT_THAT(argmin(x, 1).to_vector<uint32_t>(), ElementsAre(0, 2));
  EXPECT_THAT(argmax(x, 0).to_vector<uint32_t>(), ElementsAre(0, 0, 0));
  EXPECT_THAT(argmin(x, -2).to_vector<uint32_t>(), ElementsAre(1, 1, 1));
  EXPECT_EQ(argmax(x, 1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(argmax(x).item<uint32_t>(), 1u);  // over the flattened array
  EXPECT_EQ(argmin(x).item<uint32_t>(), 5u);
  EXPECT_EQ(argmin(x, true).shape(), (Shape{1, 1}));
}

TEST(ReduceTest, Softmax) {
  Array x = from_host(std::vector<float>{0, std::log(3.0f), 1000, 1000}, {2, 2});
  EXPECT_THAT(softmax(x, 1).to_vector<float>(),
              Pointwise(FloatNear(1e-6), {0.25f, 0.75f, 0.5f, 0.5f}));  // stable at 1000
  EXPECT_THAT(softmax(from_host(std::vector<float>{1, 1, 1, 1}, {2, 2})).to_vector<float>(),
              Pointwise(FloatNear(1e-6), {0.25f, 0.25f, 0.25f, 0.25f}));
  EXPECT_EQ(softmax(ones({2}, int32)).dtype(), float32);
}

TEST(ReduceTest, Logsumexp) {
  Array x = from_host(std::vector<float>{0, 0, 1000, 1000}, {2, 2});
  EXPECT_THAT(logsumexp(x, 1).to_vector<float>(),
              Pointwise(FloatNear(1e-3), {std::log(2.0f), 1000 + std::log(2.0f)}));
  EXPECT_NEAR(logsumexp(x).item<float>(), 1000 + std::log(2.0f), 1e-3);
  EXPECT_EQ(logsumexp(x, {0, 1}, true).shape(), (Shape{1, 1}));
}

// ---- part A -------------------------------------------------------------------------

TEST(ReducePartATest, AllAny) {
  Array m = from_host(std::vector<int32_t>{1, 0, 2, 3, 4, 5}, {2, 3});
  EXPECT_FALSE(all(m).item<bool>());
  EXPECT_TRUE(any(m).item<bool>());
  EXPECT_THAT(all(m, 1).to_vector<bool>(), ElementsAre(false, true));
  EXPECT_THAT(all(m, -2, true).to_vector<bool>(), ElementsAre(true, false, true));
  EXPECT_EQ(all(m, -2, true).shape(), (Shape{1, 3}));
  EXPECT_THAT(any(m < 1, {0, 1}).to_vector<bool>(), ElementsAre(true));
  EXPECT_TRUE(all(zeros({0, 2})).item<bool>());
  EXPECT_FALSE(any(zeros({0, 2})).item<bool>());
  // A transposed view: columns become rows.
  EXPECT_THAT(all(transpose(m), 1).to_vector<bool>(), ElementsAre(true, false, true));
  EXPECT_EQ(BuildError([&] { any(m, 2); }), "[any] axis 2 is out of range for an array of rank 2.");
}

TEST(ReducePartATest, VarAndStdWithDdof) {
  // NumPy: np.var([[1,2,3],[4,5,6]]) = 2.9166667, axis 1: [0.6666667, 0.6666667],
  // ddof=1 along axis 0: [4.5, 4.5, 4.5]; std ddof=1 of all: 1.8708287.
  EXPECT_NEAR(var(Matrix()).item<float>(), 2.9166667f, 1e-6);
  EXPECT_THAT(var(Matrix(), 1).to_vector<float>(),
              Pointwise(FloatNear(1e-6), {0.6666667f, 0.6666667f}));
  EXPECT_THAT(var(Matrix(), 0, false, 1).to_vector<float>(), ElementsAre(4.5, 4.5, 4.5));
  EXPECT_NEAR(std(Matrix(), false, 1).item<float>(), 1.8708287f, 1e-6);
  EXPECT_EQ(std(Matrix(), {0, 1}, true).shape(), (Shape{1, 1}));
  Array ints = from_host(std::vector<int32_t>{1, 3}, {2});
  EXPECT_EQ(var(ints).dtype(), float32);
  EXPECT_EQ(var(ints).item<float>(), 1);
  // No degrees of freedom left: inf, as NumPy's division by zero.
  EXPECT_TRUE(std::isinf(var(ints, false, 2).item<float>()));
  Array h = astype(Matrix(), float16);
  EXPECT_EQ(std(h, 1).dtype(), float16);
  EXPECT_EQ(BuildError([&] { var(Matrix(), {0, -2}); }), "[var] axis -2 appears more than once.");
}

}  // namespace
}  // namespace ferry
