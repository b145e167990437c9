// The CPU's linear algebra (LAPACK), checked by what each factorization promises: products
// that give the input back, orthogonal factors, triangles, orders, and refusals.

#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/linalg_layout.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

using Matrix = std::vector<double>;  // row-major

std::vector<double> RandomValues(int64_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> values(static_cast<size_t>(n));
  for (double& v : values) v = dist(gen);
  return values;
}

// (m x k) @ (k x n), with either operand read transposed.
Matrix Product(const double* a, const double* b, int m, int k, int n, bool at = false,
               bool bt = false) {
  Matrix c(static_cast<size_t>(m) * n, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      for (int p = 0; p < k; ++p) {
        c[i * n + j] += (at ? a[p * m + i] : a[i * k + p]) * (bt ? b[j * k + p] : b[p * n + j]);
      }
    }
  }
  return c;
}

// a a^T + n I: symmetric positive definite.
Matrix SpdMatrix(int n, uint32_t seed) {
  const Matrix a = RandomValues(n * n, seed);
  Matrix spd = Product(a.data(), a.data(), n, n, n, false, true);
  for (int i = 0; i < n; ++i) spd[i * n + i] += n;
  return spd;
}

void ExpectNear(const Matrix& actual, const Matrix& expected, double tolerance) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "element " << i;
  }
}

Matrix Identity(int n) {
  Matrix eye(static_cast<size_t>(n) * n, 0.0);
  for (int i = 0; i < n; ++i) eye[i * n + i] = 1.0;
  return eye;
}

TEST(CholeskyTest, LowerFactorTimesItsTransposeIsTheInput) {
  const absl::StatusOr<core::HostTensor> l =
      RunOp("cholesky", {MakeHost(DType::kFloat64, {2, 2}, {4, 2, 2, 3})}, {{"upper", int64_t{0}}});
  ASSERT_TRUE(l.ok()) << l.status();
  ExpectNear(Values(*l), {2, 0, 1, std::sqrt(2.0)}, 1e-12);
}

TEST(CholeskyTest, UpperIsTheTransposeAndEachReadsOnlyItsTriangle) {
  const int n = 6;
  Matrix spd = SpdMatrix(n, 1);
  Matrix lower_only = spd, upper_only = spd;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      if (j > i) lower_only[i * n + j] = 99.0;
      if (j < i) upper_only[i * n + j] = 99.0;
    }
  }
  const auto l =
      RunOp("cholesky", {MakeHost(DType::kFloat64, {n, n}, lower_only)}, {{"upper", int64_t{0}}});
  const auto u =
      RunOp("cholesky", {MakeHost(DType::kFloat64, {n, n}, upper_only)}, {{"upper", int64_t{1}}});
  ASSERT_TRUE(l.ok() && u.ok()) << l.status() << u.status();
  const Matrix lv = Values(*l), uv = Values(*u);
  ExpectNear(Product(lv.data(), lv.data(), n, n, n, false, true), spd, 1e-10);
  ExpectNear(Product(uv.data(), uv.data(), n, n, n, true, false), spd, 1e-10);
  for (int i = 0; i < n; ++i) {
    for (int j = i + 1; j < n; ++j) {
      EXPECT_EQ(lv[i * n + j], 0.0);
      EXPECT_EQ(uv[j * n + i], 0.0);
    }
  }
}

TEST(CholeskyTest, AMatrixThatIsNotPositiveDefiniteIsNamed) {
  Matrix batch = Identity(2);
  const Matrix indefinite = {1, 2, 2, 1};
  batch.insert(batch.end(), indefinite.begin(), indefinite.end());
  const auto l =
      RunOp("cholesky", {MakeHost(DType::kFloat32, {2, 2, 2}, batch)}, {{"upper", int64_t{0}}});
  ASSERT_EQ(l.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(l.status().message(),
            "[cholesky] matrix 1 of the batch is not positive definite (its leading minor of "
            "order 2 is not)");
}

TEST(SolveTest, SolvesEachSystemOfTheBatch) {
  const int n = 5, k = 3;
  const Matrix a = RandomValues(2 * n * n, 2), b = RandomValues(2 * n * k, 3);
  const auto x = RunOp(
      "solve", {MakeHost(DType::kFloat64, {2, n, n}, a), MakeHost(DType::kFloat64, {2, n, k}, b)});
  ASSERT_TRUE(x.ok()) << x.status();
  const Matrix xv = Values(*x);
  for (int i = 0; i < 2; ++i) {
    ExpectNear(Product(a.data() + i * n * n, xv.data() + i * n * k, n, n, k),
               Matrix(b.begin() + i * n * k, b.begin() + (i + 1) * n * k), 1e-10);
  }
}

TEST(SolveTest, MixedDtypesPromoteAndSixteenBitsComputeInFloat32) {
  const auto x = RunOp("solve", {MakeHost(DType::kFloat16, {2, 2}, {2, 0, 0, 4}),
                                 MakeHost(DType::kFloat32, {2, 1}, {1, 1})});
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(x->type.dtype, DType::kFloat32);
  ExpectNear(Values(*x), {0.5, 0.25}, 0.0);
}

TEST(SolveTest, ASingularMatrixIsRefused) {
  const auto x = RunOp("solve", {MakeHost(DType::kFloat32, {2, 2}, {1, 2, 2, 4}),
                                 MakeHost(DType::kFloat32, {2, 1}, {1, 1})});
  ASSERT_EQ(x.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.status().message(),
            "[solve] the matrix is singular (U[1, 1] of its LU factorization is zero)");
}

TEST(SolveTriangularTest, LowerAndUpperReadOnlyTheirTriangle) {
  const int n = 4, k = 2;
  Matrix t = RandomValues(n * n, 4);
  for (int i = 0; i < n; ++i) t[i * n + i] += 3.0;
  const Matrix b = RandomValues(n * k, 5);
  for (int upper = 0; upper < 2; ++upper) {
    Matrix clean = t;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        if (upper ? j < i : j > i) clean[i * n + j] = 0.0;
      }
    }
    const auto x =
        RunOp("solve_triangular",
              {MakeHost(DType::kFloat64, {n, n}, t), MakeHost(DType::kFloat64, {n, k}, b)},
              {{"upper", int64_t{upper}}});
    ASSERT_TRUE(x.ok()) << x.status();
    ExpectNear(Product(clean.data(), Values(*x).data(), n, n, k), b, 1e-12);
  }
}

TEST(SolveTriangularTest, AZeroOnTheDiagonalIsRefused) {
  const auto x = RunOp(
      "solve_triangular",
      {MakeHost(DType::kFloat32, {2, 2}, {1, 0, 5, 0}), MakeHost(DType::kFloat32, {2, 1}, {1, 1})},
      {{"upper", int64_t{0}}});
  ASSERT_EQ(x.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(x.status().message(),
            "[solve_triangular] the matrix is singular (its diagonal element 1 is zero)");
}

class QrTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(QrTest, QHasOrthonormalColumnsRIsUpperAndQRIsTheInput) {
  const auto [m, n] = GetParam();
  const int k = std::min(m, n);
  const Matrix a = RandomValues(m * n, 6);
  const auto qr = RunOp("qr", {MakeHost(DType::kFloat64, {m, n}, a)});
  ASSERT_TRUE(qr.ok()) << qr.status();
  const core::LinalgLayout layout = core::QrLayout(m, n);
  ASSERT_EQ(qr->type.shape, (core::Shape{layout.size}));
  const Matrix packed = Values(*qr);
  const double* q = packed.data() + layout.parts[0].offset;
  const double* r = packed.data() + layout.parts[1].offset;
  ExpectNear(Product(q, q, k, m, k, true, false), Identity(k), 1e-12);
  ExpectNear(Product(q, r, m, k, n), a, 1e-12);
  for (int i = 0; i < k; ++i) {
    for (int j = 0; j < i; ++j) EXPECT_EQ(r[i * n + j], 0.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, QrTest,
                         ::testing::Values(std::make_pair(5, 3), std::make_pair(3, 5),
                                           std::make_pair(4, 4)));

class SvdTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(SvdTest, OrthogonalFactorsAroundDescendingValuesGiveTheInput) {
  const auto [m, n] = GetParam();
  const int k = std::min(m, n);
  const Matrix a = RandomValues(m * n, 7);
  const auto svd =
      RunOp("svd", {MakeHost(DType::kFloat64, {m, n}, a)}, {{"compute_uv", int64_t{1}}});
  ASSERT_TRUE(svd.ok()) << svd.status();
  const core::LinalgLayout layout = core::SvdLayout(m, n, true);
  const Matrix packed = Values(*svd);
  const double* u = packed.data() + layout.parts[0].offset;
  const double* s = packed.data() + layout.parts[1].offset;
  const double* vt = packed.data() + layout.parts[2].offset;
  ExpectNear(Product(u, u, m, m, m, true, false), Identity(m), 1e-12);
  ExpectNear(Product(vt, vt, n, n, n, false, true), Identity(n), 1e-12);
  Matrix us(static_cast<size_t>(m) * k);  // U[:, :k] diag(S)
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < k; ++j) us[i * k + j] = u[i * m + j] * s[j];
  }
  ExpectNear(Product(us.data(), vt, m, k, n), a, 1e-12);
  for (int j = 1; j < k; ++j) EXPECT_GE(s[j - 1], s[j]);
  EXPECT_GE(s[k - 1], 0.0);

  const auto values =
      RunOp("svd", {MakeHost(DType::kFloat64, {m, n}, a)}, {{"compute_uv", int64_t{0}}});
  ASSERT_TRUE(values.ok()) << values.status();
  ExpectNear(Values(*values), Matrix(s, s + k), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SvdTest,
                         ::testing::Values(std::make_pair(5, 3), std::make_pair(3, 5),
                                           std::make_pair(4, 4)));

TEST(SvdTest, AnEmptyMatrixHasIdentitiesAroundNoValues) {
  const auto svd =
      RunOp("svd", {MakeHost(DType::kFloat32, {0, 2}, {})}, {{"compute_uv", int64_t{1}}});
  ASSERT_TRUE(svd.ok()) << svd.status();
  ExpectNear(Values(*svd), {1, 0, 0, 1}, 0.0);  // U (0 x 0), S (0), Vt = I (2 x 2)
}

TEST(EighTest, EigenvectorsDiagonalizeAndValuesAscend) {
  const int n = 5;
  const Matrix spd = SpdMatrix(n, 8);
  Matrix a = spd;  // indefinite: shift by 1.5 n
  for (int i = 0; i < n; ++i) a[i * n + i] -= 1.5 * n;
  for (int upper = 0; upper < 2; ++upper) {
    Matrix one_triangle = a;
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        if (upper ? j < i : j > i) one_triangle[i * n + j] = -7.0;
      }
    }
    const auto eigh = RunOp("eigh", {MakeHost(DType::kFloat64, {n, n}, one_triangle)},
                            {{"upper", int64_t{upper}}, {"compute_vectors", int64_t{1}}});
    ASSERT_TRUE(eigh.ok()) << eigh.status();
    const core::LinalgLayout layout = core::EighLayout(n, true);
    const Matrix packed = Values(*eigh);
    const double* w = packed.data() + layout.parts[0].offset;
    const double* v = packed.data() + layout.parts[1].offset;
    ExpectNear(Product(v, v, n, n, n, true, false), Identity(n), 1e-12);
    Matrix vw(static_cast<size_t>(n) * n);  // V diag(w)
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) vw[i * n + j] = v[i * n + j] * w[j];
    }
    ExpectNear(Product(a.data(), v, n, n, n), vw, 1e-11);
    for (int j = 1; j < n; ++j) EXPECT_LE(w[j - 1], w[j]);
    const auto values = RunOp("eigh", {MakeHost(DType::kFloat64, {n, n}, one_triangle)},
                              {{"upper", int64_t{upper}}, {"compute_vectors", int64_t{0}}});
    ASSERT_TRUE(values.ok()) << values.status();
    ExpectNear(Values(*values), Matrix(w, w + n), 1e-12);
  }
}

class LuTest : public ::testing::TestWithParam<std::pair<int, int>> {};

TEST_P(LuTest, RowsOfLUInThePermutedOrderGiveTheInput) {
  const auto [m, n] = GetParam();
  const int k = std::min(m, n);
  const Matrix a = RandomValues(2 * m * n, 9);
  const auto lu = RunOp("lu", {MakeHost(DType::kFloat64, {2, m, n}, a)});
  ASSERT_TRUE(lu.ok()) << lu.status();
  const core::LinalgLayout layout = core::LuLayout(m, n);
  ASSERT_EQ(lu->type.shape, (core::Shape{2, layout.size}));
  const Matrix packed = Values(*lu);
  for (int b = 0; b < 2; ++b) {
    const double* factors = packed.data() + b * layout.size;
    const double* pivots = factors + layout.parts[1].offset;
    const double* perm = factors + layout.parts[2].offset;
    Matrix l(static_cast<size_t>(m) * k, 0.0), u(static_cast<size_t>(k) * n, 0.0);
    for (int i = 0; i < m; ++i) {
      for (int j = 0; j < k; ++j) l[i * k + j] = i == j ? 1.0 : i > j ? factors[i * n + j] : 0.0;
    }
    for (int i = 0; i < k; ++i) {
      for (int j = i; j < n; ++j) u[i * n + j] = factors[i * n + j];
    }
    const Matrix product = Product(l.data(), u.data(), m, k, n);
    Matrix permuted(product.size());  // row j of a is row perm[j] of L U
    for (int j = 0; j < m; ++j) {
      for (int c = 0; c < n; ++c) permuted[j * n + c] = product[perm[j] * n + c];
    }
    ExpectNear(permuted, Matrix(a.begin() + b * m * n, a.begin() + (b + 1) * m * n), 1e-12);
    for (int i = 0; i < m; ++i) {  // partial pivoting: |L| <= 1
      for (int j = 0; j < k; ++j) EXPECT_LE(std::abs(l[i * k + j]), 1.0);
    }
    for (int i = 0; i < k; ++i) {
      EXPECT_GE(pivots[i], i);
      EXPECT_LT(pivots[i], m);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, LuTest,
                         ::testing::Values(std::make_pair(4, 4), std::make_pair(5, 3),
                                           std::make_pair(3, 5)));

TEST(LuTest, SixteenBitInputsGiveFloat32AndASingularMatrixIsFactored) {
  const auto lu = RunOp("lu", {MakeHost(DType::kBFloat16, {2, 2}, {1, 2, 2, 4})});
  ASSERT_TRUE(lu.ok()) << lu.status();
  EXPECT_EQ(lu->type.dtype, DType::kFloat32);
  // LU = [[2, 4], [0.5, 0]], pivots [1, 1], permutation [1, 0].
  ExpectNear(Values(*lu), {2, 4, 0.5, 0, 1, 1, 1, 0}, 0.0);
}

// A client may send anything: NaN and infinity must give an answer (NaNs or an error), not a
// hang or a crash of the daemon.
TEST(LinalgTest, NanAndInfinityEndWithAnAnswer) {
  const double nan = std::nan(""), inf = INFINITY;
  for (const Matrix& values :
       {Matrix{nan, 1, 1, nan, 2, 0, 1, 0, 3}, Matrix{inf, 1, 1, 1, -inf, 0, 1, 0, 3}}) {
    const core::HostTensor a = MakeHost(DType::kFloat32, {3, 3}, values);
    for (const auto& [op, attrs] : std::vector<std::pair<std::string, core::Attrs>>{
             {"cholesky", {{"upper", int64_t{0}}}},
             {"qr", {}},
             {"svd", {{"compute_uv", int64_t{1}}}},
             {"svd", {{"compute_uv", int64_t{0}}}},
             {"eigh", {{"upper", int64_t{0}}, {"compute_vectors", int64_t{1}}}},
             {"eig", {{"compute_vectors", int64_t{1}}}},
             {"lu", {}}}) {
      const absl::StatusOr<core::HostTensor> result = RunOp(op, {a}, attrs);
      if (!result.ok()) {
        EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << op;
      }
    }
    for (const char* op : {"solve", "solve_triangular"}) {
      core::Attrs attrs;
      if (std::string(op) == "solve_triangular") attrs = {{"upper", int64_t{1}}};
      const absl::StatusOr<core::HostTensor> result = RunOp(op, {a, a}, attrs);
      if (!result.ok()) {
        EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << op;
      }
    }
  }
}

TEST(LinalgTest, SvdAndEighRefuseNonFiniteElementsInWhatTheyRead) {
  const Matrix with_inf = {1, 0, 0, 1, 2, 0, 0, 0, 3, 0, 0, INFINITY};  // matrix 2: (1, 1)
  const auto svd =
      RunOp("svd", {MakeHost(DType::kFloat32, {3, 2, 2}, with_inf)}, {{"compute_uv", int64_t{0}}});
  ASSERT_EQ(svd.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(svd.status().message(),
            "[svd] matrix 2 of the batch has a non-finite element (NaN or infinity)");
  // eigh reads one triangle: a NaN in the other is no concern.
  const core::HostTensor upper_nan = MakeHost(DType::kFloat32, {2, 2}, {1, std::nan(""), 0, 1});
  EXPECT_TRUE(
      RunOp("eigh", {upper_nan}, {{"upper", int64_t{0}}, {"compute_vectors", int64_t{1}}}).ok());
  EXPECT_EQ(RunOp("eigh", {upper_nan}, {{"upper", int64_t{1}}, {"compute_vectors", int64_t{0}}})
                .status()
                .message(),
            "[eigh] the matrix has a non-finite element (NaN or infinity)");
}

TEST(LinalgTest, ShapesAreCheckedWhenTheOpIsBuilt) {
  EXPECT_EQ(core::InferOp("cholesky", {{DType::kFloat32, {2, 3}}}, {{"upper", int64_t{0}}})
                .status()
                .message(),
            "[cholesky] a must be a floating array of square matrices (rank >= 2), got float32 "
            "(2, 3)");
  EXPECT_EQ(core::InferOp("qr", {{DType::kInt32, {2, 3}}}, {}).status().message(),
            "[qr] a must be a floating array of matrices (rank >= 2), got int32 (2, 3)");
  EXPECT_EQ(core::InferOp("solve", {{DType::kFloat32, {2, 3, 3}}, {DType::kFloat32, {3, 3}}}, {})
                .status()
                .message(),
            "[solve] b must have a's batch and 3 rows ((2, 3, 3)), got (3, 3)");
  EXPECT_EQ(core::InferOp("eigh", {{DType::kFloat32, {3, 3}}},
                          {{"upper", int64_t{2}}, {"compute_vectors", int64_t{1}}})
                .status()
                .message(),
            "[eigh] attribute 'upper' must be 0 or 1, got 2");
  const absl::StatusOr<core::TensorType> svd =
      core::InferOp("svd", {{DType::kBFloat16, {7, 2, 3}}}, {{"compute_uv", int64_t{1}}});
  ASSERT_TRUE(svd.ok()) << svd.status();
  EXPECT_EQ(svd->shape, (core::Shape{7, 4 + 2 + 9}));
}

// A batch of many small matrices runs on all the cores, a run of matrices each: each matrix
// of the batch gets the result it gets alone, to the bit.
TEST(LinalgTest, EachMatrixOfALargeBatchIsFactoredAsItIsAlone) {
  constexpr int kCount = 3000, kN = 8;
  Matrix batch;
  for (int b = 0; b < kCount; ++b) {
    const Matrix spd = SpdMatrix(kN, static_cast<uint32_t>(b));
    batch.insert(batch.end(), spd.begin(), spd.end());
  }
  const core::HostTensor all = MakeHost(DType::kFloat64, {kCount, kN, kN}, batch);
  const core::Attrs eigh = {{"upper", int64_t{0}}, {"compute_vectors", int64_t{1}}};
  const std::vector<std::pair<std::string, core::Attrs>> ops = {
      {"cholesky", {{"upper", int64_t{0}}}},
      {"qr", {}},
      {"svd", {{"compute_uv", int64_t{1}}}},
      {"eigh", eigh},
      {"lu", {}},
      {"eig", {{"compute_vectors", int64_t{1}}}}};
  for (const auto& [op, attrs] : ops) {
    SCOPED_TRACE(op);
    const absl::StatusOr<core::HostTensor> together = RunOp(op, {all}, attrs);
    ASSERT_TRUE(together.ok()) << together.status();
    const size_t each = together->data.size() / kCount;
    for (int b : {0, 1499, 1500, 2999}) {
      const Matrix one(batch.begin() + b * kN * kN, batch.begin() + (b + 1) * kN * kN);
      const absl::StatusOr<core::HostTensor> alone =
          RunOp(op, {MakeHost(DType::kFloat64, {kN, kN}, one)}, attrs);
      ASSERT_TRUE(alone.ok()) << alone.status();
      EXPECT_EQ(together->data.substr(b * each, each), alone->data) << "matrix " << b;
    }
  }
  const absl::StatusOr<core::HostTensor> solved = RunOp(
      "solve", {all, MakeHost(DType::kFloat64, {kCount, kN, 1}, RandomValues(kCount * kN, 5))});
  ASSERT_TRUE(solved.ok()) << solved.status();
}

TEST(LinalgTest, TheFirstMatrixOfALargeBatchThatFailsIsNamed) {
  // 3000 matrices of 8 x 8 run in parts of at least 512 on as many cores as there are: the
  // failures at 1200 and 2500 may fall in different parts, and the first is the one named.
  constexpr int kCount = 3000, kN = 8;
  Matrix batch;
  for (int b = 0; b < kCount; ++b) {
    const Matrix eye = Identity(kN);
    batch.insert(batch.end(), eye.begin(), eye.end());
  }
  for (int b : {2500, 1200}) {
    batch[b * kN * kN] = -1;  // not positive definite: its leading minor of order 1 is not
    const absl::StatusOr<core::HostTensor> l = RunOp(
        "cholesky", {MakeHost(DType::kFloat32, {kCount, kN, kN}, batch)}, {{"upper", int64_t{0}}});
    EXPECT_EQ(l.status().message(),
              absl::StrCat("[cholesky] matrix ", b,
                           " of the batch is not positive definite (its leading minor of order 1 "
                           "is not)"));
  }
}

}  // namespace
}  // namespace ferry::kernels::cpu
