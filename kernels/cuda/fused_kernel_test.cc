// The fused groups' generated kernels, without a GPU: what the generator writes for a chain,
// where it declines, and that NVRTC compiles what it writes for each GPU generation ferry
// targets. (Their results against the CPU are cuda_parity_test's and the remote tests',
// on a GPU.)

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cuda/cubin_cache.h"
#include "kernels/cuda/fused.h"
#include "kernels/cuda/nvrtc_loader.h"
#include "kernels/cuda/test_util.h"

namespace ferry::kernels::cuda {
namespace {

using core::DType;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::OpNode;
using testing::ParameterNode;

// sigmoid(tanh(x * row) - 1) + scalar over x (257, 129), row (129,), scalar ().
core::Graph Chain() {
  core::Graph g;
  const core::Shape out = {257, 129};
  g.nodes = {
      ParameterNode(0, DType::kFloat32, out),       ParameterNode(1, DType::kFloat32, {129}),
      ParameterNode(2, DType::kFloat32, {}),        OpNode("mul", {0, 1}, DType::kFloat32, out),
      OpNode("tanh", {3}, DType::kFloat32, out),    OpNode("sub", {4, 2}, DType::kFloat32, out),
      OpNode("sigmoid", {5}, DType::kFloat32, out), OpNode("add", {6, 2}, DType::kFloat32, out)};
  g.outputs = {7};
  return g;
}

// where(x > col, x * x, -x) over x (4, 5) and a column col (4, 1): a bool inside.
core::Graph WhereChain() {
  core::Graph g;
  const core::Shape out = {4, 5};
  g.nodes = {ParameterNode(0, DType::kFloat32, out),
             ParameterNode(1, DType::kFloat32, {4, 1}),
             OpNode("greater", {0, 1}, DType::kBool, out),
             OpNode("square", {0}, DType::kFloat32, out),
             OpNode("neg", {0}, DType::kFloat32, out),
             OpNode("where", {2, 3, 4}, DType::kFloat32, out)};
  g.outputs = {5};
  return g;
}

// x * y + scalar over x and y (1027,) (not a multiple of 4) and a scalar: nothing
// broadcasts along a dimension.
core::Graph DenseChain() {
  core::Graph g;
  const core::Shape out = {1027};
  g.nodes = {ParameterNode(0, DType::kFloat32, out), ParameterNode(1, DType::kFloat32, out),
             ParameterNode(2, DType::kFloat32, {}), OpNode("mul", {0, 1}, DType::kFloat32, out),
             OpNode("add", {3, 2}, DType::kFloat32, out)};
  g.outputs = {4};
  return g;
}

TEST(FusedKernelTest, AChainIsOneLoopWithBroadcastIndexing) {
  const std::string source = FusedKernelSource(Chain());
  EXPECT_THAT(source, HasSubstr("extern \"C\" __global__"));
  EXPECT_THAT(source, HasSubstr("ferry_element(in_0[i], "));                  // dense
  EXPECT_THAT(source, HasSubstr("in_1[(i / 1LL % 129LL) * 1LL], in_2[0])"));  // row, scalar
  EXPECT_THAT(source, HasSubstr("tanhf(x)"));
  EXPECT_THAT(source, HasSubstr("1.0f / (1.0f + expf(-x))"));  // unary.cu's sigmoid
  EXPECT_THAT(source, HasSubstr("return v7;"));
  EXPECT_THAT(source, Not(HasSubstr("float4"))) << "the row broadcasts: no pack path";
}

TEST(FusedKernelTest, DenseOperandsAndScalarsTakeFourElementsAtATime) {
  const std::string source = FusedKernelSource(DenseChain());
  EXPECT_THAT(source, HasSubstr("reinterpret_cast<const float4*>(in_0)[q]"));
  EXPECT_THAT(source, HasSubstr("const float s2 = in_2[0];"));
  EXPECT_THAT(source, HasSubstr("r.w = ferry_element(p0.w, p1.w, s2);"));
  EXPECT_THAT(source, HasSubstr("out[i] = ferry_element(in_0[i], in_1[i], in_2[0]);"));
}

// `graph` with every float32 value made `dtype`.
core::Graph WithFloats(core::Graph graph, DType dtype) {
  for (core::Node& node : graph.nodes) {
    if (node.out.dtype == DType::kFloat32) node.out.dtype = dtype;
  }
  return graph;
}

TEST(FusedKernelTest, HalfDtypesComputeInFloatAndRoundAfterEachOp) {
  const std::string half = FusedKernelSource(WithFloats(Chain(), DType::kFloat16));
  EXPECT_THAT(half, HasSubstr("const unsigned short* in_0"));
  EXPECT_THAT(half, HasSubstr("ferry_element(ferry_from_half(in_0[i]), "));
  EXPECT_THAT(half, HasSubstr("const float v4 = ferry_from_half(ferry_to_half([&] { const float "
                              "x = v3; return tanhf(x); }()));"));
  EXPECT_THAT(half, HasSubstr("out[i] = ferry_to_half(ferry_element("));
  const std::string dense = FusedKernelSource(WithFloats(DenseChain(), DType::kBFloat16));
  EXPECT_THAT(dense, HasSubstr("reinterpret_cast<const ushort4*>(in_0)[q]"));
  EXPECT_THAT(dense, HasSubstr("(unsigned long long)in_0 % 8 == 0"));
  EXPECT_THAT(dense, HasSubstr("r.w = ferry_to_bfloat16(ferry_element(ferry_from_bfloat16(p0.w), "
                               "ferry_from_bfloat16(p1.w), s2));"));
}

TEST(FusedKernelTest, Float64ComputesInDoubleWithoutPacks) {
  const std::string source = FusedKernelSource(WithFloats(DenseChain(), DType::kFloat64));
  EXPECT_THAT(source, HasSubstr("const double* in_0"));
  EXPECT_THAT(source, Not(HasSubstr("q < n / 4")));
  const std::string chain = FusedKernelSource(WithFloats(Chain(), DType::kFloat64));
  EXPECT_THAT(chain, HasSubstr("return tanh(x);"));
  EXPECT_THAT(chain, HasSubstr("1.0 / (1.0 + exp(-x))"));
  EXPECT_THAT(chain, Not(HasSubstr("f(")));
}

TEST(FusedKernelTest, AColumnIsIndexedByItsRow) {
  const std::string source = FusedKernelSource(WhereChain());
  EXPECT_THAT(source, HasSubstr("in_1[(i / 5LL % 4LL) * 1LL]"));
  EXPECT_THAT(source, HasSubstr("const bool v2 ="));
  EXPECT_THAT(source, HasSubstr("v2 ? v3 : v4"));
}

TEST(FusedKernelTest, DeclinesWhatItDoesNotGenerate) {
  EXPECT_EQ(FusedKernelSource(WithFloats(Chain(), DType::kInt32)), "");
  core::Graph two_floats = WithFloats(Chain(), DType::kFloat16);
  two_floats.nodes[2].out.dtype = DType::kBFloat16;
  EXPECT_EQ(FusedKernelSource(two_floats), "") << "one floating dtype per group";
  core::Graph unknown = Chain();
  unknown.nodes[4].op = "arctan2";
  EXPECT_EQ(FusedKernelSource(unknown), "");
  core::Graph mixed = WhereChain();
  mixed.nodes[1].out.dtype = DType::kInt32;
  EXPECT_EQ(FusedKernelSource(mixed), "");
}

TEST(FusedKernelTest, NvrtcCompilesTheKernelsForEveryTarget) {
  absl::StatusOr<const Nvrtc*> nvrtc = LoadNvrtc();
  if (!nvrtc.ok()) GTEST_SKIP() << nvrtc.status();
  for (const core::Graph& graph :
       {Chain(), DenseChain(), WhereChain(), WithFloats(Chain(), DType::kFloat16),
        WithFloats(DenseChain(), DType::kBFloat16), WithFloats(WhereChain(), DType::kFloat16)}) {
    const std::string source = FusedKernelSource(graph);
    for (auto [major, minor] : std::vector<std::pair<int, int>>{{7, 5}, {8, 0}, {9, 0}}) {
      absl::StatusOr<std::string> cubin = CompileToCubin(**nvrtc, source, major, minor);
      ASSERT_TRUE(cubin.ok()) << "sm_" << major << minor << ": " << cubin.status() << "\n"
                              << source;
      EXPECT_GT(cubin->size(), 256u);
      EXPECT_EQ(cubin->substr(0, 4),
                "\x7f"
                "ELF")
          << "a cubin is an ELF image";
    }
  }
}

// One group using every op the generator writes, per floating dtype: NVRTC (not only the
// emulator's host compiler, which the GPU tests run on in CI) accepts every formula.
TEST(FusedKernelTest, NvrtcCompilesEveryFormula) {
  absl::StatusOr<const Nvrtc*> nvrtc = LoadNvrtc();
  if (!nvrtc.ok()) GTEST_SKIP() << nvrtc.status();
  for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    SCOPED_TRACE(core::DTypeName(dtype));
    const core::Shape out = {7, 9};
    core::Graph g;
    g.nodes = {ParameterNode(0, dtype, out), ParameterNode(1, dtype, {9}),
               ParameterNode(2, DType::kBool, out)};
    int32_t v = 0;
    auto add = [&](core::Node node) {
      g.nodes.push_back(std::move(node));
      return static_cast<int32_t>(g.nodes.size()) - 1;
    };
    for (const char* op :
         {"neg",    "abs",   "relu",    "exp",   "log",   "sqrt",  "rsqrt", "sin",
          "cos",    "tanh",  "sigmoid", "erf",   "log1p", "expm1", "log2",  "log10",
          "square", "floor", "ceil",    "round", "sign",  "gelu"}) {
      v = add(OpNode(op, {v}, dtype, out));
    }
    for (const char* op : {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}) {
      v = add(OpNode(op, {v, 1}, dtype, out));
    }
    int32_t test = 2;
    for (const char* op :
         {"equal", "not_equal", "less", "less_equal", "greater", "greater_equal"}) {
      const int32_t c = add(OpNode(op, {v, 1}, DType::kBool, out));
      test = add(OpNode(std::string(op) == "less" ? "logical_or" : "logical_and", {test, c},
                        DType::kBool, out));
    }
    test = add(OpNode("logical_not", {test}, DType::kBool, out));
    v = add(OpNode("where", {test, v, 0}, dtype, out));
    g.outputs = {v};
    const std::string source = FusedKernelSource(g);
    ASSERT_NE(source, "") << "the generator covers every op of the group";
    absl::StatusOr<std::string> cubin = CompileToCubin(**nvrtc, source, 9, 0);
    EXPECT_TRUE(cubin.ok()) << cubin.status() << "\n" << source;
  }
}

TEST(FusedKernelTest, NvrtcErrorsCarryItsLog) {
  absl::StatusOr<const Nvrtc*> nvrtc = LoadNvrtc();
  if (!nvrtc.ok()) GTEST_SKIP() << nvrtc.status();
  absl::StatusOr<std::string> cubin =
      CompileToCubin(**nvrtc, "__global__ void k() { undeclared(); }", 9, 0);
  ASSERT_FALSE(cubin.ok());
  EXPECT_EQ(cubin.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cubin.status().message()), HasSubstr("undeclared"));
  EXPECT_THAT(std::string(cubin.status().message()), Not(HasSubstr("ferry_fused(")));
}

TEST(FusedKernelTest, CompileFusedKernelKeepsTheSourceAndSaysWhyNot) {
  std::string why;
  if (!LoadNvrtc().ok()) GTEST_SKIP() << LoadNvrtc().status();
  std::shared_ptr<const FusedKernel> kernel = CompileFusedKernel(Chain(), 9, 0, &why);
  ASSERT_NE(kernel, nullptr) << why;
  EXPECT_EQ(kernel->source(), FusedKernelSource(Chain()));
  EXPECT_EQ(CompileFusedKernel(WithFloats(Chain(), DType::kInt32), 9, 0, &why), nullptr);
  EXPECT_THAT(why, HasSubstr("does not cover"));
}

TEST(CubinCacheTest, AnEntryServesOnlyItsExactSourceAndCompiler) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/cubins/a/b");
  const std::string source = FusedKernelSource(Chain());
  EXPECT_EQ(LoadCubin(dir, "nvrtc 13.0 sm_90", source), std::nullopt);
  ASSERT_TRUE(StoreCubin(dir, "nvrtc 13.0 sm_90", source,
                         "\x7f"
                         "ELF cubin bytes"));
  EXPECT_EQ(LoadCubin(dir, "nvrtc 13.0 sm_90", source),
            "\x7f"
            "ELF cubin bytes");
  EXPECT_EQ(LoadCubin(dir, "nvrtc 13.0 sm_80", source), std::nullopt);
  EXPECT_EQ(LoadCubin(dir, "nvrtc 13.0 sm_90", source + " "), std::nullopt);
  EXPECT_EQ(LoadCubin("", "nvrtc 13.0 sm_90", source), std::nullopt) << "no directory: no cache";
  EXPECT_FALSE(StoreCubin("/proc/no-such/dir", "c", source, "x"));
}

TEST(CubinCacheTest, TheDirectoryFollowsTheEnvironment) {
  setenv("FERRY_KERNEL_CACHE_DIR", "/var/cache/ferryd", 1);
  EXPECT_EQ(CubinCacheDir(), "/var/cache/ferryd");
  setenv("FERRY_KERNEL_CACHE_DIR", "off", 1);
  EXPECT_EQ(CubinCacheDir(), "");
  unsetenv("FERRY_KERNEL_CACHE_DIR");
  setenv("XDG_CACHE_HOME", "/xdg", 1);
  EXPECT_EQ(CubinCacheDir(), "/xdg/ferry/kernels");
  unsetenv("XDG_CACHE_HOME");
  const std::string home = std::getenv("HOME") != nullptr ? std::getenv("HOME") : "";
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(CubinCacheDir(), "/home/someone/.cache/ferry/kernels");
  setenv("HOME", home.c_str(), 1);
}

TEST(CubinCacheTest, CompiledKernelsAreStoredForTheNextProcess) {
  if (!LoadNvrtc().ok()) GTEST_SKIP() << LoadNvrtc().status();
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/cubins/compiled");
  setenv("FERRY_KERNEL_CACHE_DIR", dir.c_str(), 1);
  core::Graph graph = WhereChain();
  graph.nodes[0].out.shape = graph.nodes.back().out.shape = {4, 7};  // a source of its own
  for (core::Node& node : graph.nodes) {
    if (node.out.shape == core::Shape{4, 5}) node.out.shape = {4, 7};
  }
  std::string why;
  std::shared_ptr<const FusedKernel> kernel = CompileFusedKernel(graph, 8, 0, &why);
  unsetenv("FERRY_KERNEL_CACHE_DIR");
  ASSERT_NE(kernel, nullptr) << why;
  int major = 0, minor = 0;
  (*LoadNvrtc())->Version(&major, &minor);
  const std::optional<std::string> stored =
      LoadCubin(dir, absl::StrCat("nvrtc ", major, ".", minor, " sm_80"), kernel->source());
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->substr(0, 4),
            "\x7f"
            "ELF");
}

}  // namespace
}  // namespace ferry::kernels::cuda
