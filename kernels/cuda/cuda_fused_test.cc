// Fused elementwise groups on the GPU: the generated kernel gives what the group's own
// kernels give one op at a time, bit for bit (the same formulas and compiler flags; float16
// and bfloat16 rounded after each op as they are), and the CPU's results within the dtype's
// tolerance (float32: 2e-6 relative, CUDA's and glibc's math functions differ by an ulp or
// two); it may write over an input; groups the generator declines run op by op. Skips
// without a GPU.

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/test_util.h"
#include "kernels/cuda/test_util.h"
#include "kernels/fusion.h"

namespace ferry::kernels {
namespace {

using core::DType;
using cpu::testing::MakeHost;
using cpu::testing::Values;
using cuda::testing::OpNode;
using cuda::testing::ParameterNode;

struct Group {
  std::string name;
  core::Graph expr;
};

// Groups over x (33, 257) of `dtype`, a row (257,), a column (33, 1) and a scalar; and
// groups whose operands are all dense or single (the generator's four-per-step path, its
// 8481 elements leaving a tail of one): x, y (33, 257) and a scalar.
std::vector<Group> Groups(DType dtype) {
  const core::Shape out = {33, 257};
  auto graph_of = [&](std::vector<core::Node> nodes) {
    core::Graph g;
    g.nodes = std::move(nodes);
    g.outputs = {static_cast<int32_t>(g.nodes.size()) - 1};
    return g;
  };
  auto with_params = [&](std::vector<core::Node> ops) {
    std::vector<core::Node> nodes = {ParameterNode(0, dtype, out), ParameterNode(1, dtype, {257}),
                                     ParameterNode(2, dtype, {33, 1}), ParameterNode(3, dtype, {})};
    for (core::Node& node : ops) nodes.push_back(std::move(node));
    return graph_of(std::move(nodes));
  };
  auto with_dense_params = [&](std::vector<core::Node> ops) {
    std::vector<core::Node> nodes = {ParameterNode(0, dtype, out), ParameterNode(1, dtype, out),
                                     ParameterNode(2, dtype, {})};
    for (core::Node& node : ops) nodes.push_back(std::move(node));
    return graph_of(std::move(nodes));
  };
  std::vector<Group> groups;
  for (const char* op : {"neg",    "abs",   "relu",    "exp",   "log",   "sqrt",  "rsqrt", "sin",
                         "cos",    "tanh",  "sigmoid", "erf",   "log1p", "expm1", "log2",  "log10",
                         "square", "floor", "ceil",    "round", "sign",  "gelu"}) {
    // op(x * row) + column: log and sqrt of negatives give NaN on both sides alike.
    groups.push_back(
        {op, with_params({OpNode("mul", {0, 1}, dtype, out), OpNode(op, {4}, dtype, out),
                          OpNode("add", {5, 2}, dtype, out)})});
  }
  for (const char* op : {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}) {
    groups.push_back(
        {op, with_params({OpNode(op, {0, 1}, dtype, out), OpNode(op, {4, 3}, dtype, out)})});
  }
  groups.push_back(
      {"where",
       with_params({OpNode("greater", {0, 2}, DType::kBool, out), OpNode("square", {0}, dtype, out),
                    OpNode("neg", {1}, dtype, {257}), OpNode("where", {4, 5, 6}, dtype, out)})});
  groups.push_back({"bool result", with_params({OpNode("less_equal", {0, 1}, DType::kBool, out),
                                                OpNode("logical_not", {4}, DType::kBool, out)})});
  groups.push_back({"dense tanh", with_dense_params({OpNode("mul", {0, 2}, dtype, out),
                                                     OpNode("tanh", {3}, dtype, out),
                                                     OpNode("sub", {4, 1}, dtype, out)})});
  groups.push_back({"dense where", with_dense_params({OpNode("greater", {0, 1}, DType::kBool, out),
                                                      OpNode("exp", {1}, dtype, out),
                                                      OpNode("where", {3, 4, 2}, dtype, out)})});
  groups.push_back(
      {"dense bool result", with_dense_params({OpNode("less", {0, 2}, DType::kBool, out),
                                               OpNode("greater", {1, 2}, DType::kBool, out),
                                               OpNode("logical_and", {3, 4}, DType::kBool, out)})});
  return groups;
}

class CudaFusedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Backend>> backend = cuda::testing::MakeTestBackend(0);
    if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
    gpu_ = *std::move(backend);
  }

  std::vector<core::HostTensor> RandomInputs(const core::Graph& expr, std::mt19937_64& rng) {
    std::uniform_real_distribution<double> real(-3, 3);
    std::vector<core::HostTensor> inputs;
    for (const core::Node& node : expr.nodes) {
      if (node.op != "parameter") break;
      std::vector<double> values(static_cast<size_t>(core::NumElements(node.out.shape)));
      for (double& v : values) v = real(rng);
      inputs.push_back(MakeHost(node.out.dtype, node.out.shape, values));
    }
    return inputs;
  }

  // `fused` on `backend` (compiled there unless `op_by_op`), into a new tensor or, with
  // `in_place`, into input 0's memory.
  std::vector<double> Run(Backend& backend, const core::Graph& expr,
                          const std::vector<core::HostTensor>& host, bool op_by_op,
                          bool in_place = false) {
    FusedExpr fused{expr, nullptr};
    if (!op_by_op) fused.compiled = backend.CompileFused(fused);
    std::vector<Tensor> inputs;
    for (const core::HostTensor& h : host) {
      absl::StatusOr<Tensor> t = TensorFromHost(backend, h);
      EXPECT_TRUE(t.ok()) << t.status();
      if (!t.ok()) return {};
      inputs.push_back(*t);
    }
    Tensor out;
    if (in_place) {
      out = inputs[0];
      out.type = expr.nodes.back().out;
    } else {
      absl::StatusOr<Tensor> allocated = backend.Allocate(expr.nodes.back().out);
      EXPECT_TRUE(allocated.ok()) << allocated.status();
      if (!allocated.ok()) return {};
      out = *allocated;
    }
    absl::Status ran = backend.RunFused(fused, inputs, out);
    EXPECT_TRUE(ran.ok()) << ran;
    absl::StatusOr<core::HostTensor> result = TensorToHost(backend, out);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? Values(*result) : std::vector<double>{};
  }

  std::unique_ptr<Backend> cpu_ = MakeCpuBackend(int64_t{1} << 30);
  std::unique_ptr<Backend> gpu_;
};

bool Same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

TEST_F(CudaFusedTest, Float32GroupsGiveTheOpsResultsBitForBitAndTheCpusClosely) {
  std::mt19937_64 rng(7);
  for (const Group& group : Groups(DType::kFloat32)) {
    SCOPED_TRACE(group.name);
    const std::vector<core::HostTensor> inputs = RandomInputs(group.expr, rng);
    if (!cuda::testing::kCpuStandsIn) {
      EXPECT_NE(gpu_->CompileFused(FusedExpr{group.expr, nullptr}), nullptr)
          << "the generator covers this group";
    }
    const std::vector<double> fused = Run(*gpu_, group.expr, inputs, false);
    const std::vector<double> ops = Run(*gpu_, group.expr, inputs, true);
    const std::vector<double> cpu = Run(*cpu_, group.expr, inputs, false);
    ASSERT_EQ(fused.size(), cpu.size());
    ASSERT_EQ(ops.size(), cpu.size());
    int reported = 0;
    for (size_t i = 0; i < cpu.size() && reported < 5; ++i) {
      const bool close = Same(fused[i], cpu[i]) ||
                         std::abs(fused[i] - cpu[i]) <= 2e-6 * std::max(1.0, std::abs(cpu[i]));
      if (!Same(fused[i], ops[i]) || !close) {
        ++reported;
        ADD_FAILURE() << "element " << i << ": fused " << fused[i] << ", op by op " << ops[i]
                      << ", cpu " << cpu[i];
      }
    }
  }
}

TEST_F(CudaFusedTest, AGroupMayWriteOverItsInput) {
  std::mt19937_64 rng(8);
  for (const Group& group : Groups(DType::kFloat32)) {
    if (group.name.find("bool result") != std::string::npos)
      continue;  // its result is not of input 0's type
    SCOPED_TRACE(group.name);
    const std::vector<core::HostTensor> inputs = RandomInputs(group.expr, rng);
    const std::vector<double> apart = Run(*gpu_, group.expr, inputs, false);
    const std::vector<double> over = Run(*gpu_, group.expr, inputs, false, /*in_place=*/true);
    ASSERT_EQ(apart.size(), over.size());
    for (size_t i = 0; i < apart.size(); ++i) ASSERT_TRUE(Same(apart[i], over[i])) << i;
  }
}

// float16 and bfloat16 groups compute in float and round each op's result to the dtype, as
// the ops' own kernels do, float64 groups in double: bit for bit the ops' results, within the
// dtype's tolerance of the CPU's.
TEST_F(CudaFusedTest, HalfAndDoubleGroupsGiveTheOpsResultsBitForBit) {
  std::mt19937_64 rng(10);
  for (DType dtype : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    for (const Group& group : Groups(dtype)) {
      SCOPED_TRACE(group.name + " " + core::DTypeName(dtype));
      if (!cuda::testing::kCpuStandsIn) {
        EXPECT_NE(gpu_->CompileFused(FusedExpr{group.expr, nullptr}), nullptr);
      }
      const std::vector<core::HostTensor> inputs = RandomInputs(group.expr, rng);
      const std::vector<double> fused = Run(*gpu_, group.expr, inputs, false);
      const std::vector<double> ops = Run(*gpu_, group.expr, inputs, true);
      const std::vector<double> cpu = Run(*cpu_, group.expr, inputs, false);
      ASSERT_EQ(fused.size(), cpu.size());
      ASSERT_EQ(ops.size(), cpu.size());
      for (size_t i = 0; i < cpu.size(); ++i) {
        ASSERT_TRUE(Same(fused[i], ops[i]))
            << "element " << i << ": fused " << fused[i] << ", op by op " << ops[i];
        const double tolerance = dtype == DType::kFloat64 ? 1e-12 : 1.6e-2;
        ASSERT_TRUE(Same(fused[i], cpu[i]) ||
                    std::abs(fused[i] - cpu[i]) <= tolerance * std::max(1.0, std::abs(cpu[i])))
            << "element " << i << ": fused " << fused[i] << ", cpu " << cpu[i];
      }
    }
  }
}

// The rounding at the edges of float16 and bfloat16: products and sums from 2^-40 to 2^40
// (subnormal halves, overflow to infinity, ties), infinities and NaN.
TEST_F(CudaFusedTest, HalfRoundingAtTheEdgesIsTheOps) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> exponent(-20, 20);
  std::uniform_int_distribution<int> pick(0, 99);
  const core::Shape shape = {4099};
  for (DType dtype : {DType::kFloat16, DType::kBFloat16}) {
    SCOPED_TRACE(core::DTypeName(dtype));
    core::Graph expr;
    expr.nodes = {ParameterNode(0, dtype, shape), ParameterNode(1, dtype, shape),
                  ParameterNode(2, dtype, shape), OpNode("mul", {0, 1}, dtype, shape),
                  OpNode("add", {3, 2}, dtype, shape)};
    expr.outputs = {4};
    std::vector<core::HostTensor> inputs;
    for (int p = 0; p < 3; ++p) {
      std::vector<double> values(4099);
      for (double& v : values) {
        const int special = pick(rng);
        v = special == 0   ? INFINITY
            : special == 1 ? -INFINITY
            : special == 2
                ? NAN
                : (pick(rng) % 2 ? 1.0 : -1.0) * std::exp2(exponent(rng) * (p == 2 ? 2 : 1));
      }
      inputs.push_back(MakeHost(dtype, shape, values));
    }
    const std::vector<double> fused = Run(*gpu_, expr, inputs, false);
    const std::vector<double> ops = Run(*gpu_, expr, inputs, true);
    ASSERT_EQ(fused.size(), ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      ASSERT_TRUE(Same(fused[i], ops[i]))
          << "element " << i << ": fused " << fused[i] << ", op by op " << ops[i];
    }
  }
}

// A group with casts (astype is not generated): float32 -> float16, exp, -> float32.
TEST_F(CudaFusedTest, GroupsTheGeneratorDeclinesRunOpByOp) {
  std::mt19937_64 rng(9);
  const core::Shape shape = {33, 257};
  core::Graph expr;
  expr.nodes = {
      ParameterNode(0, DType::kFloat32, shape), OpNode("astype", {0}, DType::kFloat16, shape),
      OpNode("exp", {1}, DType::kFloat16, shape), OpNode("astype", {2}, DType::kFloat32, shape)};
  expr.nodes[1].attrs.Set("dtype", DType::kFloat16);
  expr.nodes[3].attrs.Set("dtype", DType::kFloat32);
  expr.outputs = {3};
  if (!cuda::testing::kCpuStandsIn) {
    EXPECT_EQ(gpu_->CompileFused(FusedExpr{expr, nullptr}), nullptr);
  }
  const std::vector<core::HostTensor> inputs = RandomInputs(expr, rng);
  const std::vector<double> gpu = Run(*gpu_, expr, inputs, false);
  const std::vector<double> cpu = Run(*cpu_, expr, inputs, false);
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_TRUE(Same(gpu[i], cpu[i]) ||
                std::abs(gpu[i] - cpu[i]) <= 1.6e-2 * std::max(1.0, std::abs(cpu[i])))
        << "element " << i << ": cuda " << gpu[i] << ", cpu " << cpu[i];
  }
}

}  // namespace
}  // namespace ferry::kernels
