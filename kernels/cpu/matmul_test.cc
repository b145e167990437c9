#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using testing::MakeHost;
using ::testing::Pointwise;
using testing::RunOp;
using testing::Values;

core::HostTensor Matmul(const core::HostTensor& a, const core::HostTensor& b) {
  absl::StatusOr<core::HostTensor> out = RunOp("matmul", {a, b});
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : core::HostTensor{};
}

// The plain triple loop over one (m, k) @ (k, n) pair, for checking batches.
std::vector<double> Reference(const std::vector<double>& a, const std::vector<double>& b, int m,
                              int n, int k) {
  std::vector<double> c(m * n, 0.0);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      for (int p = 0; p < k; ++p) c[i * n + j] += a[i * k + p] * b[p * n + j];
    }
  }
  return c;
}

TEST(Matmul, TwoByThreeTimesThreeByTwo) {
  // [[1 2 3] [4 5 6]] @ [[7 8] [9 10] [11 12]] = [[58 64] [139 154]]
  const core::HostTensor out = Matmul(MakeHost(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6}),
                                      MakeHost(DType::kFloat32, {3, 2}, {7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(out.type, (core::TensorType{DType::kFloat32, {2, 2}}));
  EXPECT_THAT(Values(out), ElementsAre(58, 64, 139, 154));
}

TEST(Matmul, Float64) {
  const core::HostTensor out = Matmul(MakeHost(DType::kFloat64, {1, 2}, {0.1, 0.2}),
                                      MakeHost(DType::kFloat64, {2, 1}, {3, 4}));
  EXPECT_EQ(out.type.dtype, DType::kFloat64);
  EXPECT_THAT(Values(out), Pointwise(DoubleNear(1e-15), {1.1}));
}

TEST(Matmul, VectorOperandsAreSqueezed) {
  const core::HostTensor m = MakeHost(DType::kFloat32, {2, 3}, {1, 2, 3, 4, 5, 6});
  const core::HostTensor v3 = MakeHost(DType::kFloat32, {3}, {1, 0, -1});
  const core::HostTensor v2 = MakeHost(DType::kFloat32, {2}, {1, 1});
  const core::HostTensor mv = Matmul(m, v3);
  EXPECT_EQ(mv.type.shape, core::Shape{2});
  EXPECT_THAT(Values(mv), ElementsAre(-2, -2));
  const core::HostTensor vm = Matmul(v2, m);
  EXPECT_EQ(vm.type.shape, core::Shape{3});
  EXPECT_THAT(Values(vm), ElementsAre(5, 7, 9));
  const core::HostTensor dot = Matmul(v3, v3);
  EXPECT_EQ(dot.type.shape, core::Shape{});
  EXPECT_THAT(Values(dot), ElementsAre(2));
}

TEST(Matmul, BatchDimsBroadcast) {
  // a (2, 1, 2, 3) @ b (3, 3, 2) -> (2, 3, 2, 2): every a batch with every b batch.
  std::vector<double> a(2 * 2 * 3), b(3 * 3 * 2);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<double>(i) - 5;
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<double>(i % 7) * 0.5;
  const core::HostTensor out =
      Matmul(MakeHost(DType::kFloat32, {2, 1, 2, 3}, a), MakeHost(DType::kFloat32, {3, 3, 2}, b));
  EXPECT_EQ(out.type.shape, (core::Shape{2, 3, 2, 2}));
  const std::vector<double> got = Values(out);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      const std::vector<double> want =
          Reference({a.begin() + i * 6, a.begin() + i * 6 + 6},
                    {b.begin() + j * 6, b.begin() + j * 6 + 6}, 2, 2, 3);
      const std::vector<double> slice(got.begin() + (i * 3 + j) * 4,
                                      got.begin() + (i * 3 + j) * 4 + 4);
      EXPECT_THAT(slice, Pointwise(DoubleNear(1e-5), want)) << i << ", " << j;
    }
  }
}

TEST(Matmul, BatchTimesSharedMatrix) {
  // (3, 2, 2) @ (2, 2): one right operand for all batches.
  const core::HostTensor out =
      Matmul(MakeHost(DType::kFloat32, {3, 2, 2}, {1, 0, 0, 1, 2, 0, 0, 2, 0, 1, 1, 0}),
             MakeHost(DType::kFloat32, {2, 2}, {1, 2, 3, 4}));
  EXPECT_EQ(out.type.shape, (core::Shape{3, 2, 2}));
  EXPECT_THAT(Values(out), ElementsAre(1, 2, 3, 4, 2, 4, 6, 8, 3, 4, 1, 2));
}

TEST(Matmul, SharedLeftOperandAgainstABatch) {
  // (2, 2) @ (2, 2, 1)
  const core::HostTensor out = Matmul(MakeHost(DType::kFloat32, {2, 2}, {1, 2, 3, 4}),
                                      MakeHost(DType::kFloat32, {2, 2, 1}, {1, 0, 0, 1}));
  EXPECT_EQ(out.type.shape, (core::Shape{2, 2, 1}));
  EXPECT_THAT(Values(out), ElementsAre(1, 3, 2, 4));
}

TEST(Matmul, HalfPrecisionWidensAndRoundsBack) {
  // 1 * 1 + 2^-11 * 1: exact in float32, rounded to float16's tie-to-even 1.
  const core::HostTensor out = Matmul(MakeHost(DType::kFloat16, {1, 2}, {1, 0.00048828125}),
                                      MakeHost(DType::kFloat16, {2, 2}, {1, 3, 1, 1}));
  EXPECT_EQ(out.type.dtype, DType::kFloat16);
  EXPECT_THAT(Values(out), ElementsAre(1, 3));
  const core::HostTensor bf = Matmul(MakeHost(DType::kBFloat16, {2, 2}, {1, 2, 3, 4}),
                                     MakeHost(DType::kBFloat16, {2}, {0.5, 0.25}));
  EXPECT_EQ(bf.type.dtype, DType::kBFloat16);
  EXPECT_THAT(Values(bf), ElementsAre(1, 2.5));
}

TEST(Matmul, MixedFloatDTypesPromote) {
  const core::HostTensor out = Matmul(MakeHost(DType::kFloat16, {1, 2}, {1, 2}),
                                      MakeHost(DType::kFloat64, {2, 1}, {0.1, 0.2}));
  EXPECT_EQ(out.type.dtype, DType::kFloat64);
  EXPECT_THAT(Values(out), Pointwise(DoubleNear(1e-15), {0.5}));
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  const core::HostTensor out =
      Matmul(MakeHost(DType::kFloat32, {2, 0}, {}), MakeHost(DType::kFloat32, {0, 3}, {}));
  EXPECT_EQ(out.type.shape, (core::Shape{2, 3}));
  EXPECT_THAT(Values(out), ElementsAre(0, 0, 0, 0, 0, 0));
  EXPECT_EQ(Matmul(MakeHost(DType::kFloat32, {0, 2}, {}),
                   MakeHost(DType::kFloat32, {2, 3}, {0, 0, 0, 0, 0, 0}))
                .type.shape,
            (core::Shape{0, 3}));
}

TEST(Matmul, LargerProductMatchesTheTripleLoop) {
  const int m = 37, k = 53, n = 29;
  std::vector<double> a(m * k), b(k * n);
  for (int i = 0; i < m * k; ++i) a[i] = ((i * 7) % 13) - 6;
  for (int i = 0; i < k * n; ++i) b[i] = ((i * 5) % 11) - 5;
  EXPECT_THAT(
      Values(Matmul(MakeHost(DType::kFloat64, {m, k}, a), MakeHost(DType::kFloat64, {k, n}, b))),
      Pointwise(DoubleNear(1e-9), Reference(a, b, m, n, k)));
}

}  // namespace
}  // namespace ferry::kernels::cpu
