// The composed ops of ops.h part C beyond their NumPy cases (ops_numpy_test.cc): dtypes,
// edges, errors, and gradients through the compositions.

#include <cmath>
#include <limits>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

using testing::BuildError;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::FloatNear;
using ::testing::HasSubstr;
using ::testing::Pointwise;

TEST(TrigTest, IntegersComputeInFloat32AndHalvesStayHalves) {
  const Array ints = from_host(std::vector<int32_t>{0, 1}, {2});
  for (auto f : {&tan, &arcsin, &arccos, &arctan, &sinh, &cosh, &arcsinh, &arccosh, &arctanh}) {
    EXPECT_EQ(f(ints).dtype(), float32);
    EXPECT_EQ(f(astype(ints, float16)).dtype(), float16);
  }
  EXPECT_THAT(arcsin(ints).to_vector<float>(),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.0f, M_PI / 2}));
}

TEST(TrigTest, InverseFunctionsOutsideTheirDomainGiveNaNAndPoles) {
  const Array x = from_host(std::vector<float>{-1, 1, 1.5f}, {3});
  const std::vector<float> atanh = arctanh(x).to_vector<float>();
  EXPECT_EQ(atanh[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(atanh[1], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(atanh[2]));
  EXPECT_TRUE(std::isnan(arcsin(x).to_vector<float>()[2]));
  EXPECT_TRUE(std::isnan(arccosh(from_host(std::vector<float>{0.5f}, {1})).item<float>()));
}

TEST(TrigTest, GradientsFlowThroughTheCompositions) {
  // d/dx arcsin = 1 / sqrt(1 - x^2); d/dx arctanh = 1 / (1 - x^2); d/dx sinh = cosh.
  const Array x = from_host(std::vector<float>{0.5f}, {1});
  auto derivative = [&](Array (*f)(const Array&)) {
    return grad([f](const Array& v) { return sum(f(v)); })(x).item<float>();
  };
  EXPECT_NEAR(derivative(&arcsin), 1 / std::sqrt(0.75), 1e-5);
  EXPECT_NEAR(derivative(&arccos), -1 / std::sqrt(0.75), 1e-5);
  EXPECT_NEAR(derivative(&arctan), 1 / 1.25, 1e-5);
  EXPECT_NEAR(derivative(&arctanh), 1 / 0.75, 1e-5);
  EXPECT_NEAR(derivative(&sinh), std::cosh(0.5), 1e-5);
  EXPECT_NEAR(derivative(&cosh), std::sinh(0.5), 1e-5);
  EXPECT_NEAR(derivative(&arcsinh), 1 / std::sqrt(1.25), 1e-5);
  EXPECT_NEAR(derivative(&tan), 1 / (std::cos(0.5) * std::cos(0.5)), 1e-5);
}

TEST(CompareTest, ArrayEqualOfDifferentShapesIsFalse) {
  const Array a = zeros({2, 3});
  EXPECT_FALSE(array_equal(a, zeros({3, 2})).item<bool>());
  EXPECT_TRUE(array_equal(a, zeros({2, 3}, int32)).item<bool>());  // values, not dtypes
  EXPECT_FALSE(allclose(a, a + 1e-3).item<bool>());
  EXPECT_TRUE(allclose(a, a + 1e-3, 0, 1e-2).item<bool>());
}

TEST(CompareTest, NanToNumUsesEachDtypesLargestFiniteValue) {
  const Array x = from_host(std::vector<float>{NAN, INFINITY, -INFINITY, 2}, {4});
  EXPECT_THAT(astype(nan_to_num(astype(x, float16)), float32).to_vector<float>(),
              ElementsAre(0, 65504, -65504, 2));
  EXPECT_THAT(
      nan_to_num(astype(x, float64)).to_vector<double>(),
      ElementsAre(0, std::numeric_limits<double>::max(), std::numeric_limits<double>::lowest(), 2));
  const Array ints = from_host(std::vector<int32_t>{1, 2}, {2});
  EXPECT_EQ(nan_to_num(ints).dtype(), int32);
}

TEST(TriangularTest, MasksTheLastTwoAxesOfABatch) {
  const Array x = reshape(arange(1, 9, int32), {2, 2, 2});
  EXPECT_THAT(tril(x).to_vector<int32_t>(), ElementsAre(1, 0, 3, 4, 5, 0, 7, 8));
  EXPECT_THAT(triu(x).to_vector<int32_t>(), ElementsAre(1, 2, 0, 4, 5, 6, 0, 8));
  EXPECT_THAT(triu(x, 1).to_vector<int32_t>(), ElementsAre(0, 2, 0, 0, 0, 6, 0, 0));
  EXPECT_EQ(tril(x).dtype(), int32);
  EXPECT_THAT(eye(2, bool_).to_vector<bool>(), ElementsAre(true, false, false, true));
  EXPECT_THAT(identity(2, int32).to_vector<int32_t>(), ElementsAre(1, 0, 0, 1));
  EXPECT_EQ(eye(0).shape(), (Shape{0, 0}));
}

TEST(TriangularTest, RefusesWhatHasNoTriangle) {
  EXPECT_THAT(BuildError([] { tril(zeros({3})); }),
              HasSubstr("[tril] needs at least 2 dimensions, got 1."));
  EXPECT_THAT(BuildError([] { eye(-1, 2); }), HasSubstr("[eye] needs non-negative extents"));
  EXPECT_THAT(BuildError([] { tri(2, -3); }), HasSubstr("[tri] needs non-negative extents"));
}

TEST(LinspaceTest, EndpointsAndCounts) {
  EXPECT_THAT(linspace(0, 1, 5).to_vector<float>(), ElementsAre(0, 0.25, 0.5, 0.75, 1));
  EXPECT_THAT(linspace(3, 9, 1).to_vector<float>(), ElementsAre(3));
  EXPECT_EQ(linspace(3, 9, 0).shape(), (Shape{0}));
  // float16 counts past 2048 exactly in float32 and rounds once: the last value is stop.
  const std::vector<float> halves =
      astype(linspace(0, 4096, 4097, float16), float32).to_vector<float>();
  EXPECT_EQ(halves[2049], 2048);  // a tie, to the even 2048
  EXPECT_EQ(halves[2051], 2052);  // a tie, to the even 2052
  EXPECT_EQ(halves[2050], 2050);
  EXPECT_EQ(halves.back(), 4096);
  EXPECT_THAT(BuildError([] { linspace(0, 1, -1); }), HasSubstr("[linspace] needs num >= 0"));
  EXPECT_THAT(BuildError([] { linspace(0, 1, 3, int32); }),
              HasSubstr("[linspace] needs a floating dtype, got int32"));
}

TEST(TensordotTest, SumsTheNamedAxesAndKeepsTheRestInOrder) {
  const Array a = astype(reshape(arange(24, int32), {2, 3, 4}), float32);
  const Array b = astype(reshape(arange(12, int32), {4, 3}), float32);
  // Sum a's axes 1 and 2 against b's axes 1 and 0: result (2,).
  Array c = tensordot(a, b, {1, 2}, {1, 0});
  EXPECT_EQ(c.shape(), (Shape{2}));
  Array reference = sum(a * expand_dims(transpose(b), 0), std::vector<int>{1, 2});
  EXPECT_THAT(c.to_vector<float>(), Pointwise(FloatNear(1e-3), reference.to_vector<float>()));
  EXPECT_EQ(tensordot(a, b, 1).shape(), (Shape{2, 3, 3}));
  EXPECT_EQ(tensordot(a, b, 0).shape(), (Shape{2, 3, 4, 4, 3}));
  EXPECT_THAT(BuildError([&] { tensordot(a, b, std::vector<int>{0}, std::vector<int>{0}); }),
              HasSubstr("[tensordot] axis 0 of a (2) does not match axis 0 of b (4)."));
  EXPECT_THAT(BuildError([&] {
                tensordot(a, b, std::vector<int>{0, 1}, std::vector<int>{0});
              }),
              HasSubstr("[tensordot] sums 2 axes of a against 1 of b."));
  EXPECT_THAT(BuildError([&] { tensordot(a, b, 3); }),
              HasSubstr("[tensordot] cannot sum 3 axes of arrays of rank 3 and 2."));
}

TEST(TensordotTest, InnerOfScalarsMultipliesAndOuterFlattens) {
  const Array v = from_host(std::vector<float>{1, 2}, {2});
  EXPECT_THAT(inner(v, full({}, 3.0f)).to_vector<float>(), ElementsAre(3, 6));
  EXPECT_FLOAT_EQ(inner(v, v).item<float>(), 5);
  EXPECT_EQ(outer(reshape(v, {1, 2}), v).shape(), (Shape{2, 2}));
}

TEST(DiagonalTest, AxesOffsetsAndErrors) {
  Array m = reshape(arange(12, int32), {3, 4});
  EXPECT_THAT(diagonal(m).to_vector<int32_t>(), ElementsAre(0, 5, 10));
  EXPECT_THAT(diagonal(m, 1).to_vector<int32_t>(), ElementsAre(1, 6, 11));
  EXPECT_THAT(diagonal(m, -1).to_vector<int32_t>(), ElementsAre(4, 9));
  EXPECT_EQ(diagonal(m, 4).shape(), (Shape{0}));
  EXPECT_THAT(diag(from_host(std::vector<int32_t>{1, 2}, {2}), 1).to_vector<int32_t>(),
              ElementsAre(0, 1, 0, 0, 0, 2, 0, 0, 0));
  EXPECT_THAT(BuildError([] { diagonal(zeros({3})); }),
              HasSubstr("[diagonal] needs at least 2 dimensions, got 1."));
  EXPECT_THAT(BuildError([] {
                diagonal(zeros({3, 3}), 0, 1, -1);
              }),
              HasSubstr("[diagonal] axis1 and axis2 are both axis 1."));
  EXPECT_THAT(BuildError([] {
                diag(zeros({2, 2, 2}));
              }),
              HasSubstr("[diag] needs a 1-D or 2-D array, got rank 3."));
}

TEST(GridTest, MeshgridAndKron) {
  const Array x = from_host(std::vector<int32_t>{1, 2, 3}, {3});
  const Array y = from_host(std::vector<int32_t>{7, 8}, {2});
  std::vector<Array> xy = meshgrid({x, y});
  EXPECT_EQ(xy[0].shape(), (Shape{2, 3}));
  EXPECT_THAT(xy[1].to_vector<int32_t>(), ElementsAre(7, 7, 7, 8, 8, 8));
  std::vector<Array> sparse = meshgrid({x, y}, true, "ij");
  EXPECT_EQ(sparse[0].shape(), (Shape{3, 1}));
  EXPECT_EQ(sparse[1].shape(), (Shape{1, 2}));
  EXPECT_THAT(BuildError([&] { meshgrid({x}, false, "yx"); }),
              HasSubstr("[meshgrid] indexing must be \"xy\" or \"ij\", got \"yx\"."));
  // kron of shapes (2,) and (2, 2): (1, 2) against (2, 2) gives (2, 4).
  Array k = kron(from_host(std::vector<int32_t>{1, 10}, {2}), reshape(arange(4, int32), {2, 2}));
  EXPECT_EQ(k.shape(), (Shape{2, 4}));
  EXPECT_THAT(k.to_vector<int32_t>(), ElementsAre(0, 1, 0, 10, 2, 3, 20, 30));
}

TEST(NormTest, DtypesGradientsSingularValueNormsAndErrors) {
  const Array ints = from_host(std::vector<int32_t>{3, -4}, {2});
  EXPECT_EQ(linalg::norm(ints).dtype(), float32);
  EXPECT_FLOAT_EQ(linalg::norm(ints).item<float>(), 5);
  EXPECT_FLOAT_EQ(linalg::norm(ints, 1.0).item<float>(), 7);
  EXPECT_EQ(linalg::norm(zeros({2, 3}), std::nullopt, true).shape(), (Shape{1, 1}));
  EXPECT_EQ(linalg::norm(zeros({2, 3}), 1.0, std::vector<int>{0, 1}, true).shape(), (Shape{1, 1}));
  // d|x|/dx = x / |x|: gradient clipping's building block.
  const Array v = from_host(std::vector<float>{3, 4}, {2});
  EXPECT_THAT(grad([](const Array& a) { return linalg::norm(a); })(v).to_vector<float>(),
              Pointwise(FloatNear(1e-6), std::vector<float>{0.6f, 0.8f}));
  // The singular value norms: diag(3, -4) has singular values 4 and 3.
  const Array d = from_host(std::vector<float>{3, 0, 0, -4}, {2, 2});
  EXPECT_FLOAT_EQ(linalg::norm(d, 2.0).item<float>(), 4);
  EXPECT_FLOAT_EQ(linalg::norm(d, -2.0).item<float>(), 3);
  EXPECT_FLOAT_EQ(linalg::norm(d, "nuc").item<float>(), 7);
  EXPECT_EQ(linalg::norm(zeros({2, 3, 4}), 2.0, std::vector<int>{0, 2}, true).shape(),
            (Shape{1, 3, 1}));
  EXPECT_THAT(BuildError([] {
                linalg::norm(zeros({2, 2, 2}), 2.0);
              }),
              HasSubstr("[norm] with an order needs axes, or a 1-D or 2-D array; got rank 3."));
  EXPECT_THAT(BuildError([] {
                linalg::norm(zeros({2, 2, 2}), std::vector<int>{0, 1, 2});
              }),
              HasSubstr("[norm] takes 1 (vector) or 2 (matrix) axes, got 3."));
  EXPECT_THAT(BuildError([] { linalg::norm(zeros({2}), "fro"); }),
              HasSubstr("[norm] order \"fro\" is a matrix norm; it needs 2 axes."));
}

TEST(ErfinvTest, InvertsErfToTheDtypesPrecision) {
  // erfinv(0.5) = 0.47693627620446987338 (Mathematica).
  EXPECT_NEAR(erfinv(full({}, 0.5)).item<float>(), 0.4769362762f, 2e-7);
  EXPECT_NEAR(erfinv(full({}, 0.5, float64)).item<double>(), 0.47693627620446987338, 1e-15);
  std::vector<double> ys;
  for (int i = -999; i <= 999; i += 37) ys.push_back(i / 1000.0);
  const Array y = from_host(ys, {static_cast<int64_t>(ys.size())});
  EXPECT_THAT(erf(erfinv(astype(y, float32))).to_vector<float>(),
              Pointwise(FloatNear(3e-7), std::vector<float>(ys.begin(), ys.end())));
  EXPECT_THAT(erf(erfinv(y)).to_vector<double>(), Pointwise(DoubleNear(2e-16), ys));
  const std::vector<float> edges =
      erfinv(from_host(std::vector<float>{-1, 1, 1.5f, 0}, {4})).to_vector<float>();
  EXPECT_EQ(edges[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(edges[1], std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(edges[2]));
  EXPECT_EQ(edges[3], 0);
  EXPECT_EQ(erfinv(from_host(std::vector<int32_t>{0}, {1})).dtype(), float32);
  // d/dy erfinv(y) = sqrt(pi) / 2 exp(erfinv(y)^2).
  const double z = 0.47693627620446987338;
  EXPECT_NEAR(grad([](const Array& v) { return sum(erfinv(v)); })(full({1}, 0.5)).item<float>(),
              std::sqrt(M_PI) / 2 * std::exp(z * z), 1e-5);
  EXPECT_NEAR(
      grad([](const Array& v) { return sum(erfinv(v)); })(zeros({1}, float64)).item<double>(),
      std::sqrt(M_PI) / 2, 1e-12);
}

}  // namespace
}  // namespace ferry
