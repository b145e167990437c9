// The linalg decompositions and solves as the client sees them: result shapes and dtypes,
// broadcasting, the inverses built on the solves, and errors at build time and at eval.
// Their numbers are checked against NumPy (ops_numpy_test), their vjps by finite differences
// (vjp_rules_test) and the kernels by their invariants (kernels/cpu/linalg_test).

#include <cmath>
#include <complex>
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

TEST(DecompositionsTest, ResultShapesFollowNumPy) {
  const Array tall = zeros({2, 5, 3}), wide = zeros({3, 5});
  auto [q, r] = linalg::qr(tall);
  EXPECT_EQ(q.shape(), (Shape{2, 5, 3}));
  EXPECT_EQ(r.shape(), (Shape{2, 3, 3}));
  auto [q_wide, r_wide] = linalg::qr(wide);
  EXPECT_EQ(q_wide.shape(), (Shape{3, 3}));
  EXPECT_EQ(r_wide.shape(), (Shape{3, 5}));
  const std::vector<Array> usv = linalg::svd(tall);
  ASSERT_EQ(usv.size(), 3u);
  EXPECT_EQ(usv[0].shape(), (Shape{2, 5, 5}));
  EXPECT_EQ(usv[1].shape(), (Shape{2, 3}));
  EXPECT_EQ(usv[2].shape(), (Shape{2, 3, 3}));
  const std::vector<Array> s = linalg::svd(wide, false);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].shape(), (Shape{3}));
  auto [w, v] = linalg::eigh(zeros({4, 2, 2}));
  EXPECT_EQ(w.shape(), (Shape{4, 2}));
  EXPECT_EQ(v.shape(), (Shape{4, 2, 2}));
  EXPECT_EQ(linalg::eigvalsh(zeros({2, 2})).shape(), (Shape{2}));
}

TEST(DecompositionsTest, IntegersComputeInFloat32AndDtypesAreKept) {
  const Array diagonal = from_host(std::vector<int32_t>{4, 0, 0, 9}, {2, 2});
  Array l = linalg::cholesky(diagonal);
  EXPECT_EQ(l.dtype(), float32);
  EXPECT_THAT(l.to_vector<float>(), ElementsAre(2, 0, 0, 3));
  EXPECT_EQ(linalg::eigvalsh(astype(diagonal, bfloat16)).dtype(), bfloat16);
  EXPECT_EQ(linalg::inv(astype(diagonal, float64)).dtype(), float64);
  EXPECT_THAT(astype(linalg::eigvalsh(astype(diagonal, float16)), float32).to_vector<float>(),
              ElementsAre(4, 9));
}

TEST(SolveTest, BatchesBroadcastAndAVectorStaysAVector) {
  const Array a = from_host(std::vector<double>{2, 0, 0, 4, 1, 0, 0, 1}, {2, 2, 2});
  const Array vector = from_host(std::vector<double>{2, 4}, {2});
  Array x = linalg::solve(a, vector);
  EXPECT_EQ(x.shape(), (Shape{2, 2}));
  EXPECT_THAT(x.to_vector<double>(), ElementsAre(1, 1, 2, 4));
  const Array columns = linalg::solve(slice(a, {0, 0, 0}, {1, 2, 2}), ones({3, 2, 5}, float64));
  EXPECT_EQ(columns.shape(), (Shape{3, 2, 5}));
  EXPECT_EQ(linalg::solve(a, ones({2, 3}, float32)).dtype(), float64);
}

TEST(SolveTest, OneMatrixForABatchOfRightHandSidesGivesEachItsSolution) {
  // Factored once with the batch's columns side by side; each entry as if solved alone.
  Array a = from_host(std::vector<double>{4, 1, 0, 2, 5, 1, 0, 1, 3}, {3, 3});
  Array b = reshape(arange(24.0, float64), {2, 2, 3, 2});
  Array lower = tril(a);
  for (bool triangular : {false, true}) {
    SCOPED_TRACE(triangular);
    Array x = triangular ? linalg::solve_triangular(lower, b) : linalg::solve(a, b);
    ASSERT_EQ(x.shape(), (Shape{2, 2, 3, 2}));
    const std::vector<double> got = x.to_vector<double>();
    for (int i = 0; i < 4; ++i) {
      Array entry = reshape(slice(reshape(b, {4, 3, 2}), {i, 0, 0}, {i + 1, 3, 2}), {3, 2});
      const std::vector<double> want =
          (triangular ? linalg::solve_triangular(lower, entry) : linalg::solve(a, entry))
              .to_vector<double>();
      for (int e = 0; e < 6; ++e) EXPECT_NEAR(got[i * 6 + e], want[e], 1e-12) << i << " " << e;
    }
  }
  // a's extra batch axes of 1 stay in the result's shape, as broadcasting gives.
  EXPECT_EQ(linalg::solve(reshape(a, {1, 1, 3, 3}), ones({4, 3, 1}, float64)).shape(),
            (Shape{1, 4, 3, 1}));
}

TEST(SolveTest, InversesSolveAgainstTheIdentity) {
  const Array a = from_host(std::vector<double>{4, 7, 2, 6}, {2, 2});
  EXPECT_THAT(linalg::inv(a).to_vector<double>(),
              Pointwise(DoubleNear(1e-15), std::vector<double>{0.6, -0.7, -0.2, 0.4}));
  // Only the named triangle is read: the 7 (above) and the 2 (below) are ignored in turn.
  EXPECT_THAT(linalg::tri_inv(a).to_vector<double>(),
              Pointwise(DoubleNear(1e-15), std::vector<double>{0.25, 0, -1.0 / 12, 1.0 / 6}));
  EXPECT_THAT(linalg::tri_inv(a, true).to_vector<double>(),
              Pointwise(DoubleNear(1e-15), std::vector<double>{0.25, -7.0 / 24, 0, 1.0 / 6}));
  const Array spd = from_host(std::vector<double>{4, 2, 2, 3}, {2, 2});
  for (bool upper : {false, true}) {
    EXPECT_THAT(linalg::cholesky_inv(linalg::cholesky(spd, upper), upper).to_vector<double>(),
                Pointwise(DoubleNear(1e-15), std::vector<double>{0.375, -0.25, -0.25, 0.5}));
  }
}

TEST(SolveTest, PinvOfARankDeficientMatrixDropsTheZeroSingularValue) {
  // Rank 1: pinv(u v^T) = v u^T / (|u|^2 |v|^2).
  const Array a = from_host(std::vector<double>{1, 2, 3, 2, 4, 6}, {2, 3});
  Array p = linalg::pinv(a);
  EXPECT_EQ(p.shape(), (Shape{3, 2}));
  EXPECT_THAT(p.to_vector<double>(),
              Pointwise(DoubleNear(1e-14), std::vector<double>{1 / 70.0, 2 / 70.0, 2 / 70.0,
                                                               4 / 70.0, 3 / 70.0, 6 / 70.0}));
  EXPECT_EQ(linalg::pinv(zeros({0, 3})).shape(), (Shape{3, 0}));
}

TEST(LuTest, AsMlx) {
  // MLX 0.32.4: lu([[1, 2], [3, 4]]) = P [1, 0], L [[1, 0], [1/3, 1]], U [[3, 4], [0, 2/3]];
  // lu_factor: LU [[3, 4], [1/3, 2/3]], pivots [1, 1].
  const Array a = from_host(std::vector<float>{1, 2, 3, 4}, {2, 2});
  std::vector<Array> plu = linalg::lu(a);
  ASSERT_EQ(plu.size(), 3u);
  EXPECT_EQ(plu[0].dtype(), uint32);
  EXPECT_THAT(plu[0].to_vector<uint32_t>(), ElementsAre(1, 0));
  EXPECT_THAT(plu[1].to_vector<float>(), Pointwise(FloatNear(1e-7), {1.f, 0.f, 1 / 3.f, 1.f}));
  EXPECT_THAT(plu[2].to_vector<float>(), Pointwise(FloatNear(1e-6), {3.f, 4.f, 0.f, 2 / 3.f}));
  auto [factors, pivots] = linalg::lu_factor(a);
  EXPECT_THAT(factors.to_vector<float>(), Pointwise(FloatNear(1e-6), {3.f, 4.f, 1 / 3.f, 2 / 3.f}));
  EXPECT_THAT(pivots.to_vector<uint32_t>(), ElementsAre(1, 1));
  // Wide and 16-bit: MLX gives P [0, 1], L [[1, 0], [1, 1]], U [[1, 1, 1], [0, 0, 0]].
  std::vector<Array> wide = linalg::lu(ones({2, 3}, bfloat16));
  EXPECT_EQ(wide[1].dtype(), bfloat16);
  EXPECT_EQ(wide[1].shape(), (Shape{2, 2}));
  EXPECT_EQ(wide[2].shape(), (Shape{2, 3}));
  EXPECT_THAT(wide[0].to_vector<uint32_t>(), ElementsAre(0, 1));
  EXPECT_THAT(astype(wide[2], float32).to_vector<float>(), ElementsAre(1, 1, 1, 0, 0, 0));
}

TEST(EigTest, AsMlxAndNumPy) {
  // MLX 0.32.4 (and NumPy 1.26.4) on the CPU: eig([[1, 2, 0], [-2, 1, 3], [0.5, 0, 2]]).
  using c64 = std::complex<float>;
  const Array a = from_host(std::vector<float>{1, 2, 0, -2, 1, 3, 0.5f, 0, 2}, {3, 3});
  auto [values, vectors] = linalg::eig(a);
  EXPECT_EQ(values.dtype(), complex64);
  EXPECT_EQ(vectors.shape(), (Shape{3, 3}));
  const std::vector<c64> want_values = {
      {0.758124f, 2.15853f}, {0.758124f, -2.15853f}, {2.48375f, 0}};
  const std::vector<c64> want_vectors = {
      {0.0747431f, 0.667019f},  {0.0747431f, -0.667019f}, {0.617958f, 0},
      {-0.72893f, 0},           {-0.72893f, 0},           {0.458448f, 0},
      {0.108599f, -0.0797942f}, {0.108599f, 0.0797942f},  {0.638713f, 0}};
  const std::vector<c64> got_values = values.to_vector<c64>();
  const std::vector<c64> got_vectors = vectors.to_vector<c64>();
  for (int i = 0; i < 3; ++i) EXPECT_LT(std::abs(got_values[i] - want_values[i]), 1e-5f) << i;
  for (int i = 0; i < 9; ++i) EXPECT_LT(std::abs(got_vectors[i] - want_vectors[i]), 1e-5f) << i;
  // A v = w v for each column, on a random batch in float64 too.
  const Array batch = random::normal({4, 6, 6}, float64, 0.0, 1.0, random::key(3));
  auto [w, v] = linalg::eig(batch);
  const Array residual = abs(matmul(batch, v) - v * expand_dims(w, -2));
  EXPECT_LT(max(residual).item<float>(), 1e-4f);
  EXPECT_THAT(linalg::eigvals(from_host(std::vector<float>{2, 0, 0, 3}, {2, 2})).to_vector<c64>(),
              ElementsAre(c64(2), c64(3)));
  EXPECT_THAT(BuildError([&] { linalg::eig(zeros({2, 3}, float32)); }), HasSubstr("[eig]"));
}

TEST(DeterminantTest, SignsFromPivotsAndSingularMatrices) {
  // A row swap: det [[0, 1], [1, 0]] = -1.
  Array swap = from_host(std::vector<double>{0, 1, 1, 0}, {2, 2});
  EXPECT_THAT(linalg::det(swap).to_vector<double>(), ElementsAre(-1));
  auto [sign, logabsdet] = linalg::slogdet(from_host(std::vector<double>{1, 2, 2, 4}, {2, 2}));
  EXPECT_THAT(sign.to_vector<double>(), ElementsAre(0));
  EXPECT_THAT(logabsdet.to_vector<double>(), ElementsAre(-INFINITY));
  // 1e-30 I (60 x 60): det underflows to 0, slogdet does not.
  Array tiny = eye(60, float32) * 1e-30f;
  EXPECT_THAT(linalg::det(tiny).to_vector<float>(), ElementsAre(0));
  auto [tiny_sign, tiny_log] = linalg::slogdet(tiny);
  EXPECT_THAT(tiny_sign.to_vector<float>(), ElementsAre(1));
  EXPECT_NEAR(tiny_log.item<float>(), 60 * std::log(1e-30), 1e-2);
  EXPECT_THAT(linalg::det(zeros({3, 0, 0})).to_vector<float>(), ElementsAre(1, 1, 1));
  EXPECT_EQ(BuildError([] {
              linalg::det(zeros({2, 3}));
            }),
            "[det] needs square matrices (an array of rank >= 2), got shape (2, 3).");
}

TEST(CrossTest, TwoVectorsGetAZeroThirdComponentAndBatchesBroadcast) {
  // As MLX (NumPy returns only the z component for two 2-vectors).
  Array planar = linalg::cross(from_host(std::vector<float>{1, 2}, {2}),
                               from_host(std::vector<float>{3, 4}, {2}));
  EXPECT_THAT(planar.to_vector<float>(), ElementsAre(0, 0, -2));
  EXPECT_EQ(linalg::cross(ones({2, 3, 1}), ones({3, 4}), -2).shape(), (Shape{2, 3, 4}));
  Array ints = linalg::cross(from_host(std::vector<int32_t>{1, 0, 0}, {3}),
                             from_host(std::vector<int32_t>{0, 1, 0}, {3}));
  EXPECT_EQ(ints.dtype(), int32);
  EXPECT_THAT(ints.to_vector<int32_t>(), ElementsAre(0, 0, 1));
  EXPECT_EQ(BuildError([] { linalg::cross(ones({4}), ones({3})); }),
            "[cross] a must have length 2 or 3 along axis -1, got shape (4,).");
}

TEST(LinalgErrorsTest, BadShapesThrowWhenBuilt) {
  EXPECT_EQ(BuildError([] {
              linalg::cholesky(zeros({2, 3}));
            }),
            "[cholesky] needs square matrices (an array of rank >= 2), got shape (2, 3).");
  EXPECT_EQ(BuildError([] { linalg::qr(zeros({3})); }),
            "[qr] needs matrices (an array of rank >= 2), got shape (3,).");
  EXPECT_EQ(BuildError([] {
              linalg::eigh(zeros({2, 2}), "X");
            }),
            "[eigh] UPLO must be \"L\" or \"U\", got \"X\".");
  EXPECT_EQ(BuildError([] {
              linalg::solve(zeros({3, 3}), zeros({2}));
            }),
            "[solve] b must have 3 rows to match a (3, 3), got shape (2,).");
  EXPECT_EQ(BuildError([] {
              linalg::solve(zeros({2, 3, 3}), zeros({4, 3, 1}));
            }),
            "[solve] the batches of a (2, 3, 3) and b (4, 3, 1) do not broadcast.");
  EXPECT_EQ(BuildError([] { linalg::inv(zeros({3})); }),
            "[inv] a must be square matrices (rank >= 2), got shape (3,).");
}

TEST(LinalgErrorsTest, AMatrixThatCannotBeFactoredFailsItsEval) {
  const Array batch = from_host(std::vector<float>{1, 0, 0, 1, 1, 2, 2, 1}, {2, 2, 2});
  try {
    linalg::cholesky(batch).to_vector<float>();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[cholesky] matrix 1 of the batch is not positive definite"));
  }
  try {
    linalg::inv(from_host(std::vector<float>{1, 2, 2, 4}, {2, 2})).to_vector<float>();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[solve] the matrix is singular"));
  }
}

}  // namespace
}  // namespace ferry
