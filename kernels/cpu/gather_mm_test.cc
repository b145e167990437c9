// gather_mm and gather_qmm against their composed formulas, a[lhs[i]] @ b[rhs[i]] per pair,
// computed here in double from the inputs as stored (already rounded to their dtype). Tolerance,
// relative with an absolute floor of the same size: float32 1e-5 (products in float32 over k <=
// 64), float16 2e-3 and bfloat16 1.6e-2 (the result's rounding, 2 ulp), float64 1e-12.

#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"
#include "kernels/fusion.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using ::testing::HasSubstr;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

core::HostTensor Random(DType dtype, const core::Shape& shape, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::vector<double> values(static_cast<size_t>(core::NumElements(shape)));
  for (double& v : values) v = uniform(rng);
  return MakeHost(dtype, shape, values);
}

core::HostTensor Indices(const core::Shape& shape, const std::vector<double>& values) {
  return MakeHost(DType::kInt32, shape, values);
}

// The composed formula; matrices stored transposed when the flags say so (square ones here).
std::vector<double> Reference(const core::HostTensor& a, const core::HostTensor& b,
                              const core::HostTensor& lhs, const core::HostTensor& rhs,
                              bool a_transposed = false, bool b_transposed = false) {
  const std::vector<double> av = Values(a), bv = Values(b), l = Values(lhs), r = Values(rhs);
  const core::Shape& as = a.type.shape;
  const core::Shape& bs = b.type.shape;
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  const int64_t a_count = static_cast<int64_t>(av.size()) / (m * k);
  const int64_t b_count = static_cast<int64_t>(bv.size()) / (k * n);
  std::vector<double> out;
  for (size_t p = 0; p < l.size(); ++p) {
    const int64_t i = (static_cast<int64_t>(l[p]) + a_count) % a_count;
    const int64_t j = (static_cast<int64_t>(r[p]) + b_count) % b_count;
    for (int64_t row = 0; row < m; ++row) {
      for (int64_t col = 0; col < n; ++col) {
        double sum = 0;
        for (int64_t q = 0; q < k; ++q) {
          const double x = av[i * m * k + (a_transposed ? q * m + row : row * k + q)];
          const double y = bv[j * k * n + (b_transposed ? col * k + q : q * n + col)];
          sum += x * y;
        }
        out.push_back(sum);
      }
    }
  }
  return out;
}

double Tolerance(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return 1e-12;
    case DType::kFloat16:
      return 2e-3;
    case DType::kBFloat16:
      return 1.6e-2;
    default:
      return 1e-5;
  }
}

void ExpectNear(const core::HostTensor& got, const std::vector<double>& want) {
  const std::vector<double> g = Values(got);
  ASSERT_EQ(g.size(), want.size());
  const double tol = Tolerance(got.type.dtype);
  for (size_t i = 0; i < g.size(); ++i) {
    ASSERT_LE(std::abs(g[i] - want[i]), tol * std::max(1.0, std::abs(want[i])))
        << "element " << i << " of " << core::TypeToString(got.type);
  }
}

// The op on a CPU backend; `attrs` may hold the plan's kTransposeA/kTransposeB, which
// inference (a client's graph) refuses, so the result's type is inferred without them.
core::HostTensor RunGatherMm(const std::vector<core::HostTensor>& inputs,
                             const core::Attrs& attrs = {}, const core::HostTensor* a = nullptr) {
  std::vector<core::TensorType> types;
  for (const core::HostTensor& host : inputs) types.push_back(host.type);
  if (a != nullptr) types[0] = a->type;
  absl::StatusOr<core::TensorType> type = core::InferOp("gather_mm", types, {});
  EXPECT_TRUE(type.ok()) << type.status();
  if (!type.ok()) return {};
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  core::Node node;
  node.op = "gather_mm";
  node.attrs = attrs;
  node.out = *type;
  std::vector<Tensor> tensors;
  for (const core::HostTensor& host : inputs) tensors.push_back(*TensorFromHost(*backend, host));
  absl::StatusOr<Tensor> out = backend->Allocate(node.out);
  EXPECT_TRUE(out.ok()) << out.status();
  const absl::Status ran = backend->Run(node, tensors, *out);
  EXPECT_TRUE(ran.ok()) << ran;
  return ran.ok() ? *TensorToHost(*backend, *out) : core::HostTensor{};
}

TEST(GatherMm, UnsortedIndicesIntoBatchedOperands) {
  std::mt19937_64 rng(1);
  // a's 6 matrices (batch (2, 3)) and b's 4, 6 pairs in a (3, 2) batch, negative ones too.
  const core::HostTensor a = Random(DType::kFloat32, {2, 3, 3, 16}, rng);
  const core::HostTensor b = Random(DType::kFloat32, {4, 16, 5}, rng);
  const core::HostTensor lhs = Indices({3, 2}, {5, 0, 2, 2, -1, 3});
  const core::HostTensor rhs = Indices({3, 2}, {1, 3, 0, -4, 2, 1});
  const core::HostTensor out = RunGatherMm({a, b, lhs, rhs});
  EXPECT_EQ(out.type, (core::TensorType{DType::kFloat32, {3, 2, 3, 5}}));
  ExpectNear(out, Reference(a, b, lhs, rhs));
}

TEST(GatherMm, SortedRowsOfOneExpertAreOneProduct) {
  std::mt19937_64 rng(2);
  // A mixture of experts' sorted pairs: single rows, runs of one expert, one skipped.
  const core::HostTensor a = Random(DType::kFloat32, {9, 1, 64}, rng);
  const core::HostTensor b = Random(DType::kFloat32, {5, 64, 24}, rng);
  const core::HostTensor lhs = Indices({9}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  const core::HostTensor rhs = Indices({9}, {0, 0, 0, 2, 2, 3, 4, 4, 4});
  ExpectNear(RunGatherMm({a, b, lhs, rhs}), Reference(a, b, lhs, rhs));
  const std::vector<int64_t> l = {0, 1, 2, 3, 4, 5, 6, 7, 8}, r = {0, 0, 0, 2, 2, 3, 4, 4, 4};
  const std::vector<GatherMmRun> runs = GatherMmRuns(1, true, l, r);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[0].count, 3);
  EXPECT_EQ(runs[3].first, 6);
  // Rows that do not follow one another in a, or a transposed matrix of several rows, are
  // products of their own.
  EXPECT_EQ(
      GatherMmRuns(1, true, std::vector<int64_t>{0, 2, 3}, std::vector<int64_t>{1, 1, 1}).size(),
      2u);
  EXPECT_EQ(GatherMmRuns(2, false, std::vector<int64_t>{0, 1}, std::vector<int64_t>{1, 1}).size(),
            2u);
}

TEST(GatherMm, SortedMatricesOfSeveralRows) {
  std::mt19937_64 rng(3);
  const core::HostTensor a = Random(DType::kFloat64, {6, 3, 8}, rng);
  const core::HostTensor b = Random(DType::kFloat64, {3, 8, 4}, rng);
  const core::HostTensor lhs = Indices({6}, {0, 1, 2, 3, 4, 5});
  const core::HostTensor rhs = Indices({6}, {1, 1, 1, 1, 2, 2});
  ExpectNear(RunGatherMm({a, b, lhs, rhs}), Reference(a, b, lhs, rhs));
}

TEST(GatherMm, SixteenBitAndMixedDtypes) {
  std::mt19937_64 rng(4);
  const core::HostTensor lhs = Indices({2, 4}, {0, 1, 2, 3, 3, 2, 1, 0});
  const core::HostTensor rhs = Indices({2, 4}, {2, 2, 0, 1, 1, 1, 1, 2});
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    const core::HostTensor a = Random(t, {4, 2, 32}, rng);
    const core::HostTensor b = Random(t, {3, 32, 7}, rng);
    const core::HostTensor out = RunGatherMm({a, b, lhs, rhs});
    EXPECT_EQ(out.type.dtype, t);
    ExpectNear(out, Reference(a, b, lhs, rhs));
  }
  // float16 activations against float32 experts, and the other way round: float32.
  const core::HostTensor a16 = Random(DType::kFloat16, {4, 2, 32}, rng);
  const core::HostTensor b32 = Random(DType::kFloat32, {3, 32, 7}, rng);
  const core::HostTensor out = RunGatherMm({a16, b32, lhs, rhs});
  EXPECT_EQ(out.type.dtype, DType::kFloat32);
  ExpectNear(out, Reference(a16, b32, lhs, rhs));
  const core::HostTensor a32 = Random(DType::kFloat32, {4, 2, 32}, rng);
  const core::HostTensor b16 = Random(DType::kBFloat16, {3, 32, 7}, rng);
  ExpectNear(RunGatherMm({a32, b16, lhs, rhs}), Reference(a32, b16, lhs, rhs));
}

TEST(GatherMm, ReadsOperandsThePlanFoldedATransposeInto) {
  std::mt19937_64 rng(5);
  // Square matrices, so the stored shapes also infer the result's.
  const core::HostTensor a = Random(DType::kFloat32, {4, 6, 6}, rng);
  const core::HostTensor b = Random(DType::kFloat32, {3, 6, 6}, rng);
  const core::HostTensor lhs = Indices({5}, {0, 1, 2, 3, 3});
  const core::HostTensor rhs = Indices({5}, {2, 2, 2, 0, 1});
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      core::Attrs attrs;
      if (ta) attrs.Set(kTransposeA, int64_t{1});
      if (tb) attrs.Set(kTransposeB, int64_t{1});
      ExpectNear(RunGatherMm({a, b, lhs, rhs}, attrs), Reference(a, b, lhs, rhs, ta, tb));
    }
  }
  // One transposed row (k x 1) stacks like a row.
  const core::HostTensor column = Random(DType::kFloat32, {4, 6, 1}, rng);
  const core::HostTensor row = MakeHost(DType::kFloat32, {4, 1, 6}, Values(column));
  core::Attrs attrs;
  attrs.Set(kTransposeA, int64_t{1});
  ExpectNear(RunGatherMm({column, b, lhs, rhs}, attrs, &row), Reference(row, b, lhs, rhs));
}

TEST(GatherMm, OutOfRangeIndicesFail) {
  const core::HostTensor a = MakeHost(DType::kFloat32, {2, 1, 3}, std::vector<double>(6, 1.0));
  const core::HostTensor b = MakeHost(DType::kFloat32, {4, 3, 2}, std::vector<double>(24, 1.0));
  absl::StatusOr<core::HostTensor> out =
      RunOp("gather_mm", {a, b, Indices({3}, {0, 1, 1}), Indices({3}, {0, 4, 1})});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "[gather_mm] rhs_indices element 1 is 4, out of range for the 4 matrices of b");
  out = RunOp("gather_mm", {a, b, Indices({3}, {0, -3, 1}), Indices({3}, {0, 1, 1})});
  ASSERT_FALSE(out.ok());
  EXPECT_THAT(out.status().message(), HasSubstr("lhs_indices element 1 is -3, out of range for "
                                                "the 2 matrices of a"));
}

TEST(GatherMm, EmptyProducts) {
  // k = 0: zeros; no pairs: an empty result, whatever the indices' range.
  const core::HostTensor a = MakeHost(DType::kFloat32, {2, 3, 0}, {});
  const core::HostTensor b = MakeHost(DType::kFloat32, {2, 0, 2}, {});
  const core::HostTensor out = RunGatherMm({a, b, Indices({2}, {0, 1}), Indices({2}, {1, 1})});
  EXPECT_EQ(Values(out), std::vector<double>(12, 0.0));
  const core::HostTensor none =
      RunGatherMm({MakeHost(DType::kFloat32, {0, 3, 4}, {}),
                   MakeHost(DType::kFloat32, {2, 4, 2}, std::vector<double>(16)), Indices({0}, {}),
                   Indices({0}, {})});
  EXPECT_EQ(none.type.shape, (core::Shape{0, 3, 2}));
}

// ---- gather_qmm, against quantized_matmul of each pair's matrices (the composed formula) ----

// Matrix i of `host` (its last two axes).
core::HostTensor MatrixOf(const core::HostTensor& host, int64_t i) {
  const core::Shape& shape = host.type.shape;
  const core::Shape matrix(shape.end() - 2, shape.end());
  const size_t bytes = core::NumElements(matrix) * core::SizeOf(host.type.dtype);
  return {{host.type.dtype, matrix}, host.data.substr(i * bytes, bytes)};
}

core::HostTensor RandomWords(const core::Shape& shape, std::mt19937_64& rng) {
  core::HostTensor host{{DType::kUInt32, shape}, ""};
  host.data.resize(core::NumElements(shape) * 4);
  for (char& c : host.data) c = static_cast<char>(rng());
  return host;
}

core::Attrs Quantization(int64_t bits, int64_t group_size, bool transpose) {
  core::Attrs attrs;
  attrs.Set("bits", bits);
  attrs.Set("group_size", group_size);
  attrs.Set("transpose", int64_t{transpose ? 1 : 0});
  return attrs;
}

// Tolerance: the same products as quantized_matmul's, only with rows of several pairs
// stacked, so float32 within 1e-5 relative; 16-bit results within their rounding (2 ulp).
void ExpectGatherQmmMatchesPairs(const core::HostTensor& x, const core::HostTensor& wq,
                                 const core::HostTensor& scales, const core::HostTensor& biases,
                                 const std::vector<double>& lhs, const std::vector<double>& rhs,
                                 const core::Attrs& attrs) {
  const core::Shape pairs = {static_cast<int64_t>(lhs.size())};
  absl::StatusOr<core::HostTensor> out =
      RunOp("gather_qmm", {x, wq, scales, biases, Indices(pairs, lhs), Indices(pairs, rhs)}, attrs);
  ASSERT_TRUE(out.ok()) << out.status();
  std::vector<double> want;
  for (size_t p = 0; p < lhs.size(); ++p) {
    const int64_t e = static_cast<int64_t>(rhs[p]);
    absl::StatusOr<core::HostTensor> one =
        RunOp("quantized_matmul",
              {MatrixOf(x, static_cast<int64_t>(lhs[p])), MatrixOf(wq, e), MatrixOf(scales, e),
               MatrixOf(biases, e)},
              attrs);
    ASSERT_TRUE(one.ok()) << one.status();
    const std::vector<double> values = Values(*one);
    want.insert(want.end(), values.begin(), values.end());
  }
  ExpectNear(*out, want);
}

TEST(GatherQmm, PicksExpertsInPlaceSortedOrNot) {
  std::mt19937_64 rng(6);
  // 4 experts of 8 x 128 (4 bits: 16 words a row; 3 bits: 12), groups of 32.
  for (int64_t bits : {4, 3}) {
    for (bool transpose : {true, false}) {
      SCOPED_TRACE(absl::StrCat("bits ", bits, " transpose ", transpose));
      const int64_t words = 128 * bits / 32;
      const core::HostTensor wq = RandomWords({4, 8, words}, rng);
      const core::HostTensor scales = Random(DType::kFloat32, {4, 8, 4}, rng);
      const core::HostTensor biases = Random(DType::kFloat32, {4, 8, 4}, rng);
      const core::HostTensor x = Random(DType::kFloat32, {6, 1, transpose ? 128 : 8}, rng);
      const core::Attrs attrs = Quantization(bits, 32, transpose);
      // Sorted single rows (runs of 3, 2, 1), then unsorted pairs.
      ExpectGatherQmmMatchesPairs(x, wq, scales, biases, {0, 1, 2, 3, 4, 5}, {0, 0, 0, 2, 2, 3},
                                  attrs);
      ExpectGatherQmmMatchesPairs(x, wq, scales, biases, {5, 0, 3, 3}, {1, 3, 0, 2}, attrs);
    }
  }
}

TEST(GatherQmm, SixteenBitScalesAndManyRows) {
  std::mt19937_64 rng(7);
  for (DType t : {DType::kFloat16, DType::kBFloat16}) {
    const core::HostTensor wq = RandomWords({3, 16, 8}, rng);  // 16 x 64 at 4 bits
    const core::HostTensor scales = Random(t, {3, 16, 1}, rng);
    const core::HostTensor biases = Random(t, {3, 16, 1}, rng);
    // Matrices of 40 rows: runs of 2 and 3 are 80 and 120 rows.
    const core::HostTensor x = Random(t, {5, 40, 64}, rng);
    ExpectGatherQmmMatchesPairs(x, wq, scales, biases, {0, 1, 2, 3, 4}, {2, 2, 0, 0, 0},
                                Quantization(4, 64, true));
  }
}

TEST(GatherQmm, OutOfRangeIndicesFail) {
  std::mt19937_64 rng(8);
  const core::HostTensor wq = RandomWords({2, 4, 4}, rng);
  const core::HostTensor s = Random(DType::kFloat32, {2, 4, 1}, rng);
  absl::StatusOr<core::HostTensor> out = RunOp("gather_qmm",
                                               {Random(DType::kFloat32, {3, 1, 32}, rng), wq, s, s,
                                                Indices({2}, {0, 3}), Indices({2}, {1, 1})},
                                               Quantization(4, 32, true));
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().message(),
            "[gather_qmm] lhs_indices element 1 is 3, out of range for the 3 matrices of x");
}

}  // namespace
}  // namespace ferry::kernels::cpu
