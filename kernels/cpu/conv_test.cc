#include <cmath>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/conv_geometry.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeHost;
using testing::RunOp;
using testing::Values;

using Ints = std::vector<int64_t>;

core::Attrs Conv1d(int64_t stride, int64_t lo, int64_t hi, int64_t dilation, int64_t groups) {
  return {{"stride", Ints{stride}},
          {"padding_lo", Ints{lo}},
          {"padding_hi", Ints{hi}},
          {"kernel_dilation", Ints{dilation}},
          {"groups", groups}};
}

TEST(Convolution, OneDimensionalStridePaddingDilation) {
  const core::HostTensor x = MakeHost(DType::kFloat32, {1, 4, 1}, {1, 2, 3, 4});
  const core::HostTensor w = MakeHost(DType::kFloat32, {1, 2, 1}, {1, 10});
  absl::StatusOr<core::HostTensor> plain = RunOp("convolution", {x, w}, Conv1d(1, 0, 0, 1, 1));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->type.shape, (core::Shape{1, 3, 1}));
  EXPECT_THAT(Values(*plain), ElementsAre(21, 32, 43));
  absl::StatusOr<core::HostTensor> padded = RunOp("convolution", {x, w}, Conv1d(1, 1, 1, 1, 1));
  ASSERT_TRUE(padded.ok()) << padded.status();
  EXPECT_THAT(Values(*padded), ElementsAre(10, 21, 32, 43, 4));
  absl::StatusOr<core::HostTensor> strided = RunOp("convolution", {x, w}, Conv1d(2, 1, 1, 1, 1));
  ASSERT_TRUE(strided.ok()) << strided.status();
  EXPECT_THAT(Values(*strided), ElementsAre(10, 32, 4));
  absl::StatusOr<core::HostTensor> dilated = RunOp("convolution", {x, w}, Conv1d(1, 0, 0, 2, 1));
  ASSERT_TRUE(dilated.ok()) << dilated.status();
  EXPECT_THAT(Values(*dilated), ElementsAre(31, 42));
}

TEST(Convolution, GroupsAndOutputChannels) {
  // Two groups of one channel: each output channel sees its own input channel.
  absl::StatusOr<core::HostTensor> grouped = RunOp(
      "convolution",
      {MakeHost(DType::kFloat32, {1, 1, 2}, {1, 2}), MakeHost(DType::kFloat32, {2, 1, 1}, {3, 5})},
      Conv1d(1, 0, 0, 1, 2));
  ASSERT_TRUE(grouped.ok()) << grouped.status();
  EXPECT_THAT(Values(*grouped), ElementsAre(3, 10));
  // One group: every output channel sums over both input channels.
  absl::StatusOr<core::HostTensor> dense =
      RunOp("convolution",
            {MakeHost(DType::kFloat16, {1, 1, 2}, {1, 2}),
             MakeHost(DType::kFloat16, {3, 1, 2}, {1, 1, 1, -1, 2, 0})},
            Conv1d(1, 0, 0, 1, 1));
  ASSERT_TRUE(dense.ok()) << dense.status();
  EXPECT_EQ(dense->type, (core::TensorType{DType::kFloat16, {1, 1, 3}}));
  EXPECT_THAT(Values(*dense), ElementsAre(3, -1, 2));
}

TEST(Convolution, TwoDimensionalWithBatch) {
  // Two images of 2x2, an identity-diagonal 2x2 kernel: x[0,0] + x[1,1].
  const core::HostTensor x = MakeHost(DType::kFloat64, {2, 2, 2, 1}, {1, 2, 3, 4, 5, 6, 7, 8});
  const core::HostTensor w = MakeHost(DType::kFloat64, {1, 2, 2, 1}, {1, 0, 0, 1});
  absl::StatusOr<core::HostTensor> out = RunOp("convolution", {x, w},
                                               {{"stride", Ints{1, 1}},
                                                {"padding_lo", Ints{0, 1}},
                                                {"padding_hi", Ints{0, 0}},
                                                {"kernel_dilation", Ints{1, 1}},
                                                {"groups", int64_t{1}}});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.shape, (core::Shape{2, 1, 2, 1}));
  // One padded column on the left: output column 0 sees only x[1][0] on the diagonal.
  EXPECT_THAT(Values(*out), ElementsAre(3, 1 + 4, 7, 5 + 8));
}

TEST(Convolution, EmptyBatch) {
  absl::StatusOr<core::HostTensor> out = RunOp("convolution",
                                               {MakeHost(DType::kFloat32, {0, 3, 1}, {}),
                                                MakeHost(DType::kFloat32, {2, 2, 1}, {1, 2, 3, 4})},
                                               Conv1d(1, 0, 0, 1, 1));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->type.shape, (core::Shape{0, 2, 2}));
}

// The convolution's definition, one output element at a time, summed in double.
std::vector<double> DirectConvolution(const ConvGeometry& g, const std::vector<double>& x,
                                      const std::vector<double>& w) {
  const int64_t cin_g = g.c_in / g.groups, cout_g = g.c_out / g.groups;
  std::vector<double> y;
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t o0 = 0; o0 < g.out_dim[0]; ++o0) {
      for (int64_t o1 = 0; o1 < g.out_dim[1]; ++o1) {
        for (int64_t o2 = 0; o2 < g.out_dim[2]; ++o2) {
          for (int64_t co = 0; co < g.c_out; ++co) {
            double acc = 0;
            for (int64_t k0 = 0; k0 < g.k_dim[0]; ++k0) {
              for (int64_t k1 = 0; k1 < g.k_dim[1]; ++k1) {
                for (int64_t k2 = 0; k2 < g.k_dim[2]; ++k2) {
                  const int64_t i[3] = {o0 * g.stride[0] - g.lo[0] + k0 * g.dil[0],
                                        o1 * g.stride[1] - g.lo[1] + k1 * g.dil[1],
                                        o2 * g.stride[2] - g.lo[2] + k2 * g.dil[2]};
                  bool inside = true;
                  for (int d = 0; d < 3; ++d) inside = inside && i[d] >= 0 && i[d] < g.in_dim[d];
                  if (!inside) continue;
                  for (int64_t ci = 0; ci < cin_g; ++ci) {
                    const int64_t xi =
                        (((n * g.in_dim[0] + i[0]) * g.in_dim[1] + i[1]) * g.in_dim[2] + i[2]) *
                            g.c_in +
                        co / cout_g * cin_g + ci;
                    const int64_t wi =
                        (((co * g.k_dim[0] + k0) * g.k_dim[1] + k1) * g.k_dim[2] + k2) * cin_g + ci;
                    acc += x[xi] * w[wi];
                  }
                }
              }
            }
            y.push_back(acc);
          }
        }
      }
    }
  }
  return y;
}

struct RandomConv {
  core::Shape x, w;
  Ints stride, lo, hi, dilation;
  int64_t groups;
};

// Random operands of every floating dtype against DirectConvolution, within the dtype's
// rounding of a dot product of the lowered depth (as matmul: float32 accumulates in float).
void ExpectMatchesDirect(const RandomConv& c) {
  std::mt19937_64 rng(c.x.size() * 131 + c.groups);
  std::uniform_real_distribution<double> uniform(-1, 1);
  for (DType t : {DType::kFloat32, DType::kFloat64, DType::kFloat16, DType::kBFloat16}) {
    std::vector<double> x(core::NumElements(c.x)), w(core::NumElements(c.w));
    for (double& v : x) v = uniform(rng);
    for (double& v : w) v = uniform(rng);
    // Rounded to the dtype first, so the reference sees the operands the kernel sees.
    const core::HostTensor xt = MakeHost(t, c.x, x), wt = MakeHost(t, c.w, w);
    x = Values(xt);
    w = Values(wt);
    const core::Attrs attrs = {{"stride", c.stride},
                               {"padding_lo", c.lo},
                               {"padding_hi", c.hi},
                               {"kernel_dilation", c.dilation},
                               {"groups", c.groups}};
    absl::StatusOr<core::HostTensor> got = RunOp("convolution", {xt, wt}, attrs);
    ASSERT_TRUE(got.ok()) << got.status();
    core::Node node{"convolution", {}, attrs};
    absl::StatusOr<ConvGeometry> g = GetConvGeometry(node, c.x, c.w, got->type.shape);
    ASSERT_TRUE(g.ok()) << g.status();
    const std::vector<double> want = DirectConvolution(*g, x, w);
    const std::vector<double> values = Values(*got);
    ASSERT_EQ(values.size(), want.size());
    const double eps = t == DType::kFloat64   ? 1e-15
                       : t == DType::kFloat32 ? 1e-7
                       : t == DType::kFloat16 ? 1e-3
                                              : 8e-3;
    const double tol = eps * 4 * std::sqrt(static_cast<double>(LoweredDepth(*g)));
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_NEAR(values[i], want[i], tol * std::max(1.0, std::abs(want[i])))
          << core::DTypeName(t) << " element " << i;
    }
  }
}

TEST(Convolution, LoweredMatchesTheDefinitionOnRandomInputs) {
  ExpectMatchesDirect({{2, 17, 3}, {4, 3, 3}, {1}, {1}, {1}, {1}, 1});
  ExpectMatchesDirect({{2, 9, 8, 4}, {6, 3, 2, 2}, {2, 1}, {1, 0}, {0, 1}, {1, 2}, 2});
  ExpectMatchesDirect(
      {{1, 5, 6, 4, 3}, {2, 2, 3, 2, 3}, {1, 2, 1}, {0, 1, 1}, {1, 0, 0}, {2, 1, 1}, 1});
  // Depthwise: a group per channel.
  ExpectMatchesDirect({{2, 7, 7, 6}, {6, 3, 3, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 6});
  // Big enough that each pass is lowered in parts, one per core (when there are two).
  ExpectMatchesDirect({{4, 20, 20, 16}, {8, 3, 3, 16}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 1});
}

TEST(Convolution, PointwiseKernelsMultiplyTheInputItself) {
  // A 1x1 kernel at stride 1 without padding needs no lowered copy (LoweringIsIdentity).
  ExpectMatchesDirect({{3, 5, 4, 8}, {5, 1, 1, 8}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 1});
  ExpectMatchesDirect({{3, 5, 4, 8}, {6, 1, 1, 4}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 2});
  // Strided or padded 1x1 kernels still lower.
  ExpectMatchesDirect({{2, 5, 4, 8}, {5, 1, 1, 8}, {2, 1}, {0, 1}, {0, 1}, {1, 1}, 1});
}

TEST(Convolution, ManyPassesGiveTheSameResult) {
  // A cap of a few rows per pass, and one too small for a single row.
  for (size_t budget : {size_t{1000}, size_t{1}}) {
    SetLoweringBudgetForTesting(budget);
    ExpectMatchesDirect({{2, 9, 8, 4}, {6, 3, 2, 2}, {2, 1}, {1, 0}, {0, 1}, {1, 2}, 2});
    ExpectMatchesDirect({{2, 7, 7, 6}, {6, 3, 3, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 6});
  }
  SetLoweringBudgetForTesting(0);
  const ConvGeometry g = {{1, 1, 1}, {0, 0, 0}, {1, 1, 1}, {10, 1, 1}, {3, 1, 1},
                          {8, 1, 1}, 4,         4,         2,          1};
  EXPECT_EQ(LoweredRows(g), 32);
  EXPECT_EQ(LoweredDepth(g), 12);
  EXPECT_EQ(LoweredRowsPerPass(g, 4, 12 * 4 * 5 + 1), 5);
  EXPECT_EQ(LoweredRowsPerPass(g, 4, 1), 1);
  EXPECT_EQ(LoweredRowsPerPass(g, 4, size_t{1} << 20), 32);
  SetLoweringBudgetForTesting(12 * 4 * 2);
  EXPECT_EQ(LoweredRowsPerPass(g, 4, size_t{1} << 20), 2);
  SetLoweringBudgetForTesting(0);
}

TEST(Convolution, InferenceRefusesBadArguments) {
  auto fails = [](std::vector<core::TensorType> in, const core::Attrs& attrs) {
    return std::string(core::InferOp("convolution", in, attrs).status().message());
  };
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 4, 3}}, {DType::kFloat32, {2, 2, 3}}}, Conv1d(1, 0, 0, 1, 2)),
      HasSubstr("groups 2 must divide the 3 input channels"));
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 4, 2}}, {DType::kFloat32, {2, 2, 2}}}, Conv1d(1, 0, 0, 1, 2)),
      HasSubstr("weight has 2 input channels, expected 1"));
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 2, 1}}, {DType::kFloat32, {1, 3, 1}}}, Conv1d(1, 0, 0, 1, 1)),
      HasSubstr("smaller than the dilated kernel"));
  EXPECT_THAT(
      fails({{DType::kInt32, {1, 2, 1}}, {DType::kInt32, {1, 1, 1}}}, Conv1d(1, 0, 0, 1, 1)),
      HasSubstr("same floating dtype"));
  EXPECT_THAT(fails({{DType::kFloat32, {2, 1}}, {DType::kFloat32, {1, 1}}}, Conv1d(1, 0, 0, 1, 1)),
              HasSubstr("1 to 3 spatial dims"));
  EXPECT_THAT(
      fails({{DType::kFloat32, {1, 4, 1}}, {DType::kFloat32, {1, 2, 1}}}, Conv1d(0, 0, 0, 1, 1)),
      HasSubstr("'stride' [0] has an invalid value 0"));
}

}  // namespace
}  // namespace ferry::kernels::cpu
