// einsum and addmm on the local device: hand-checked contractions (NumPy comparisons are
// in opsb_fixtures_test.cc) and build-time errors.

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
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

Array A() { return from_host(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3}); }
Array B() { return from_host(std::vector<float>{1, 0, 0, 1, 1, 1}, {3, 2}); }

TEST(EinsumTest, MatmulTransposeAndImplicitOutput) {
  EXPECT_THAT(einsum("ij,jk->ik", {A(), B()}).to_vector<float>(), ElementsAre(4, 5, 10, 11));
  EXPECT_THAT(einsum("ij,jk", {A(), B()}).to_vector<float>(), ElementsAre(4, 5, 10, 11));
  EXPECT_THAT(einsum("ij,jk->ki", {A(), B()}).to_vector<float>(), ElementsAre(4, 10, 5, 11));
  Array t = einsum("ij->ji", {A()});
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_THAT(t.to_vector<float>(), ElementsAre(1, 4, 2, 5, 3, 6));
  EXPECT_THAT(einsum(" i j -> ", {A()}).to_vector<float>(), ElementsAre(21));
}

TEST(EinsumTest, IntegersTracesAndElementwise) {
  Array m = from_host(std::vector<int32_t>{1, 2, 3, 4}, {2, 2});
  EXPECT_THAT(einsum("ij,jk->ik", {m, m}).to_vector<int32_t>(), ElementsAre(7, 10, 15, 22));
  EXPECT_THAT(einsum("ii", {m}).to_vector<int32_t>(), ElementsAre(5));
  EXPECT_THAT(einsum("ii->i", {m}).to_vector<int32_t>(), ElementsAre(1, 4));
  EXPECT_THAT(einsum("ij,ij->i", {m, m}).to_vector<int32_t>(), ElementsAre(5, 25));
  // Mixed int32 and float32 operands contract in float32.
  Array mixed = einsum("ij,jk->ik", {m, astype(m, float32)});
  EXPECT_EQ(mixed.dtype(), float32);
  EXPECT_THAT(mixed.to_vector<float>(), ElementsAre(7, 10, 15, 22));
}

TEST(EinsumTest, BadSubscriptsThrowAtTheCall) {
  EXPECT_THAT(BuildError([] { einsum("ij,jk->ik", {A()}); }),
              HasSubstr("[einsum] subscripts 'ij,jk->ik' name 2 operands, got 1"));
  EXPECT_THAT(BuildError([] { einsum("ijk->i", {A()}); }),
              HasSubstr("[einsum] operand 0 has rank 2 but subscripts 'ijk'"));
  EXPECT_THAT(BuildError([] { einsum("ij->iz", {A()}); }),
              HasSubstr("[einsum] output subscript 'z' must appear in an input, once"));
  EXPECT_THAT(BuildError([] {
                einsum("ij,jk->ik", {A(), A()});
              }),
              HasSubstr("[einsum] label 'j' has dims 3 and 2"));
  EXPECT_THAT(BuildError([] { einsum("...ijk->i", {A()}); }),
              HasSubstr("[einsum] operand 0 of rank 2 does not fit subscripts '...ijk'"));
  EXPECT_THAT(BuildError([] {
                einsum("...i,...i", {zeros({2, 3}), zeros({4, 3})});
              }),
              HasSubstr("[einsum] the dims under '...' do not broadcast: (2,) and (4,)."));
}

TEST(EinsumTest, AnEmptyEllipsisIsNoDims) {
  EXPECT_THAT(einsum("...ij->ij", {A()}).to_vector<float>(),
              ElementsAreArray(A().to_vector<float>()));
  // Implicit output: the ellipsis's dims first, then the labels used once.
  EXPECT_EQ(einsum("i...", {zeros({2, 3, 4})}).shape(), (Shape{3, 4, 2}));
}

TEST(AddmmTest, ScalesBothTerms) {
  Array c = from_host(std::vector<float>{1, 1}, {2});
  EXPECT_THAT(addmm(c, A(), B(), 2.0f, 0.5f).to_vector<float>(),
              ElementsAre(8.5, 10.5, 20.5, 22.5));
  Array nan_c = from_host(std::vector<float>{NAN, 0}, {1, 2});
  EXPECT_THAT(addmm(nan_c, A(), B(), 1.0f, 0.0f).to_vector<float>(), ElementsAre(4, 5, 10, 11));
  EXPECT_THAT(BuildError([] { addmm(zeros({3}), A(), B()); }), HasSubstr("[add]"));
}

}  // namespace
}  // namespace ferry
