// Every op on random inputs, on the GPU and on the CPU reference, compared with per-dtype
// tolerances:
//   bool and integers: exact.   random_*: bit-exact (both run core/philox.h), except
//   float64 random_normal: 1e-14 (CUDA's and glibc's double log/cos).
//   float64: 1e-12 relative.   float32: 2e-6 (elementwise math may differ by ~2 ulp).
//   float16: 2e-3 (2 ulp).     bfloat16: 1.6e-2 (2 ulp).
// with abs tolerance equal to the relative one near zero, and looser for accumulations:
// matmul, gather_mm, quantized_matmul, gather_qmm and convolution scale by about sqrt(k) (and
// TF32, when allowed, is 2e-3), reductions by sqrt(count). Ops that move or compare elements
// (gather, scatter, slice_update, sort, predicates, random_bits) and integer results are exact;
// scans accumulate in the CPU's order (scaled tolerance only for the float rounding of libm-free
// sums: 8x). Linear algebra: its own tolerances and comparison (LinalgTolerance below).
// gated_delta and gated_delta_vjp: 16x float32's (a recurrence of Dk-long sums). Skips
// without a GPU.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/linalg_layout.h"
#include "gtest/gtest.h"
#include "kernels/conv_geometry.h"
#include "kernels/cpu/test_util.h"
#include "kernels/cuda/test_util.h"
#include "kernels/fusion.h"

namespace ferry::kernels {
namespace {

using core::DType;
using cpu::testing::MakeHost;
using cpu::testing::RunOn;
using cpu::testing::Values;

struct Input {
  DType dtype;
  core::Shape shape;
  double low = -4, high = 4;
};

struct Case {
  std::string op;
  std::vector<Input> inputs;
  core::Attrs attrs;
  double scale = 1;  // tolerance multiplier for accumulating ops
};

double Tolerance(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return 1e-12;
    case DType::kFloat32:
      return 2e-6;
    case DType::kFloat16:
      return 2e-3;
    case DType::kBFloat16:
      return 1.6e-2;
    default:
      return 0;
  }
}

core::HostTensor RandomHost(const Input& input, std::mt19937_64& rng) {
  const int64_t n = core::NumElements(input.shape);
  std::vector<double> values(static_cast<size_t>(n));
  std::uniform_real_distribution<double> real(input.low, input.high);
  for (double& v : values) {
    v = real(rng);
    if (!core::IsFloating(input.dtype)) v = std::round(v);
  }
  return MakeHost(input.dtype, input.shape, values);
}

class CudaParityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Backend>> backend = cuda::testing::MakeTestBackend(0);
    if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
    gpu_ = *std::move(backend);
  }

  void Check(const Case& c) {
    SCOPED_TRACE(c.op);
    std::mt19937_64 rng(std::hash<std::string>()(c.op) ^ c.inputs.size());
    std::vector<core::HostTensor> inputs;
    for (const Input& input : c.inputs) inputs.push_back(RandomHost(input, rng));
    absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, c.op, inputs, c.attrs);
    ASSERT_TRUE(want.ok()) << want.status();
    absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, c.op, inputs, c.attrs);
    ASSERT_TRUE(got.ok()) << got.status();
    Compare(c, *want, *got);
  }

  // Each element of `got` within the dtype's tolerance (times c.scale) of `want`'s.
  void Compare(const Case& c, const core::HostTensor& want, const core::HostTensor& got) {
    ASSERT_EQ(got.type, want.type);
    const std::vector<double> w = Values(want), g = Values(got);
    double tol = Tolerance(want.type.dtype) * c.scale;
    if ((c.op == "matmul" || c.op == "gather_mm" || c.op == "convolution") &&
        want.type.dtype == DType::kFloat32 && std::getenv("FERRY_TEST_TF32") != nullptr) {
      tol = 2e-3 * c.scale;
    }
    int reported = 0;
    for (size_t i = 0; i < w.size() && reported < 5; ++i) {
      const bool same = (std::isnan(w[i]) && std::isnan(g[i])) || w[i] == g[i] ||
                        std::abs(w[i] - g[i]) <= tol * std::max(1.0, std::abs(w[i]));
      if (!same) {
        ++reported;
        ADD_FAILURE() << c.op << " " << core::TypeToString(want.type) << " element " << i
                      << ": cpu " << w[i] << ", cuda " << g[i] << " (tolerance " << tol << ")";
      }
    }
  }

  std::unique_ptr<Backend> cpu_ = MakeCpuBackend(int64_t{4} << 30);
  std::unique_ptr<Backend> gpu_;
};

constexpr DType kFloats[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64};
constexpr DType kNumbers[] = {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64,
                              DType::kInt8,    DType::kInt16,   DType::kInt32,    DType::kInt64,
                              DType::kUInt8,   DType::kUInt16,  DType::kUInt32,   DType::kUInt64};

TEST_F(CudaParityTest, Unary) {
  for (const char* op : {"neg", "abs", "relu"}) {
    for (DType t : kNumbers) Check({op, {{t, {3, 5, 7}, 0, 9}}});
    for (DType t : kFloats) Check({op, {{t, {3, 5, 7}}}});
  }
  for (const char* op : {"exp", "sin", "cos", "tanh", "sigmoid", "gelu", "erf"}) {
    for (DType t : kFloats) Check({op, {{t, {3, 5, 7}}}});
    Check({op, {{DType::kInt32, {17}}}});
  }
  for (const char* op : {"log", "sqrt", "rsqrt"}) {
    for (DType t : kFloats) Check({op, {{t, {3, 5, 7}, 0.01, 50}}});
    Check({op, {{DType::kUInt8, {17}, 1, 200}}});
  }
}

constexpr DType kIntegers[] = {DType::kInt8,  DType::kInt16,  DType::kInt32,  DType::kInt64,
                               DType::kUInt8, DType::kUInt16, DType::kUInt32, DType::kUInt64};

TEST_F(CudaParityTest, UnaryPartA) {
  for (const char* op : {"log1p", "expm1", "log2", "log10"}) {
    for (DType t : kFloats) Check({op, {{t, {3, 5, 7}, 0.01, 5}}});
    Check({op, {{DType::kInt32, {17}, 1, 9}}});
  }
  for (const char* op : {"floor", "ceil", "round", "sign", "square"}) {
    for (DType t : kNumbers) Check({op, {{t, {3, 5, 7}, -9, 9}}});
    Check({op, {{DType::kBool, {9}, 0, 1}}});
  }
  // Halves exactly: round must go to even on both sides.
  for (DType t : kFloats) Check({"round", {{t, {64}, -8, 8}}, {}, 1});
  for (DType t : kIntegers) Check({"bitwise_invert", {{t, {33}, -100, 100}}});
  Check({"bitwise_invert", {{DType::kBool, {9}, 0, 1}}});
  for (const char* op : {"isnan", "isinf", "logical_not"}) {
    for (DType t : kNumbers) Check({op, {{t, {3, 5, 7}, -2, 2}}});
    Check({op, {{DType::kBool, {9}, 0, 1}}});
  }
}

TEST_F(CudaParityTest, RoundHalfToEvenAndNonFinite) {
  // Values the random inputs rarely hit: halves, NaN, infinities, signed zero.
  const std::vector<double> special = {0.5,      1.5,       2.5,  -0.5, -2.5, NAN,
                                       INFINITY, -INFINITY, -0.0, 0.0,  3.7,  -3.7};
  for (DType t : kFloats) {
    core::HostTensor x = MakeHost(t, {12}, special);
    for (const char* op : {"round", "floor", "ceil", "sign", "isnan", "isinf", "log1p"}) {
      absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, {x}, {});
      absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, {x}, {});
      ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
      // Exact, zeros' signs included, but not NaN's bits: the GPU makes canonical NaNs.
      // log1p is libm math, so it gets the dtype's tolerance.
      const double tol = std::string(op) == "log1p" ? Tolerance(t) : 0;
      const std::vector<double> w = Values(*want), g = Values(*got);
      ASSERT_EQ(w.size(), g.size());
      for (size_t i = 0; i < w.size(); ++i) {
        EXPECT_TRUE((std::isnan(w[i]) && std::isnan(g[i])) ||
                    (w[i] == g[i] && std::signbit(w[i]) == std::signbit(g[i])) ||
                    (tol > 0 && std::abs(w[i] - g[i]) <= tol * std::max(1.0, std::abs(w[i]))))
            << op << " " << core::DTypeName(t) << " " << i << ": " << w[i] << " vs " << g[i];
      }
    }
    core::HostTensor y =
        MakeHost(t, {12}, {1, -1, 0, INFINITY, -INFINITY, NAN, 2, -2, 3, -3, 0.5, -INFINITY});
    for (const char* op : {"logaddexp", "remainder", "floor_divide", "arctan2"}) {
      absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, {x, y}, {});
      absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, {x, y}, {});
      ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
      const std::vector<double> w = Values(*want), g = Values(*got);
      for (size_t i = 0; i < w.size(); ++i) {
        EXPECT_TRUE((std::isnan(w[i]) && std::isnan(g[i])) || w[i] == g[i] ||
                    std::abs(w[i] - g[i]) <= Tolerance(t) * std::max(1.0, std::abs(w[i])))
            << op << " " << core::DTypeName(t) << " " << i << ": " << w[i] << " vs " << g[i];
      }
    }
  }
}

TEST_F(CudaParityTest, BinaryPartA) {
  for (const char* op : {"not_equal", "less_equal", "greater_equal"}) {
    for (DType t : kNumbers) Check({op, {{t, {3, 1, 7}, -5, 5}, {t, {5, 1}, -5, 5}}});
    Check({op, {{DType::kFloat16, {4, 6}}, {DType::kInt32, {6}}}});
    Check({op, {{DType::kBool, {8}, 0, 1}, {DType::kBool, {8}, 0, 1}}});
  }
  for (const char* op : {"arctan2", "logaddexp"}) {
    for (DType t : kFloats) Check({op, {{t, {3, 1, 7}, -20, 20}, {t, {5, 1}, -20, 20}}});
  }
  // Integer division by 0 (inputs include 0), mixed signs, the divisor's sign for remainder.
  for (const char* op : {"floor_divide", "remainder"}) {
    for (DType t : kNumbers) Check({op, {{t, {3, 1, 7}, -50, 50}, {t, {5, 1}, -4, 4}}, {}, 2});
  }
  for (const char* op : {"bitwise_and", "bitwise_or", "bitwise_xor"}) {
    for (DType t : kIntegers) Check({op, {{t, {3, 1, 7}, -300, 300}, {t, {5, 1}, -300, 300}}});
    Check({op, {{DType::kBool, {8}, 0, 1}, {DType::kBool, {8}, 0, 1}}});
  }
  // Counts past the bit width and negative counts shift everything out.
  for (const char* op : {"left_shift", "right_shift"}) {
    for (DType t : kIntegers) Check({op, {{t, {3, 1, 7}, -300, 300}, {t, {5, 1}, -3, 70}}});
  }
}

TEST_F(CudaParityTest, Binary) {
  for (const char* op : {"add", "sub", "mul", "maximum", "minimum", "equal", "less", "greater"}) {
    for (DType t : kNumbers) Check({op, {{t, {3, 1, 7}, -50, 50}, {t, {5, 1}, -50, 50}}});
    Check({op, {{DType::kFloat16, {4, 6}}, {DType::kInt32, {6}}}});
  }
  for (DType t : kNumbers) Check({"div", {{t, {3, 4}, 1, 9}, {t, {4}, 1, 9}}});
  for (DType t : kFloats) Check({"pow", {{t, {3, 4}, 0.1, 3}, {t, {3, 4}, -2, 2}}});
  for (DType t : {DType::kInt32, DType::kInt64, DType::kUInt8}) {
    Check({"pow", {{t, {20}, -3, 3}, {t, {20}, 0, 9}}});
  }
  for (const char* op : {"logical_and", "logical_or"}) {
    Check({op, {{DType::kBool, {3, 1, 7}, 0, 1}, {DType::kBool, {5, 7}, 0, 1}}});
    Check({op, {{DType::kFloat32, {8}, -1, 1}, {DType::kInt32, {8}, -1, 1}}});
  }
}

TEST_F(CudaParityTest, WhereAndAstype) {
  Check(
      {"where",
       {{DType::kBool, {3, 1, 7}, 0, 1}, {DType::kFloat32, {5, 7}}, {DType::kFloat16, {3, 5, 1}}}});
  Check({"where", {{DType::kInt32, {4}, -1, 1}, {DType::kInt64, {4}}, {DType::kUInt8, {1}, 0, 9}}});
  for (DType from : core::kAllDTypes) {
    for (DType to : core::kAllDTypes) {
      core::Attrs attrs;
      attrs.Set("dtype", to);
      Check({"astype", {{from, {33}, -300, 300}}, attrs});
    }
    // view's bytes, read back as integers (exact): 8 elements of any size fill whole ones.
    for (DType to : {DType::kUInt8, DType::kInt16, DType::kInt32, DType::kUInt32, DType::kInt64,
                     DType::kUInt64}) {
      core::Attrs attrs;
      attrs.Set("dtype", to);
      Check({"view", {{from, {3, 8}, -300, 300}}, attrs});
    }
  }
}

core::Attrs Axes(std::vector<int64_t> axes, int64_t keepdims) {
  core::Attrs attrs;
  attrs.Set("axes", axes);
  attrs.Set("keepdims", keepdims);
  return attrs;
}

TEST_F(CudaParityTest, Reductions) {
  for (const char* op : {"sum", "mean", "max", "min", "prod"}) {
    const bool prod = std::string(op) == "prod";
    for (DType t : kNumbers) {
      for (const auto& axes : std::vector<std::vector<int64_t>>{{1}, {0, 2}, {}, {0, 1, 2}}) {
        Input x{t, {6, 70, 5}, prod ? 0.9 : -20.0, prod ? 1.1 : 20.0};
        if (prod && !core::IsFloating(t)) x = {t, {6, 70, 5}, 0, 2};
        Check({op, {x}, Axes(axes, axes.size() == 1), 20});
      }
    }
  }
  Check({"sum", {{DType::kBool, {6, 70}, 0, 1}}, Axes({1}, 0)});
  Check({"sum", {{DType::kFloat32, {3, 100000}}}, Axes({1}, 0), 50});
  // Many adjacent outputs over strided elements: the column kernel, with a partial block.
  for (const char* op : {"sum", "mean", "max", "prod"}) {
    const bool prod = std::string(op) == "prod";
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kFloat64}) {
      Input x{t, {130, 1100}, prod ? 0.99 : -20.0, prod ? 1.01 : 20.0};
      if (prod && !core::IsFloating(t)) x = {t, {130, 1100}, 0, 1};
      Check({op, {x}, Axes({0}, 0), 20});
      x.shape = {3, 70, 700};
      Check({op, {x}, Axes({1}, 1), 20});
    }
  }
  for (const char* op : {"argmax", "argmin"}) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt32, DType::kUInt8}) {
      for (int64_t axis : {0, 1, 2}) {
        core::Attrs attrs;
        attrs.Set("axis", axis);
        attrs.Set("keepdims", int64_t{0});
        Check({op, {{t, {6, 300, 5}, -3, 3}}, attrs});  // ties: the first index must win
      }
    }
  }
}

TEST_F(CudaParityTest, AllAnyAndScans) {
  for (const char* op : {"all", "any"}) {
    for (DType t : {DType::kBool, DType::kFloat32, DType::kInt32, DType::kFloat16}) {
      // Mostly-true and mostly-false inputs, so both answers occur.
      Check({op, {{t, {6, 70, 5}, 0, 1.3}}, Axes({1}, 0)});
      Check({op, {{t, {6, 7, 5}, 0, 0.7}}, Axes({0, 2}, 1)});
      Check({op, {{t, {6, 0, 5}, 0, 1}}, Axes({1}, 0)});  // empty: all true, any false
    }
  }
  for (const char* op : {"cumsum", "cumprod", "cummax", "cummin", "logcumsumexp"}) {
    const bool prod = std::string(op) == "cumprod";
    for (DType t : kNumbers) {  // logcumsumexp of integers gives float32
      for (int64_t axis : {0, 1, 2}) {
        for (int64_t flags = 0; flags < 4; ++flags) {
          core::Attrs attrs;
          attrs.Set("axis", axis);
          attrs.Set("reverse", flags & 1);
          attrs.Set("inclusive", (flags >> 1) & 1);
          Input x{t, {5, 40, 3}, prod ? 0.8 : -9.0, prod ? 1.2 : 9.0};
          if (prod && !core::IsFloating(t)) x = {t, {5, 40, 3}, 0, 2};
          Check({op, {x}, attrs, 8});
        }
      }
    }
    core::Attrs attrs;
    attrs.Set("axis", int64_t{0});
    attrs.Set("reverse", int64_t{0});
    attrs.Set("inclusive", int64_t{0});
    Check({op, {{DType::kBool, {9, 2}, 0, 1}}, attrs});
  }
}

TEST_F(CudaParityTest, GatherScatterSliceUpdate) {
  using Ints = std::vector<int64_t>;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kUInt8, DType::kBool}) {
    core::Attrs rows;
    rows.Set("axes", Ints{0});
    rows.Set("slice_sizes", Ints{1, 5, 7});
    // Negative indices count from the end.
    Check({"gather", {{t, {6, 5, 7}, 0, 1}, {DType::kInt32, {4, 3}, -6, 5}}, rows});
    core::Attrs two;
    two.Set("axes", Ints{2, 0});
    two.Set("slice_sizes", Ints{2, 3, 1});
    Check({"gather",
           {{t, {6, 5, 7}, 0, 1}, {DType::kInt64, {9}, -7, 6}, {DType::kUInt8, {1}, 0, 4}},
           two});
  }
  // Duplicates are likely (20 updates into 6 rows): later wins / the CPU's order.
  for (const char* op : {"scatter", "scatter_add", "scatter_prod", "scatter_max", "scatter_min"}) {
    for (DType t : kNumbers) {
      core::Attrs axes;
      axes.Set("axes", Ints{0});
      Check(
          {op, {{t, {6, 5}, 0, 3}, {DType::kInt32, {20}, -6, 5}, {t, {20, 1, 5}, 0, 3}}, axes, 4});
      // Overlapping slices (3 rows long along the indexed axis): the serial path.
      Check({op, {{t, {6, 5}, 0, 3}, {DType::kInt32, {7}, 0, 3}, {t, {7, 3, 5}, 0, 3}}, axes, 4});
    }
    core::Attrs both;
    both.Set("axes", Ints{1, 0});
    Check({op,
           {{DType::kFloat32, {6, 5}},
            {DType::kInt64, {4, 1}, -5, 4},
            {DType::kInt32, {3}, 0, 5},
            {DType::kFloat32, {4, 3, 1, 1}}},
           both});
  }
  for (DType t : {DType::kFloat32, DType::kBFloat16, DType::kInt32, DType::kBool}) {
    core::Attrs slice;
    slice.Set("start", Ints{2, 0, 6});
    slice.Set("stop", Ints{-1, 5, 0});
    slice.Set("strides", Ints{-1, 2, -3});
    Check({"slice_update", {{t, {3, 5, 7}, 0, 1}, {t, {3, 3, 2}, 0, 1}}, slice});
  }
}

TEST_F(CudaParityTest, OutOfRangeIndicesFailLikeTheCpu) {
  core::HostTensor a = MakeHost(DType::kFloat32, {3, 4}, std::vector<double>(12, 1.0));
  core::HostTensor idx = MakeHost(DType::kInt32, {4}, {0, 2, 3, -9});
  core::HostTensor upd = MakeHost(DType::kFloat32, {4, 1, 4}, std::vector<double>(16, 2.0));
  core::Attrs gather;
  gather.Set("axes", std::vector<int64_t>{0});
  gather.Set("slice_sizes", std::vector<int64_t>{1, 4});
  core::Attrs axes;
  axes.Set("axes", std::vector<int64_t>{0});
  for (const auto& [op, inputs, attrs] :
       {std::tuple{"gather", std::vector<core::HostTensor>{a, idx}, gather},
        std::tuple{"scatter_add", std::vector<core::HostTensor>{a, idx, upd}, axes}}) {
    absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, inputs, attrs);
    absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, inputs, attrs);
    ASSERT_FALSE(want.ok());
    ASSERT_FALSE(got.ok()) << op;
    EXPECT_EQ(got.status().code(), want.status().code()) << got.status();
    EXPECT_EQ(got.status().message(), want.status().message());
  }
}

TEST_F(CudaParityTest, Sort) {
  for (const char* op : {"sort", "argsort", "partition", "argpartition"}) {
    for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64,
                    DType::kInt32, DType::kInt64, DType::kUInt8, DType::kBool}) {
      for (int64_t axis : {0, 1, 2}) {
        core::Attrs attrs;
        attrs.Set("axis", axis);
        if (std::string(op).find("partition") != std::string::npos) attrs.Set("kth", int64_t{2});
        // Few distinct values: many ties, so stability shows in argsort.
        Check({op, {{t, {5, 37, 3}, -3, 3}}, attrs});
      }
    }
  }
  // NaN last, NaNs and equal keys in their original order.
  core::HostTensor x =
      MakeHost(DType::kFloat32, {9}, {NAN, 1, -0.0, NAN, 0.0, -INFINITY, 1, INFINITY, -2});
  core::Attrs attrs;
  attrs.Set("axis", int64_t{0});
  for (const char* op : {"sort", "argsort"}) {
    absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, {x}, attrs);
    absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, {x}, attrs);
    ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
    EXPECT_TRUE(got->data == want->data) << op;
  }
}

TEST_F(CudaParityTest, Convolution) {
  using Ints = std::vector<int64_t>;
  struct Conv {
    core::Shape in, w;
    Ints stride, lo, hi, dilation;
    int64_t groups;
  };
  const std::vector<Conv> convs = {
      {{2, 17, 3}, {4, 3, 3}, {1}, {1}, {1}, {1}, 1},
      {{2, 9, 8, 4}, {6, 3, 2, 2}, {2, 1}, {1, 0}, {0, 1}, {1, 2}, 2},
      {{1, 5, 6, 4, 3}, {2, 2, 3, 2, 3}, {1, 2, 1}, {0, 1, 1}, {1, 0, 0}, {2, 1, 1}, 1},
      // A 1x1 kernel multiplies x itself; depthwise (12 groups) runs the direct kernel.
      {{3, 5, 4, 8}, {6, 1, 1, 4}, {1, 1}, {0, 0}, {0, 0}, {1, 1}, 2},
      {{2, 7, 6, 12}, {12, 3, 3, 1}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, 12},
  };
  auto check_all = [&] {
    for (DType t : kFloats) {
      for (const Conv& c : convs) {
        core::Attrs attrs;
        attrs.Set("stride", c.stride);
        attrs.Set("padding_lo", c.lo);
        attrs.Set("padding_hi", c.hi);
        attrs.Set("kernel_dilation", c.dilation);
        attrs.Set("groups", c.groups);
        const double depth = static_cast<double>(core::NumElements(c.w) / c.w[0]);
        Check({"convolution", {{t, c.in, -1, 1}, {t, c.w, -1, 1}}, attrs, std::sqrt(depth) * 4});
      }
    }
  };
  check_all();
  SetLoweringBudgetForTesting(1000);  // a few rows of the lowered matrix a pass
  check_all();
  SetLoweringBudgetForTesting(0);
}

// One row of the lowered matrix a pass: 300 passes, each a lowering and a product on the
// context's one cuBLASLt workspace.
TEST_F(CudaParityTest, ConvolutionOfManyPasses) {
  core::Attrs attrs;
  attrs.Set("stride", std::vector<int64_t>{1});
  attrs.Set("padding_lo", std::vector<int64_t>{1});
  attrs.Set("padding_hi", std::vector<int64_t>{1});
  attrs.Set("kernel_dilation", std::vector<int64_t>{1});
  attrs.Set("groups", int64_t{1});
  SetLoweringBudgetForTesting(1);
  Check({"convolution",
         {{DType::kFloat32, {3, 100, 4}, -1, 1}, {DType::kFloat32, {5, 3, 4}, -1, 1}},
         attrs,
         std::sqrt(12.0) * 4});
  SetLoweringBudgetForTesting(0);
}

TEST_F(CudaParityTest, RandomBits) {
  core::HostTensor key = MakeHost(DType::kUInt32, {2}, {12345, 678});
  core::Attrs attrs;
  attrs.Set("shape", std::vector<int64_t>{3, 1031});
  absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, "random_bits", {key}, attrs);
  absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, "random_bits", {key}, attrs);
  ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
  EXPECT_TRUE(got->data == want->data);
}

TEST_F(CudaParityTest, SoftmaxAndLogsumexp) {
  for (DType t :
       {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64, DType::kInt32}) {
    core::Attrs last;
    last.Set("axes", std::vector<int64_t>{2});
    Check({"softmax", {{t, {4, 3, 2000}, -10, 10}}, last, 4});
    core::Attrs two;
    two.Set("axes", std::vector<int64_t>{0, 2});
    Check({"softmax", {{t, {4, 3, 5}, -10, 10}}, two, 4});
    Check({"logsumexp", {{t, {4, 3, 700}, -10, 10}}, Axes({2}, 1), 4});
    Check({"logsumexp", {{t, {4, 3, 7}, -10, 10}}, Axes({0, 1}, 0), 4});
    core::Attrs last_of_two;
    last_of_two.Set("axes", std::vector<int64_t>{1});
    // Longer than a block keeps in registers (8192 elements): x is read three times.
    Check({"softmax", {{t, {2, 9000}, -10, 10}}, last_of_two, 4});
    Check({"logsumexp", {{t, {2, 9000}, -10, 10}}, Axes({1}, 0), 4});
  }
}

TEST_F(CudaParityTest, Matmul) {
  struct Shapes {
    core::Shape a, b;
  };
  const std::vector<Shapes> shapes = {
      {{3, 4, 5}, {5, 6}},
      {{2, 1, 4, 5}, {3, 5, 6}},
      {{5}, {5, 6}},
      {{3, 4, 5}, {5}},
      {{7, 64}, {64, 33}},
      {{2, 3, 4, 8}, {2, 3, 8, 2}},
      {{129, 257}, {257, 65}},
      // Problems that differ in k alone, or in the batch alone, need plans of their own.
      {{4, 6}, {6, 5}},
      {{4, 9}, {9, 5}},
      {{2, 4, 6}, {2, 6, 5}},
      {{3, 4, 6}, {3, 6, 5}},
  };
  for (DType t : kFloats) {
    for (const Shapes& s : shapes) {
      const double k = static_cast<double>(s.a.back());
      Check({"matmul", {{t, s.a, -1, 1}, {t, s.b, -1, 1}}, {}, std::sqrt(k) * 4});
    }
  }
  Check({"matmul", {{DType::kFloat16, {4, 5}}, {DType::kFloat32, {5, 3}}}, {}, 10});
  Check({"matmul", {{DType::kFloat32, {3, 0}}, {DType::kFloat32, {0, 4}}}});
}

TEST_F(CudaParityTest, GatherMm) {
  for (DType t : kFloats) {
    // Unsorted pairs (negative indices too) into batches of matrices: a product each.
    Check({"gather_mm",
           {{t, {2, 3, 3, 16}, -1, 1},
            {t, {4, 16, 5}, -1, 1},
            {DType::kInt32, {3, 2}, -6, 5.4},
            {DType::kInt64, {3, 2}, -4, 3.4}},
           {},
           4});
  }
  // Mixed dtypes: the result is float32.
  Check({"gather_mm",
         {{DType::kFloat16, {3, 2, 8}, -1, 1},
          {DType::kFloat32, {2, 8, 3}, -1, 1},
          {DType::kUInt8, {4}, 0, 2.4},
          {DType::kInt16, {4}, 0, 1.4}},
         {},
         3});
  // Sorted single rows: runs of 3, 2, 1 and 3 pairs on one expert, each one product, and
  // the plan's transposes folded in (square matrices, so the stored shapes infer alike).
  std::mt19937_64 rng(17);
  const core::HostTensor lhs = MakeHost(DType::kInt32, {9}, {0, 1, 2, 3, 4, 5, 6, 7, 8});
  const core::HostTensor rhs = MakeHost(DType::kInt64, {9}, {0, 0, 0, 2, 2, 3, 4, 4, 4});
  for (DType t : kFloats) {
    // Single rows and matrices of 3 stack into runs; a transposed a (square) of several rows
    // does not, and is a product per pair.
    for (const auto& [rows, ta] : {std::pair<int64_t, bool>{1, false}, {3, false}, {24, true}}) {
      for (bool tb : {false, true}) {
        SCOPED_TRACE(absl::StrCat(core::DTypeName(t), " rows ", rows, " ta ", ta, " tb ", tb));
        const core::HostTensor a = RandomHost({t, {9, rows, 24}, -1, 1}, rng);
        const core::HostTensor b = RandomHost({t, {5, 24, 24}, -1, 1}, rng);
        core::Attrs plan;
        if (ta) plan.Set(kTransposeA, int64_t{1});
        if (tb) plan.Set(kTransposeB, int64_t{1});
        absl::StatusOr<core::HostTensor> want =
            RunOn(*cpu_, "gather_mm", {a, b, lhs, rhs}, {}, plan);
        absl::StatusOr<core::HostTensor> got =
            RunOn(*gpu_, "gather_mm", {a, b, lhs, rhs}, {}, plan);
        ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
        Compare({"gather_mm", {}, {}, 5}, *want, *got);
      }
    }
  }
}

TEST_F(CudaParityTest, GatherMmOutOfRangeFailsLikeTheCpu) {
  const core::HostTensor a = MakeHost(DType::kFloat32, {2, 1, 3}, std::vector<double>(6, 1.0));
  const core::HostTensor b = MakeHost(DType::kFloat32, {4, 3, 2}, std::vector<double>(24, 1.0));
  for (const auto& [lhs, rhs] :
       {std::pair<std::vector<double>, std::vector<double>>{{0, 1, 1}, {0, 4, 1}},
        {{0, -3, 1}, {0, 1, 1}}}) {
    const std::vector<core::HostTensor> inputs = {a, b, MakeHost(DType::kInt32, {3}, lhs),
                                                  MakeHost(DType::kInt32, {3}, rhs)};
    absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, "gather_mm", inputs);
    absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, "gather_mm", inputs);
    ASSERT_FALSE(want.ok());
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), want.status().code()) << got.status();
    EXPECT_EQ(got.status().message(), want.status().message());
  }
}

TEST_F(CudaParityTest, GatedDelta) {
  // float32 out; each step sums Dk products (the GPU in 32 lane partials, the CPU in order)
  // and the state carries them over T steps: 16x float32's tolerance.
  constexpr DType kF32 = DType::kFloat32;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    // Grouped query heads, T = 5: a prefill.
    Check({"gated_delta",
           {{t, {2, 5, 2, 32}, -0.2, 0.2},
            {t, {2, 5, 2, 32}, -0.2, 0.2},
            {t, {2, 5, 4, 16}, -1, 1},
            {kF32, {2, 5, 4}, 0.5, 1},
            {t, {2, 5, 4}, 0, 1},
            {kF32, {2, 4, 16, 32}, -1, 1}},
           {},
           16});
  }
  // A vector gate and a mask; one decode step.
  Check({"gated_delta",
         {{kF32, {2, 6, 1, 16}, -0.25, 0.25},
          {kF32, {2, 6, 1, 16}, -0.25, 0.25},
          {kF32, {2, 6, 3, 8}, -1, 1},
          {kF32, {2, 6, 3, 16}, 0.5, 1},
          {kF32, {2, 6, 3}, 0, 1},
          {kF32, {2, 3, 8, 16}, -1, 1},
          {DType::kBool, {2, 6}, 0, 1}},
         {},
         16});
  // Ragged tiles: Dk 100 (4 entries a lane, the last lanes short) and Dv 3; then Dk 288,
  // past what a lane keeps in registers (a thread per value row).
  for (int64_t dk : {100, 288}) {
    Check({"gated_delta",
           {{kF32, {2, 3, 1, dk}, -0.1, 0.1},
            {kF32, {2, 3, 1, dk}, -0.1, 0.1},
            {kF32, {2, 3, 2, 3}, -1, 1},
            {kF32, {2, 3, 2, dk}, 0.5, 1},
            {kF32, {2, 3, 2}, 0, 1},
            {kF32, {2, 2, 3, dk}, -1, 1},
            {DType::kBool, {2, 3}, 0, 1}},
           {},
           16});
  }
  Check({"gated_delta",
         {{DType::kBFloat16, {3, 1, 2, 64}, -0.125, 0.125},
          {DType::kBFloat16, {3, 1, 2, 64}, -0.125, 0.125},
          {DType::kBFloat16, {3, 1, 4, 32}, -1, 1},
          {kF32, {3, 1, 4}, 0.5, 1},
          {DType::kBFloat16, {3, 1, 4}, 0, 1},
          {kF32, {3, 4, 32, 64}, -1, 1}},
         {},
         16});
}

TEST_F(CudaParityTest, GatedDeltaVjp) {
  // The backward recomputes the forward from checkpoints, then sums over value rows (dk,
  // dq, the gate) and over both (a scalar gate's dg) in its own order: 16x float32's, as
  // the forward. Cotangents: float32 of gated_delta's packed (B, T*Hv*Dv + Hv*Dv*Dk).
  constexpr DType kF32 = DType::kFloat32;
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) {
    // Grouped query heads, T = 5 (checkpoints every 3 steps).
    Check({"gated_delta_vjp",
           {{t, {2, 5, 2, 32}, -0.2, 0.2},
            {t, {2, 5, 2, 32}, -0.2, 0.2},
            {t, {2, 5, 4, 16}, -1, 1},
            {kF32, {2, 5, 4}, 0.5, 1},
            {t, {2, 5, 4}, 0, 1},
            {kF32, {2, 4, 16, 32}, -1, 1},
            {kF32, {2, 5 * 4 * 16 + 4 * 16 * 32}, -1, 1}},
           {},
           16});
  }
  // A vector gate and a mask over T = 10 (segments of 4, the last 2 long); one step.
  Check({"gated_delta_vjp",
         {{kF32, {2, 10, 1, 16}, -0.25, 0.25},
          {kF32, {2, 10, 1, 16}, -0.25, 0.25},
          {kF32, {2, 10, 3, 8}, -1, 1},
          {kF32, {2, 10, 3, 16}, 0.5, 1},
          {kF32, {2, 10, 3}, 0, 1},
          {kF32, {2, 3, 8, 16}, -1, 1},
          {kF32, {2, 10 * 3 * 8 + 3 * 8 * 16}, -1, 1},
          {DType::kBool, {2, 10}, 0, 1}},
         {},
         16});
  Check({"gated_delta_vjp",
         {{kF32, {3, 1, 1, 16}, -0.25, 0.25},
          {kF32, {3, 1, 1, 16}, -0.25, 0.25},
          {kF32, {3, 1, 2, 8}, -1, 1},
          {kF32, {3, 1, 2}, 0.5, 1},
          {kF32, {3, 1, 2}, 0, 1},
          {kF32, {3, 2, 8, 16}, -1, 1},
          {kF32, {3, 2 * 8 + 2 * 8 * 16}, -1, 1}},
         {},
         16});
  // Dk 288 and Dv 130: more columns and rows than a block has threads.
  Check({"gated_delta_vjp",
         {{kF32, {1, 3, 1, 288}, -0.06, 0.06},
          {kF32, {1, 3, 1, 288}, -0.06, 0.06},
          {kF32, {1, 3, 1, 130}, -1, 1},
          {kF32, {1, 3, 1}, 0.5, 1},
          {kF32, {1, 3, 1}, 0, 1},
          {kF32, {1, 1, 130, 288}, -1, 1},
          {kF32, {1, 3 * 130 + 130 * 288}, -1, 1},
          {DType::kBool, {1, 3}, 0, 1}},
         {},
         16});
}

TEST_F(CudaParityTest, GatherQmm) {
  // 4 experts of 40 x 128. Pairs of single rows at random (unsorted, negative indices), and
  // sorted matrices of 5 rows: runs of 15 and 10 rows dequantize the expert and go through
  // cuBLASLt, the run of 5 takes the vector kernels.
  constexpr int64_t kRows = 40, kColumns = 128;
  std::mt19937_64 rng(29);
  const core::HostTensor lhs = MakeHost(DType::kInt32, {6}, {0, 1, 2, 3, 4, 5});
  const core::HostTensor rhs = MakeHost(DType::kInt64, {6}, {0, 0, 0, 1, 1, 3});
  for (DType t : kFloats) {
    for (int64_t bits : {3, 4}) {
      for (int64_t transpose : {1, 0}) {
        core::Attrs attrs;
        attrs.Set("bits", bits);
        attrs.Set("group_size", int64_t{32});
        attrs.Set("transpose", transpose);
        const int64_t inner = transpose ? kColumns : kRows;
        const core::Shape words = {4, kRows, kColumns * bits / 32};
        const core::Shape groups = {4, kRows, kColumns / 32};
        const double scale = std::sqrt(static_cast<double>(inner)) * 4;
        Check({"gather_qmm",
               {{t, {3, 1, inner}, -1, 1},
                {DType::kUInt32, words, 0, 4294967295.0},
                {t, groups, 0.01, 0.1},
                {t, groups, -0.5, 0.5},
                {DType::kInt32, {5}, -3, 2.4},
                {DType::kUInt8, {5}, 0, 3.4}},
               attrs,
               scale});
        SCOPED_TRACE(absl::StrCat(core::DTypeName(t), " bits ", bits, " transpose ", transpose));
        const std::vector<core::HostTensor> inputs = {
            RandomHost({t, {6, 5, inner}, -1, 1}, rng),
            RandomHost({DType::kUInt32, words, 0, 4294967295.0}, rng),
            RandomHost({t, groups, 0.01, 0.1}, rng),
            RandomHost({t, groups, -0.5, 0.5}, rng),
            lhs,
            rhs};
        absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, "gather_qmm", inputs, attrs);
        absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, "gather_qmm", inputs, attrs);
        ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
        Compare({"gather_qmm", {}, {}, scale}, *want, *got);
      }
    }
  }
  // An index out of range fails as on the CPU.
  core::Attrs attrs;
  attrs.Set("bits", int64_t{4});
  attrs.Set("group_size", int64_t{32});
  attrs.Set("transpose", int64_t{1});
  const std::vector<core::HostTensor> bad = {
      MakeHost(DType::kFloat32, {2, 1, 32}, std::vector<double>(64, 1.0)),
      MakeHost(DType::kUInt32, {2, 3, 4}, std::vector<double>(24, 7.0)),
      MakeHost(DType::kFloat32, {2, 3, 1}, std::vector<double>(6, 0.5)),
      MakeHost(DType::kFloat32, {2, 3, 1}, std::vector<double>(6, 0.5)),
      MakeHost(DType::kInt32, {2}, {0, 1}),
      MakeHost(DType::kInt32, {2}, {1, -3})};
  absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, "gather_qmm", bad, attrs);
  absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, "gather_qmm", bad, attrs);
  ASSERT_FALSE(want.ok());
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(), want.status().message());
}

TEST_F(CudaParityTest, QuantizedMatmul) {
  // Rows of x: 1 and 5 take the vector kernels, 20 the dequantized matrix and cuBLASLt.
  constexpr int64_t kRows = 40, kColumns = 128;
  for (DType t : kFloats) {
    for (int64_t bits : {2, 3, 4, 8}) {
      for (int64_t group_size : {32, 64}) {
        for (int64_t transpose : {1, 0}) {
          for (int64_t m : {1, 5, 20}) {
            core::Attrs attrs;
            attrs.Set("bits", bits);
            attrs.Set("group_size", group_size);
            attrs.Set("transpose", transpose);
            const int64_t inner = transpose ? kColumns : kRows;
            const core::Shape groups = {kRows, kColumns / group_size};
            Check({"quantized_matmul",
                   {{t, {m, inner}, -1, 1},
                    {DType::kUInt32, {kRows, kColumns * bits / 32}, 0, 4294967295.0},
                    {t, groups, 0.01, 0.1},
                    {t, groups, -0.5, 0.5}},
                   attrs,
                   std::sqrt(static_cast<double>(inner)) * 4});
          }
        }
      }
    }
  }
  // A batch of rows, and x of another dtype than the scales.
  core::Attrs attrs;
  attrs.Set("bits", int64_t{6});
  attrs.Set("group_size", int64_t{32});
  attrs.Set("transpose", int64_t{1});
  Check({"quantized_matmul",
         {{DType::kFloat16, {2, 7, 64}},
          {DType::kUInt32, {9, 12}, 0, 4294967295.0},
          {DType::kFloat32, {9, 2}, 0.01, 0.1},
          {DType::kFloat32, {9, 2}, -0.5, 0.5}},
         attrs,
         32});
}

TEST_F(CudaParityTest, Layout) {
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kInt64, DType::kUInt8, DType::kBool}) {
    core::Attrs perm;
    perm.Set("perm", std::vector<int64_t>{2, 0, 1});
    Check({"transpose", {{t, {3, 5, 7}, 0, 1}}, perm});
    core::Attrs to;
    to.Set("shape", std::vector<int64_t>{2, 3, 5, 7});
    Check({"broadcast_to", {{t, {3, 1, 7}, 0, 1}}, to});
    core::Attrs shape;
    shape.Set("shape", std::vector<int64_t>{7, 15});
    Check({"reshape", {{t, {3, 5, 7}, 0, 1}}, shape});
    core::Attrs slice;
    slice.Set("start", std::vector<int64_t>{2, 0, 6});
    slice.Set("stop", std::vector<int64_t>{-1, 5, 0});
    slice.Set("strides", std::vector<int64_t>{-1, 2, -3});
    Check({"slice", {{t, {3, 5, 7}, 0, 1}}, slice});
  }
  core::Attrs axis;
  axis.Set("axis", int64_t{1});
  Check({"concatenate",
         {{DType::kFloat32, {3, 2, 4}}, {DType::kFloat16, {3, 5, 4}}, {DType::kInt32, {3, 1, 4}}},
         axis});
}

TEST_F(CudaParityTest, GeneratorsAndRandom) {
  for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32, DType::kUInt8,
                  DType::kBool, DType::kFloat64}) {
    core::Attrs full;
    full.Set("value", 3.14159);
    full.Set("shape", std::vector<int64_t>{4, 9});
    full.Set("dtype", t);
    Check({"full", {}, full});
    if (t == DType::kBool) continue;
    core::Attrs arange;
    arange.Set("start", 0.5);
    arange.Set("stop", 100.0);
    arange.Set("step", 0.75);
    arange.Set("dtype", t == DType::kUInt8 ? DType::kInt64 : t);
    Check({"arange", {}, arange});
  }
  for (DType t : kFloats) {
    core::HostTensor key = MakeHost(DType::kUInt32, {2}, {12345, 678});
    core::Attrs uniform;
    uniform.Set("low", -2.0);
    uniform.Set("high", 3.0);
    uniform.Set("shape", std::vector<int64_t>{4099});
    uniform.Set("dtype", t);
    core::Attrs normal;
    normal.Set("loc", 1.0);
    normal.Set("scale", 2.0);
    normal.Set("shape", std::vector<int64_t>{4099});
    normal.Set("dtype", t);
    for (const auto& [op, attrs] :
         {std::pair{"random_uniform", uniform}, std::pair{"random_normal", normal}}) {
      absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, {key}, attrs);
      absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, {key}, attrs);
      ASSERT_TRUE(want.ok() && got.ok()) << want.status() << got.status();
      // Bit-identical: the same Philox words, the same double arithmetic (no FMA on
      // either side). Only the normal's double log/cos may differ by an ulp between CUDA's
      // and glibc's math, which rounding to the narrower floats hides.
      if (std::string(op) == "random_normal" && t == DType::kFloat64) {
        const std::vector<double> w = Values(*want), g = Values(*got);
        for (size_t i = 0; i < w.size(); ++i) {
          ASSERT_NEAR(g[i], w[i], 1e-14 * std::max(1.0, std::abs(w[i]))) << i;
        }
      } else {
        EXPECT_TRUE(got->data == want->data) << op << " " << core::DTypeName(t);
      }
    }
  }
}

// ---- complex64 ----
// Random complex inputs (both parts uniform in [low, high]) on both backends. A complex
// result's parts are each held to tol * max(1, |w|), |w| the CPU element's modulus (fft:
// the largest modulus of the whole result, as an FFT's error is relative to the signal);
// real results as Check. Tolerances: exact for astype, parts, conjugate and moves;
// float32's 2e-6 for elementwise arithmetic and math (the GPU computes in float, glibc's
// complex functions partly in higher precision: a few ulp), 8e-6 for sums, products and
// means (both accumulate in complex double; the GPU in another order); fft 1e-5 * log2(n)
// (float passes against the CPU's double ones).

core::HostTensor RandomComplex(const core::Shape& shape, std::mt19937_64& rng, double low = -4,
                               double high = 4, bool whole = false) {
  std::vector<float> parts(2 * static_cast<size_t>(core::NumElements(shape)));
  std::uniform_real_distribution<double> real(low, high);
  for (float& v : parts) v = static_cast<float>(whole ? std::round(real(rng)) : real(rng));
  core::HostTensor host{{DType::kComplex64, shape}, ""};
  host.data.assign(reinterpret_cast<const char*>(parts.data()), parts.size() * sizeof(float));
  return host;
}

core::HostTensor ComplexHost(const core::Shape& shape, const std::vector<float>& parts) {
  core::HostTensor host{{DType::kComplex64, shape}, ""};
  host.data.assign(reinterpret_cast<const char*>(parts.data()), parts.size() * sizeof(float));
  return host;
}

core::HostTensor RandomReal(DType dtype, const core::Shape& shape, std::mt19937_64& rng,
                            double low = -4, double high = 4) {
  return RandomHost({dtype, shape, low, high}, rng);
}

class CudaComplexParityTest : public CudaParityTest {
 protected:
  void CheckComplex(const std::string& op, const std::vector<core::HostTensor>& inputs,
                    const core::Attrs& attrs, double tol, bool whole_result = false) {
    std::string types;
    for (const core::HostTensor& input : inputs) {
      absl::StrAppend(&types, " ", core::TypeToString(input.type));
    }
    SCOPED_TRACE(op + types);
    absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, inputs, attrs);
    ASSERT_TRUE(want.ok()) << want.status();
    absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, inputs, attrs);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->type, want->type);
    auto near = [tol](double w, double g, double magnitude) {
      return (std::isnan(w) && std::isnan(g)) || w == g ||
             std::abs(w - g) <= tol * std::max(1.0, magnitude);
    };
    int reported = 0;
    if (want->type.dtype != DType::kComplex64) {
      const std::vector<double> w = Values(*want), g = Values(*got);
      for (size_t i = 0; i < w.size() && reported < 5; ++i) {
        if (!near(w[i], g[i], std::abs(w[i]))) {
          ++reported;
          ADD_FAILURE() << "element " << i << ": cpu " << w[i] << ", cuda " << g[i];
        }
      }
      return;
    }
    const std::vector<float> w = cpu::testing::Elements<float>(*want);
    const std::vector<float> g = cpu::testing::Elements<float>(*got);
    double largest = 0;
    for (size_t i = 0; i < w.size(); i += 2)
      largest = std::max<double>(largest, std::hypot(w[i], w[i + 1]));
    for (size_t i = 0; i < w.size() && reported < 5; i += 2) {
      const double magnitude = whole_result ? largest : std::hypot(w[i], w[i + 1]);
      if (!near(w[i], g[i], magnitude) || !near(w[i + 1], g[i + 1], magnitude)) {
        ++reported;
        ADD_FAILURE() << "element " << i / 2 << ": cpu (" << w[i] << ", " << w[i + 1] << "), cuda ("
                      << g[i] << ", " << g[i + 1] << ") (tolerance " << tol << ")";
      }
    }
  }

  std::mt19937_64 rng_{97};
};

constexpr double kFloatTolerance = 2e-6;

TEST_F(CudaComplexParityTest, Arithmetic) {
  for (const char* op : {"add", "sub", "mul", "div", "equal", "not_equal"}) {
    // Whole-number parts in [-2, 2]: equal elements occur, and divisions by zero.
    CheckComplex(op, {RandomComplex({3, 1, 7}, rng_), RandomComplex({5, 1}, rng_)}, {},
                 kFloatTolerance);
    CheckComplex(
        op, {RandomComplex({4, 9}, rng_, -2, 2, true), RandomComplex({4, 9}, rng_, -2, 2, true)},
        {}, kFloatTolerance);
    // Mixed with real dtypes: those become complex64 first.
    CheckComplex(op, {RandomComplex({4, 6}, rng_), RandomReal(DType::kFloat16, {6}, rng_, 1, 4)},
                 {}, kFloatTolerance);
    CheckComplex(op, {RandomReal(DType::kInt32, {4, 1}, rng_, 1, 9), RandomComplex({4, 6}, rng_)},
                 {}, kFloatTolerance);
  }
  // A dense run long enough for the packed loop and its tail.
  CheckComplex("mul", {RandomComplex({1001}, rng_), RandomComplex({1001}, rng_)}, {},
               kFloatTolerance);
  // Infinities and zeros as C99's Annex G: over zero, over and of an infinity.
  CheckComplex("div",
               {ComplexHost({5}, {1, 2, 0, 0, INFINITY, 1, 2, 3, NAN, 1}),
                ComplexHost({5}, {0, 0, 0, 0, 1, 2, -INFINITY, 1, 0, 0})},
               {}, 0);
  // Divisors of very different part sizes: both branches of the quotient.
  CheckComplex("div",
               {RandomComplex({6}, rng_),
                ComplexHost({6}, {1e-3f, 3, 3, 1e-3f, -1e4f, 2, 2, -1e4f, 0.5f, -0.25f, 0, 1})},
               {}, kFloatTolerance);
}

TEST_F(CudaComplexParityTest, MathFunctions) {
  for (const char* op : {"neg", "square", "exp", "sin", "cos", "abs"}) {
    CheckComplex(op, {RandomComplex({3, 5, 7}, rng_)}, {}, kFloatTolerance);
  }
  for (const char* op : {"log", "sqrt"}) {
    CheckComplex(op, {RandomComplex({3, 5, 7}, rng_, -50, 50)}, {}, kFloatTolerance);
    // Every quadrant, the axes and zero (log: -inf), along the branch cut (negative reals).
    CheckComplex(op,
                 {ComplexHost({8}, {1, 0, -1, 0, 0, 1, 0, -1, -4, 1e-3f, -4, -1e-3f, 0, 0, 3, -4})},
                 {}, kFloatTolerance);
  }
  const std::vector<float> special = {NAN, 0, 0, NAN, INFINITY, 1, 1, -INFINITY, 2, 3, -0.0f, 0};
  for (const char* op : {"isnan", "isinf"}) {
    CheckComplex(op, {ComplexHost({6}, special)}, {}, 0);
    CheckComplex(op, {RandomComplex({40}, rng_)}, {}, 0);
  }
}

TEST_F(CudaComplexParityTest, SumsAndMeans) {
  for (const char* op : {"sum", "mean", "prod"}) {
    const bool prod = std::string(op) == "prod";
    // prod's factors near the unit circle, so that the product stays finite.
    const double low = prod ? -0.75 : -4, high = prod ? 0.75 : 4;
    for (const auto& axes : std::vector<std::vector<int64_t>>{{1}, {0, 2}, {}, {0, 1, 2}}) {
      CheckComplex(op, {RandomComplex({6, 70, 5}, rng_, low, high)}, Axes(axes, axes.size() == 1),
                   4 * kFloatTolerance);
    }
    // The column kernel (many adjacent outputs over strided elements).
    CheckComplex(op, {RandomComplex({130, 1100}, rng_, low, high)}, Axes({0}, 0),
                 4 * kFloatTolerance);
  }
  CheckComplex("sum", {RandomComplex({2, 5000}, rng_)}, Axes({1}, 0), 4 * kFloatTolerance);
}

TEST_F(CudaComplexParityTest, AstypeBothWays) {
  const core::HostTensor special =
      ComplexHost({6}, {0, 0, 0, -2, 3.7f, 0, NAN, 0, -300.5f, 9, 1e20f, -1});
  core::Attrs to_complex;
  to_complex.Set("dtype", DType::kComplex64);
  for (DType t : core::kAllDTypes) {
    core::Attrs attrs;
    attrs.Set("dtype", t);
    CheckComplex("astype", {RandomComplex({33}, rng_, -300, 300)}, attrs, 0);
    CheckComplex("astype", {special}, attrs, 0);
    CheckComplex("astype", {RandomReal(t, {33}, rng_, -300, 300)}, to_complex, 0);
  }
}

TEST_F(CudaComplexParityTest, PartsAndConjugate) {
  for (const char* op : {"real", "imag", "conjugate"}) {
    CheckComplex(op, {RandomComplex({3, 5, 7}, rng_)}, {}, 0);
    CheckComplex(op, {RandomComplex({1}, rng_)}, {}, 0);
  }
}

TEST_F(CudaComplexParityTest, Moves) {
  // where with a real branch (converted to complex64), broadcasting.
  CheckComplex("where",
               {RandomReal(DType::kBool, {3, 1, 7}, rng_, 0, 1), RandomComplex({5, 7}, rng_),
                RandomReal(DType::kFloat32, {3, 5, 1}, rng_)},
               {}, 0);
  using Ints = std::vector<int64_t>;
  core::Attrs rows;
  rows.Set("axes", Ints{0});
  rows.Set("slice_sizes", Ints{1, 5, 7});
  CheckComplex("gather",
               {RandomComplex({6, 5, 7}, rng_), RandomReal(DType::kInt32, {4, 3}, rng_, -6, 5)},
               rows, 0);
  core::Attrs axis;
  axis.Set("axis", int64_t{1});
  CheckComplex("concatenate",
               {RandomComplex({3, 2, 4}, rng_), RandomComplex({3, 5, 4}, rng_),
                RandomComplex({3, 1, 4}, rng_)},
               axis, 0);
  core::Attrs perm;
  perm.Set("perm", Ints{2, 0, 1});
  CheckComplex("transpose", {RandomComplex({3, 5, 7}, rng_)}, perm, 0);
  core::Attrs axes;
  axes.Set("axes", Ints{0});
  CheckComplex("scatter",
               {RandomComplex({6, 5}, rng_), RandomReal(DType::kInt32, {4}, rng_, -6, 5),
                RandomComplex({4, 1, 5}, rng_)},
               axes, 0);
  core::Attrs slice;
  slice.Set("start", Ints{2, 0, 6});
  slice.Set("stop", Ints{-1, 5, 0});
  slice.Set("strides", Ints{-1, 2, -3});
  CheckComplex("slice_update", {RandomComplex({3, 5, 7}, rng_), RandomComplex({3, 3, 2}, rng_)},
               slice, 0);
}

core::Attrs FftAttrs(int64_t axis, int64_t n, bool inverse, bool real) {
  core::Attrs attrs;
  attrs.Set("axis", axis);
  attrs.Set("n", n);
  attrs.Set("inverse", int64_t{inverse});
  attrs.Set("real", int64_t{real});
  return attrs;
}

double FftTolerance(int64_t n) { return 1e-5 * std::max(1.0, std::log2(static_cast<double>(n))); }

// Lengths: 1, powers of 2 (radix 4 and 2 passes), mixes of 3, 5 and 7, the prime 97 (one
// looping pass), 22 and 121 (a looping pass after others), 1000, and Bluestein's algorithm
// for the primes 127 and 1009 and for 2 x 127.
const std::vector<int64_t> kFftLengths = {1,   2, 4,  8,  64,  256,  6,   12,  15,
                                          105, 7, 97, 22, 121, 1000, 127, 254, 1009};

TEST_F(CudaComplexParityTest, FftComplex) {
  for (int64_t n : kFftLengths) {
    for (bool inverse : {false, true}) {
      SCOPED_TRACE(absl::StrCat("n ", n, inverse ? " inverse" : ""));
      CheckComplex("fft", {RandomComplex({3, n}, rng_, -1, 1)}, FftAttrs(1, n, inverse, false),
                   FftTolerance(n), true);
    }
  }
  // Not the last axis: lines strided by the dims after it.
  for (int64_t n : {8, 15, 97, 127}) {
    CheckComplex("fft", {RandomComplex({2, n, 5}, rng_, -1, 1)}, FftAttrs(1, n, false, false),
                 FftTolerance(n), true);
    CheckComplex("fft", {RandomComplex({n, 3}, rng_, -1, 1)}, FftAttrs(0, n, true, false),
                 FftTolerance(n), true);
  }
}

TEST_F(CudaComplexParityTest, RfftAndIrfft) {
  for (int64_t n : kFftLengths) {
    SCOPED_TRACE(absl::StrCat("n ", n));
    CheckComplex("fft", {RandomReal(DType::kFloat32, {3, n}, rng_, -1, 1)},
                 FftAttrs(1, n, false, true), FftTolerance(n), true);
    // irfft reads bins 0 .. n / 2; the imaginary parts of bins 0 and n / 2 do not count.
    CheckComplex("fft", {RandomComplex({3, n / 2 + 1}, rng_, -1, 1)}, FftAttrs(1, n, true, true),
                 FftTolerance(n), true);
  }
  for (int64_t n : {8, 15, 97, 127}) {
    CheckComplex("fft", {RandomReal(DType::kFloat32, {2, n, 5}, rng_, -1, 1)},
                 FftAttrs(1, n, false, true), FftTolerance(n), true);
    CheckComplex("fft", {RandomComplex({n / 2 + 1, 4}, rng_, -1, 1)}, FftAttrs(0, n, true, true),
                 FftTolerance(n), true);
  }
}

// A forward transform and its inverse give the input back, on the GPU alone.
TEST_F(CudaComplexParityTest, FftRoundTrip) {
  for (int64_t n : {16, 105, 97, 1009}) {
    core::HostTensor x = RandomComplex({2, n}, rng_, -1, 1);
    absl::StatusOr<core::HostTensor> spectrum =
        RunOn(*gpu_, "fft", {x}, FftAttrs(1, n, false, false));
    ASSERT_TRUE(spectrum.ok()) << spectrum.status();
    absl::StatusOr<core::HostTensor> back =
        RunOn(*gpu_, "fft", {*spectrum}, FftAttrs(1, n, true, false));
    ASSERT_TRUE(back.ok()) << back.status();
    const std::vector<float> want = cpu::testing::Elements<float>(x);
    const std::vector<float> got = cpu::testing::Elements<float>(*back);
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(got[i], want[i], FftTolerance(n)) << "n " << n << ", part " << i;
    }
  }
}

// ---- linear algebra ----
// Inputs made well-posed (symmetric positive definite for cholesky, diagonally dominant for
// the solves), compared with LinalgTolerance: cholesky and the solves elementwise; qr, svd
// and eigh after each GPU column of Q, U or the eigenvectors (with its row of R or Vt) is
// flipped to the CPU's sign, since either is a valid result. U's columns and Vt's rows
// past min(m, n) span a null space in any basis: the GPU's are checked orthonormal instead.

enum class MatrixKind { kGeneral, kSymmetric, kSpd, kDominant };

// Random matrices of `shape` (last two axes) of `kind`, entries about [-1, 1].
core::HostTensor RandomMatrices(DType dtype, const core::Shape& shape, MatrixKind kind,
                                std::mt19937_64& rng) {
  const int64_t rows = shape[shape.size() - 2], cols = shape.back();
  std::vector<double> v(static_cast<size_t>(core::NumElements(shape)));
  std::uniform_real_distribution<double> real(-1, 1);
  for (double& x : v) x = real(rng);
  const int64_t n = rows;
  for (size_t b = 0; rows * cols > 0 && b < v.size(); b += rows * cols) {
    double* a = v.data() + b;
    if (kind == MatrixKind::kSymmetric) {
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < i; ++j) a[j * n + i] = a[i * n + j];
      }
    } else if (kind == MatrixKind::kSpd) {  // B B^T / n + I
      std::vector<double> bt(a, a + n * n);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double sum = 0;
          for (int64_t l = 0; l < n; ++l) sum += bt[i * n + l] * bt[j * n + l];
          a[i * n + j] = sum / static_cast<double>(n) + (i == j ? 1 : 0);
        }
      }
    } else if (kind == MatrixKind::kDominant) {
      for (int64_t i = 0; i < n; ++i) a[i * n + i] += (a[i * n + i] < 0 ? -1 : 1) * 2;
    }
  }
  return MakeHost(dtype, shape, v);
}

double LinalgTolerance(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
      return 1e-10;
    case DType::kFloat32:
      return 1e-4;
    default:
      return 2 * Tolerance(dtype);  // float32 results rounded once: an ulp either way
  }
}

// `count` packed results of `size` elements; flips the GPU's column (or row) `index` of the
// part at `offset` (rows x cols) where it points against the CPU's; returns the sign used.
double Align(const std::vector<double>& want, std::vector<double>& got, int64_t offset,
             int64_t rows, int64_t cols, int64_t index, bool column) {
  const int64_t length = column ? rows : cols;
  auto at = [&](int64_t e) { return offset + (column ? e * cols + index : index * cols + e); };
  double dot = 0;
  for (int64_t e = 0; e < length; ++e) dot += want[at(e)] * got[at(e)];
  const double sign = dot < 0 ? -1 : 1;
  for (int64_t e = 0; e < length; ++e) got[at(e)] *= sign;
  return sign;
}

void Flip(std::vector<double>& v, int64_t offset, int64_t cols, int64_t row, double sign) {
  for (int64_t e = 0; e < cols; ++e) v[offset + row * cols + e] *= sign;
}

// An n x n matrix with orthonormal columns, to `tol`; then its columns (or rows) from
// `first` on zeroed in both results, as they are compared no further.
void CheckNullSpace(std::vector<double>& want, std::vector<double>& got, int64_t offset, int64_t n,
                    int64_t first, bool columns, double tol) {
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t l = 0; l < n; ++l) dot += got[offset + l * n + i] * got[offset + l * n + j];
      EXPECT_NEAR(dot, i == j ? 1 : 0, tol * n) << "columns " << i << ", " << j;
    }
  }
  for (int64_t i = first; i < n; ++i) {
    for (int64_t e = 0; e < n; ++e) {
      const int64_t at = offset + (columns ? e * n + i : i * n + e);
      want[at] = got[at] = 0;
    }
  }
}

// How many elements of the m x n matrix `a` (at `a_offset`) lu's results at `offset` do not
// give back to `tol`: row j of a is row perm[j] of L U (core::LuLayout).
int64_t LuFactorMismatches(const std::vector<double>& a, int64_t a_offset,
                           const std::vector<double>& lu, int64_t offset, int64_t m, int64_t n,
                           double tol) {
  const core::LinalgLayout l = core::LuLayout(m, n);
  const int64_t k = std::min(m, n);
  int64_t mismatches = 0;
  for (int64_t j = 0; j < m; ++j) {
    const auto r = static_cast<int64_t>(lu[offset + l.parts[2].offset + j]);
    for (int64_t c = 0; c < n; ++c) {
      double sum = 0;  // (L U)[r][c]: L unit lower (m x k), U upper (k x n)
      for (int64_t t = 0; t <= std::min({r, c, k - 1}); ++t) {
        sum += (t == r ? 1.0 : lu[offset + r * n + t]) * lu[offset + t * n + c];
      }
      const double want = a[a_offset + j * n + c];
      if (std::abs(sum - want) > tol * static_cast<double>(n) * std::max(1.0, std::abs(want))) {
        ++mismatches;
      }
    }
  }
  return mismatches;
}

// The check lu's parity falls back on: factors of the same matrix with another row order.
TEST(LuFactorMismatchesTest, AcceptsAnotherPivotOrderAndRefusesOtherFactors) {
  std::mt19937_64 rng(5);
  const core::HostTensor a = RandomMatrices(DType::kFloat64, {5, 5}, MatrixKind::kGeneral, rng);
  std::vector<double> swapped = Values(a);
  std::swap_ranges(swapped.begin(), swapped.begin() + 5, swapped.begin() + 5);
  std::unique_ptr<Backend> cpu = MakeCpuBackend(int64_t{1} << 30);
  absl::StatusOr<core::HostTensor> own = RunOn(*cpu, "lu", {a}, {});
  absl::StatusOr<core::HostTensor> other =
      RunOn(*cpu, "lu", {MakeHost(DType::kFloat64, {5, 5}, swapped)}, {});
  ASSERT_TRUE(own.ok() && other.ok());
  EXPECT_EQ(LuFactorMismatches(Values(a), 0, Values(*own), 0, 5, 5, 1e-10), 0);
  // The swapped matrix's factors, their permutation swapped back, factor `a` too.
  std::vector<double> lu = Values(*other);
  const int64_t perm = core::LuLayout(5, 5).parts[2].offset;
  EXPECT_GT(LuFactorMismatches(Values(a), 0, lu, 0, 5, 5, 1e-10), 0);
  std::swap(lu[perm], lu[perm + 1]);
  EXPECT_EQ(LuFactorMismatches(Values(a), 0, lu, 0, 5, 5, 1e-10), 0);
  lu[2 * 5 + 3] += 1e-3;  // an element of U
  EXPECT_GT(LuFactorMismatches(Values(a), 0, lu, 0, 5, 5, 1e-10), 0);
}

class CudaLinalgParityTest : public CudaParityTest {
 protected:
  // Runs `op` on both backends; compares as the section's comment says.
  void CheckLinalg(const std::string& op, const std::vector<core::HostTensor>& inputs,
                   const core::Attrs& attrs = {}) {
    const core::Shape& shape = inputs[0].type.shape;
    SCOPED_TRACE(absl::StrCat(op, " ", core::TypeToString(inputs.back().type), " ",
                              core::TypeToString(inputs[0].type)));
    absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, inputs, attrs);
    ASSERT_TRUE(want.ok()) << want.status();
    absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, inputs, attrs);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_EQ(got->type, want->type);
    std::vector<double> w = Values(*want), g = Values(*got);
    const std::vector<double> a = Values(inputs[0]);
    const double tol = LinalgTolerance(want->type.dtype);
    const int64_t m = shape[shape.size() - 2], n = shape.back(), k = std::min(m, n);
    const int64_t count = core::NumElements(core::Shape(shape.begin(), shape.end() - 2));
    auto flag = [&attrs](const char* name) {
      absl::StatusOr<int64_t> value = attrs.Get<int64_t>(name);
      return value.ok() && *value != 0;
    };
    for (int64_t b = 0; b < count; ++b) {
      if (op == "qr") {
        const core::LinalgLayout l = core::QrLayout(m, n);
        const int64_t base = b * l.size;
        for (int64_t i = 0; i < k; ++i) {
          const double sign = Align(w, g, base + l.parts[0].offset, m, k, i, true);
          Flip(g, base + l.parts[1].offset, n, i, sign);
        }
      } else if (op == "svd" && flag("compute_uv")) {
        const core::LinalgLayout l = core::SvdLayout(m, n, true);
        const int64_t base = b * l.size;
        for (int64_t i = 0; i < k; ++i) {
          const double sign = Align(w, g, base + l.parts[0].offset, m, m, i, true);
          Flip(g, base + l.parts[2].offset, n, i, sign);
        }
        if (k == 0) continue;  // identities, compared as they are
        CheckNullSpace(w, g, base + l.parts[0].offset, m, k, true, tol);
        CheckNullSpace(w, g, base + l.parts[2].offset, n, k, false, tol);
      } else if (op == "eigh" && flag("compute_vectors")) {
        const core::LinalgLayout l = core::EighLayout(n, true);
        for (int64_t i = 0; i < n; ++i) {
          Align(w, g, b * l.size + l.parts[1].offset, n, n, i, true);
        }
      } else if (op == "lu") {
        // Where two candidate pivots are near equal, rounding in another order may pick the
        // other row: the GPU's factors must then give a back, and are compared no further.
        const core::LinalgLayout l = core::LuLayout(m, n);
        const int64_t base = b * l.size, pivots = base + l.parts[1].offset;
        if (std::equal(w.begin() + pivots, w.begin() + base + l.size, g.begin() + pivots)) {
          continue;
        }
        EXPECT_EQ(LuFactorMismatches(a, b * m * n, g, base, m, n, tol), 0) << "matrix " << b;
        std::copy(w.begin() + base, w.begin() + base + l.size, g.begin() + base);
        std::printf("lu: matrix %lld of %s pivots otherwise, checked as a = P L U\n",
                    static_cast<long long>(b), core::TypeToString(inputs[0].type).c_str());
      }
    }
    int reported = 0;
    for (size_t i = 0; i < w.size() && reported < 5; ++i) {
      if (std::abs(w[i] - g[i]) > tol * std::max(1.0, std::abs(w[i]))) {
        ++reported;
        ADD_FAILURE() << op << " element " << i << ": cpu " << w[i] << ", cuda " << g[i]
                      << " (tolerance " << tol << ")";
      }
    }
  }

  // Runs `op` on both backends, expecting the same failure.
  void CheckSameError(const std::string& op, const std::vector<core::HostTensor>& inputs,
                      const core::Attrs& attrs = {}) {
    absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, op, inputs, attrs);
    absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, op, inputs, attrs);
    ASSERT_FALSE(want.ok()) << op;
    ASSERT_FALSE(got.ok()) << op;
    EXPECT_EQ(got.status(), want.status());
  }

  std::mt19937_64 rng_{2024};
};

core::Attrs Flag(const char* name, int64_t value) {
  core::Attrs attrs;
  attrs.Set(name, value);
  return attrs;
}

constexpr DType kLinalgFloats[] = {DType::kFloat32, DType::kFloat64, DType::kFloat16};
const std::vector<core::Shape> kSquareShapes = {
    {4, 4}, {2, 3, 5, 5}, {1, 33, 33}, {0, 3, 3}, {2, 0, 0}};
const std::vector<core::Shape> kMatrixShapes = {{3, 4, 4}, {2, 6, 3}, {2, 3, 6},
                                                {1, 1, 7}, {2, 0, 3}, {3, 0}};

TEST_F(CudaLinalgParityTest, Cholesky) {
  for (DType t : kLinalgFloats) {
    for (const core::Shape& shape : kSquareShapes) {
      for (int64_t upper : {0, 1}) {
        // The triangle not read holds noise: the GPU must not read it either.
        core::HostTensor a = RandomMatrices(t, shape, MatrixKind::kSpd, rng_);
        const int64_t n = shape.back();
        std::vector<double> v = Values(a);
        for (size_t e = 0; n > 0 && e < v.size(); ++e) {
          const int64_t i = static_cast<int64_t>(e) / n % n, j = static_cast<int64_t>(e) % n;
          if (upper ? i > j : j > i) v[e] = 5;
        }
        CheckLinalg("cholesky", {MakeHost(t, shape, v)}, Flag("upper", upper));
      }
    }
  }
  // More matrices than one batched call takes (kSolverBatch in linalg.cc).
  CheckLinalg("cholesky", {RandomMatrices(DType::kFloat32, {65537, 2, 2}, MatrixKind::kSpd, rng_)},
              Flag("upper", 0));
}

TEST_F(CudaLinalgParityTest, SolveAndSolveTriangular) {
  for (DType t : kLinalgFloats) {
    for (const core::Shape& shape : kSquareShapes) {
      for (int64_t columns : {1, 3, 0}) {
        core::Shape b_shape = shape;
        b_shape.back() = columns;
        core::HostTensor a = RandomMatrices(t, shape, MatrixKind::kDominant, rng_);
        core::HostTensor b = RandomMatrices(t, b_shape, MatrixKind::kGeneral, rng_);
        CheckLinalg("solve", {a, b});
        for (int64_t upper : {0, 1}) {
          CheckLinalg("solve_triangular", {a, b}, Flag("upper", upper));
        }
      }
    }
  }
  // Past one block of 128 rows: the blocked solve's products and updates, both directions.
  // In float64: a random triangle of 300 rows is ill-conditioned enough that float32's
  // different summation orders part by 1e-4.
  for (DType t : {DType::kFloat64}) {
    core::HostTensor a = RandomMatrices(t, {2, 300, 300}, MatrixKind::kDominant, rng_);
    core::HostTensor b = RandomMatrices(t, {2, 300, 5}, MatrixKind::kGeneral, rng_);
    for (int64_t upper : {0, 1}) CheckLinalg("solve_triangular", {a, b}, Flag("upper", upper));
  }
  // Batches of matrices up to 32 x 32 solve through cuBLAS's batched LU, in calls of up to
  // 65536; larger ones one at a time.
  for (const auto& [a_shape, b_shape] : std::vector<std::pair<core::Shape, core::Shape>>{
           {{65537, 2, 2}, {65537, 2, 1}}, {{3, 32, 32}, {3, 32, 4}}, {{2, 33, 33}, {2, 33, 2}}}) {
    CheckLinalg("solve", {RandomMatrices(DType::kFloat32, a_shape, MatrixKind::kDominant, rng_),
                          RandomMatrices(DType::kFloat32, b_shape, MatrixKind::kGeneral, rng_)});
  }
  // Mixed dtypes solve in the promoted one; bfloat16 rounds once from float32.
  CheckLinalg("solve", {RandomMatrices(DType::kFloat64, {2, 4, 4}, MatrixKind::kDominant, rng_),
                        RandomMatrices(DType::kFloat32, {2, 4, 2}, MatrixKind::kGeneral, rng_)});
  CheckLinalg("solve", {RandomMatrices(DType::kBFloat16, {3, 3}, MatrixKind::kDominant, rng_),
                        RandomMatrices(DType::kBFloat16, {3, 2}, MatrixKind::kGeneral, rng_)});
}

TEST_F(CudaLinalgParityTest, QrSvdEigh) {
  for (DType t : kLinalgFloats) {
    for (const core::Shape& shape : kMatrixShapes) {
      CheckLinalg("qr", {RandomMatrices(t, shape, MatrixKind::kGeneral, rng_)});
      for (int64_t uv : {1, 0}) {
        CheckLinalg("svd", {RandomMatrices(t, shape, MatrixKind::kGeneral, rng_)},
                    Flag("compute_uv", uv));
      }
    }
    for (const core::Shape& shape : kSquareShapes) {
      for (int64_t upper : {0, 1}) {
        for (int64_t vectors : {1, 0}) {
          core::Attrs attrs = Flag("upper", upper);
          attrs.Set("compute_vectors", vectors);
          // Not symmetric: each backend must read the same triangle.
          CheckLinalg("eigh", {RandomMatrices(t, shape, MatrixKind::kGeneral, rng_)}, attrs);
        }
      }
    }
  }
  // A batch of matrices up to 32 x 32 runs as gesvdjBatched, larger ones one at a time.
  for (const core::Shape& shape :
       std::vector<core::Shape>{{40, 3, 5}, {40, 5, 3}, {2, 32, 32}, {2, 33, 8}}) {
    for (int64_t uv : {1, 0}) {
      CheckLinalg("svd", {RandomMatrices(DType::kFloat32, shape, MatrixKind::kGeneral, rng_)},
                  Flag("compute_uv", uv));
    }
  }
  CheckLinalg("svd", {RandomMatrices(DType::kFloat64, {65537, 3, 2}, MatrixKind::kGeneral, rng_)},
              Flag("compute_uv", 1));
  // A batch of matrices up to 32 x 32 runs as syevjBatched, in calls of up to 65536; larger
  // ones one at a time.
  for (const core::Shape& shape : std::vector<core::Shape>{{64, 3, 3}, {3, 32, 32}, {2, 33, 33}}) {
    core::Attrs attrs = Flag("upper", 0);
    attrs.Set("compute_vectors", int64_t{1});
    CheckLinalg("eigh", {RandomMatrices(DType::kFloat32, shape, MatrixKind::kGeneral, rng_)},
                attrs);
  }
  core::Attrs values_only = Flag("upper", 1);
  values_only.Set("compute_vectors", int64_t{0});
  CheckLinalg("eigh", {RandomMatrices(DType::kFloat64, {65537, 2, 2}, MatrixKind::kGeneral, rng_)},
              values_only);
  // A batch of matrices up to 32 x 32 runs as qr's own kernel, a block per matrix (at most
  // 65536 blocks, so some take several); larger ones, or one alone, through cuSOLVER.
  for (const core::Shape& shape : std::vector<core::Shape>{
           {3, 32, 32}, {2, 32, 5}, {2, 5, 32}, {5, 1, 1}, {2, 33, 4}, {1, 6, 4}}) {
    CheckLinalg("qr", {RandomMatrices(DType::kFloat32, shape, MatrixKind::kGeneral, rng_)});
  }
  CheckLinalg("qr", {RandomMatrices(DType::kFloat64, {65537, 3, 2}, MatrixKind::kGeneral, rng_)});
  // Columns already reduced (zero below the diagonal, or zero throughout) take no reflector,
  // as LAPACK's larfg: the same R, signs included.
  CheckLinalg("qr", {MakeHost(DType::kFloat64, {2, 3, 3},
                              std::vector<double>{0, 1, 2, 0, 3, 4, 0, 5, 6,  //
                                                  2, 1, 2, 0, 3, 4, 0, 5, 6})});
}

TEST_F(CudaLinalgParityTest, EigIsTheCpusComputedOnTheHost) {
  for (DType t : kLinalgFloats) {
    for (const core::Shape& shape : kSquareShapes) {
      for (int64_t vectors : {1, 0}) {
        const std::vector<core::HostTensor> a = {
            RandomMatrices(t, shape, MatrixKind::kGeneral, rng_)};
        SCOPED_TRACE(core::TypeToString(a[0].type));
        const core::Attrs attrs = Flag("compute_vectors", vectors);
        absl::StatusOr<core::HostTensor> want = RunOn(*cpu_, "eig", a, attrs);
        ASSERT_TRUE(want.ok()) << want.status();
        absl::StatusOr<core::HostTensor> got = RunOn(*gpu_, "eig", a, attrs);
        ASSERT_TRUE(got.ok()) << got.status();
        EXPECT_EQ(got->type, want->type);
        EXPECT_TRUE(got->data == want->data);
      }
    }
  }
}

TEST_F(CudaLinalgParityTest, Lu) {
  // Partial pivoting picks the same rows on both backends but for near ties (CheckLinalg).
  for (DType t : kLinalgFloats) {
    for (const core::Shape& shape : kMatrixShapes) {
      CheckLinalg("lu", {RandomMatrices(t, shape, MatrixKind::kGeneral, rng_)});
    }
    for (const core::Shape& shape : kSquareShapes) {
      CheckLinalg("lu", {RandomMatrices(t, shape, MatrixKind::kGeneral, rng_)});
    }
    // Square batches up to 32 x 32 through cuBLAS's getrfBatched, past one call's 65536 (few
    // large matrices: each pivot choice is a chance of a near tie that rounding may flip).
    for (const core::Shape& shape : std::vector<core::Shape>{{6, 32, 32}, {65537, 2, 2}}) {
      CheckLinalg("lu", {RandomMatrices(t, shape, MatrixKind::kGeneral, rng_)});
    }
    // A zero row: singular, factored all the same.
    std::vector<double> a = Values(RandomMatrices(t, {4, 4}, MatrixKind::kGeneral, rng_));
    for (int j = 0; j < 4; ++j) a[4 + j] = 0;
    CheckLinalg("lu", {MakeHost(t, {4, 4}, a)});
  }
}

TEST_F(CudaLinalgParityTest, MatricesThatCannotBeFactoredFailLikeTheCpu) {
  for (DType t : kLinalgFloats) {
    // Matrix 1 of 3 has a negative diagonal element 1: its leading minor of order 2 is not
    // positive.
    std::vector<double> spd = Values(RandomMatrices(t, {3, 4, 4}, MatrixKind::kSpd, rng_));
    spd[16 + 5] = -1;
    CheckSameError("cholesky", {MakeHost(t, {3, 4, 4}, spd)}, Flag("upper", 0));
    CheckSameError("cholesky", {MakeHost(t, {3, 4, 4}, spd)}, Flag("upper", 1));
    // Matrix 1 has a zero row 1 (exactly singular: U[1, 1] is zero) and a zero diagonal
    // element 1.
    std::vector<double> a = Values(RandomMatrices(t, {3, 4, 4}, MatrixKind::kDominant, rng_));
    for (int j = 0; j < 4; ++j) a[16 + 4 + j] = 0;
    core::HostTensor b = RandomMatrices(t, {3, 4, 2}, MatrixKind::kGeneral, rng_);
    CheckSameError("solve", {MakeHost(t, {3, 4, 4}, a), b});
    CheckSameError("solve_triangular", {MakeHost(t, {3, 4, 4}, a), b}, Flag("upper", 1));
    // A NaN or an infinity where svd and eigh read: refused before the solver runs.
    std::vector<double> general = Values(RandomMatrices(t, {3, 4, 4}, MatrixKind::kGeneral, rng_));
    general[16 + 6] = INFINITY;  // matrix 1, row 1, column 2: above the diagonal
    general[32 + 4] = NAN;       // matrix 2, row 1, column 0: below it
    CheckSameError("svd", {MakeHost(t, {3, 4, 4}, general)}, Flag("compute_uv", 1));
    core::Attrs eigh_attrs = Flag("upper", 1);
    eigh_attrs.Set("compute_vectors", int64_t{1});
    CheckSameError("eigh", {MakeHost(t, {3, 4, 4}, general)}, eigh_attrs);
    // One matrix: "the matrix", and no columns to solve for.
    core::HostTensor one = MakeHost(t, {4, 4}, std::vector<double>(a.begin() + 16, a.begin() + 32));
    CheckSameError("solve", {one, RandomMatrices(t, {4, 0}, MatrixKind::kGeneral, rng_)});
    CheckSameError("solve_triangular", {one, RandomMatrices(t, {4, 0}, MatrixKind::kGeneral, rng_)},
                   Flag("upper", 0));
  }
}

}  // namespace
}  // namespace ferry::kernels
