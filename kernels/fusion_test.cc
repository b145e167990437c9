// Fused elementwise groups against the same graphs run node by node, and the executor's
// memory planning (liveness, buffer reuse, views).

#include "kernels/fusion.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "core/ops.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernels.h"
#include "kernels/executor.h"

namespace ferry::kernels {
namespace {

using core::DType;

// Appends nodes to a graph with their types inferred by core.
class GraphBuilder {
 public:
  int32_t Parameter(DType dtype, core::Shape shape) {
    core::Node node;
    node.op = "parameter";
    node.attrs.Set("index", static_cast<int64_t>(parameters_++));
    node.attrs.Set("dtype", dtype);
    node.attrs.Set("shape", shape);
    node.out = {dtype, shape};
    return Push(std::move(node));
  }

  // The new node's index, or -1 when inference refuses it (e.g. relu of bool).
  int32_t Op(const std::string& op, std::vector<int32_t> inputs, core::Attrs attrs = {}) {
    std::vector<core::TensorType> types;
    for (int32_t input : inputs) types.push_back(graph_.nodes[input].out);
    absl::StatusOr<core::TensorType> out = core::InferOp(op, types, attrs);
    if (!out.ok()) return -1;
    return Push(core::Node{op, std::move(inputs), std::move(attrs), *out});
  }

  core::Graph& graph() { return graph_; }

 private:
  int32_t Push(core::Node node) {
    graph_.nodes.push_back(std::move(node));
    return static_cast<int32_t>(graph_.nodes.size()) - 1;
  }

  core::Graph graph_;
  int parameters_ = 0;
};

// Host values of `type` drawn from [-3, 3], converted with astype's rules.
Tensor RandomTensor(Backend& backend, const core::TensorType& type, std::mt19937& rng) {
  const int64_t n = core::NumElements(type.shape);
  std::uniform_real_distribution<double> value(-3, 3);
  std::vector<double> values(static_cast<size_t>(n));
  for (double& v : values) v = value(rng);
  Tensor tensor = *backend.Allocate(type);
  cpu::CastElements(values.data(), DType::kFloat64, tensor.raw(), type.dtype, n);
  return tensor;
}

std::string Bytes(const Tensor& tensor) {
  return std::string(static_cast<const char*>(tensor.raw()), tensor.nbytes());
}

struct Outcome {
  std::vector<std::string> outputs;
  std::vector<std::vector<double>> values;  // the outputs' elements, as float64
  int fused_steps = 0;
  int transpose_steps = 0;
};

Outcome RunGraph(const core::Graph& graph, bool fuse, uint32_t seed) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  Executor executor(*backend);
  executor.set_fusion(fuse);
  absl::StatusOr<std::shared_ptr<const Plan>> plan = executor.Prepare(graph);
  EXPECT_TRUE(plan.ok()) << plan.status();
  if (!plan.ok()) return {};
  std::mt19937 rng(seed);
  std::vector<Tensor> parameters;
  for (const core::TensorType& type : (*plan)->parameter_types) {
    parameters.push_back(RandomTensor(*backend, type, rng));
  }
  absl::StatusOr<std::vector<Tensor>> outputs = executor.Run(**plan, parameters);
  EXPECT_TRUE(outputs.ok()) << outputs.status();
  Outcome outcome;
  for (const Step& step : (*plan)->steps) {
    outcome.fused_steps += step.fused;
    outcome.transpose_steps += graph.nodes[step.node].op == "transpose";
  }
  if (outputs.ok()) {
    for (const Tensor& output : *outputs) {
      outcome.outputs.push_back(Bytes(output));
      std::vector<double>& values = outcome.values.emplace_back(output.size());
      cpu::CastElements(output.raw(), output.dtype(), values.data(), DType::kFloat64,
                        output.size());
    }
  }
  return outcome;
}

// A random chain of elementwise ops over inputs of several dtypes that broadcast to
// (4, 5, 67), each op reading mostly the latest values.
core::Graph RandomChain(std::mt19937& rng) {
  static const char* const kUnary[] = {"neg", "abs", "relu", "exp",     "log", "sqrt", "rsqrt",
                                       "sin", "cos", "tanh", "sigmoid", "erf", "gelu"};
  static const char* const kBinary[] = {"add",     "sub",         "mul",        "div",
                                        "maximum", "minimum",     "equal",      "less",
                                        "greater", "logical_and", "logical_or", "pow"};
  static const DType kCasts[] = {DType::kFloat32, DType::kFloat16, DType::kInt32,
                                 DType::kFloat64, DType::kBool,    DType::kBFloat16};
  GraphBuilder b;
  std::vector<int32_t> values = {
      b.Parameter(DType::kFloat32, {4, 5, 67}), b.Parameter(DType::kFloat32, {5, 67}),
      b.Parameter(DType::kInt32, {4, 1, 67}),   b.Parameter(DType::kFloat16, {67}),
      b.Parameter(DType::kBool, {4, 5, 67}),    b.Parameter(DType::kFloat64, {}),
      b.Parameter(DType::kUInt8, {4, 5, 1}),
  };
  auto pick = [&] {
    // Mostly one of the last three values, so chains grow long.
    std::uniform_int_distribution<size_t> recent(values.size() > 3 ? values.size() - 3 : 0,
                                                 values.size() - 1);
    std::uniform_int_distribution<size_t> any(0, values.size() - 1);
    return values[std::bernoulli_distribution(0.7)(rng) ? recent(rng) : any(rng)];
  };
  std::uniform_int_distribution<int> kind(0, 9);
  const int ops = std::uniform_int_distribution<int>(8, 24)(rng);
  for (int made = 0; made < ops;) {
    int32_t node = -1;
    const int k = kind(rng);
    if (k < 4) {
      node = b.Op(kUnary[std::uniform_int_distribution<size_t>(0, 12)(rng)], {pick()});
    } else if (k < 8) {
      node = b.Op(kBinary[std::uniform_int_distribution<size_t>(0, 11)(rng)], {pick(), pick()});
    } else if (k < 9) {
      node = b.Op("where", {pick(), pick(), pick()});
    } else {
      node = b.Op("astype", {pick()},
                  {{"dtype", kCasts[std::uniform_int_distribution<size_t>(0, 5)(rng)]}});
    }
    if (node < 0) continue;
    values.push_back(node);
    ++made;
  }
  // The last value broadcast to the full shape (so the chain ends in one big group), and a
  // value from the middle, which must then stay outside any group that reads it.
  const int32_t full = b.Op("add", {values.back(), values[0]});
  b.graph().outputs = {full >= 0 ? full : values.back(), values[values.size() / 2 + 3]};
  return b.graph();
}

TEST(FusionTest, RandomChainsMatchUnfused) {
  std::mt19937 rng(20261202);
  int fused = 0;
  for (int trial = 0; trial < 60; ++trial) {
    core::Graph graph = RandomChain(rng);
    Outcome unfused = RunGraph(graph, /*fuse=*/false, trial);
    Outcome fused_run = RunGraph(graph, /*fuse=*/true, trial);
    EXPECT_EQ(unfused.fused_steps, 0);
    fused += fused_run.fused_steps;
    ASSERT_EQ(unfused.outputs.size(), fused_run.outputs.size()) << "trial " << trial;
    for (size_t k = 0; k < unfused.outputs.size(); ++k) {
      EXPECT_EQ(unfused.outputs[k], fused_run.outputs[k]) << "trial " << trial << " output " << k;
    }
  }
  EXPECT_GT(fused, 60);  // nearly every chain fused something
}

// More elements than one block (8192), with a row-broadcast input and a scalar constant.
TEST(FusionTest, ManyBlocksWithBroadcastMatchUnfused) {
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {37, 1001});
  const int32_t row = b.Parameter(DType::kFloat32, {1001});
  const int32_t col = b.Parameter(DType::kFloat16, {37, 1});
  int32_t v = b.Op("mul", {x, row});
  v = b.Op("add", {v, col});
  v = b.Op("tanh", {v});
  v = b.Op("maximum", {v, row});
  v = b.Op("astype", {v}, {{"dtype", DType::kFloat64}});
  v = b.Op("sub", {v, x});
  b.graph().outputs = {v};
  Outcome unfused = RunGraph(b.graph(), false, 7);
  Outcome fused = RunGraph(b.graph(), true, 7);
  EXPECT_EQ(fused.fused_steps, 1);
  ASSERT_EQ(fused.outputs.size(), 1u);
  EXPECT_EQ(unfused.outputs, fused.outputs);
}

// A transpose of the last two axes that only a matmul reads is not run: the product reads
// its input transposed in place (BLAS's flags), on either side, batched or broadcast, to the
// values of the transpose run first, within rounding. Transposes read twice, kept as an
// output or of other axes stay.
TEST(FusionTest, MatmulsReadTransposedOperandsInPlace) {
  using Ints = std::vector<int64_t>;
  for (const auto& [dtype, tolerance] :
       {std::pair{DType::kFloat32, 1e-5}, {DType::kFloat64, 1e-12}, {DType::kFloat16, 1e-2}}) {
    GraphBuilder b;
    auto transpose = [&](int32_t x, Ints perm) {
      return b.Op("transpose", {x}, {{"perm", std::move(perm)}});
    };
    const int32_t x = b.Parameter(dtype, {6, 5});
    const int32_t w = b.Parameter(dtype, {7, 6});
    const int32_t a = b.Parameter(dtype, {3, 4, 5});
    const int32_t r = b.Parameter(dtype, {4, 2});
    const int32_t c = b.Parameter(dtype, {2, 3});
    const int32_t d = b.Parameter(dtype, {2, 4, 3});
    const int32_t f = b.Parameter(dtype, {5, 4});
    const int32_t g = b.Parameter(dtype, {3, 6, 4});
    const int32_t e = b.Parameter(dtype, {3, 2});
    const int32_t ct = transpose(c, {1, 0});  // read twice: stays
    b.graph().outputs = {
        b.Op("matmul", {transpose(x, {1, 0}), transpose(w, {1, 0})}),  // (5, 7), both sides
        b.Op("matmul", {transpose(a, {0, 2, 1}), r}),  // (3, 5, 2), a batch on the left
        b.Op("matmul", {ct, c}),                       // (3, 3)
        b.Op("neg", {ct}),                             // ct's second reader
        b.Op("matmul", {transpose(d, {1, 0, 2}), e}),  // other axes: stays
        b.Op("matmul", {f, transpose(g, {0, 2, 1})}),  // (3, 5, 6), broadcast on the left
    };
    for (int32_t output : b.graph().outputs) ASSERT_GE(output, 0);
    const Outcome materialized = RunGraph(b.graph(), /*fuse=*/false, 11);
    const Outcome folded = RunGraph(b.graph(), /*fuse=*/true, 11);
    EXPECT_EQ(materialized.transpose_steps, 6);
    EXPECT_EQ(folded.transpose_steps, 2) << core::DTypeName(dtype);
    ASSERT_EQ(folded.values.size(), materialized.values.size());
    for (size_t k = 0; k < folded.values.size(); ++k) {
      ASSERT_EQ(folded.values[k].size(), materialized.values[k].size());
      for (size_t i = 0; i < folded.values[k].size(); ++i) {
        EXPECT_NEAR(folded.values[k][i], materialized.values[k][i],
                    tolerance * (1 + std::abs(materialized.values[k][i])))
            << core::DTypeName(dtype) << " output " << k << " element " << i;
      }
    }
  }
}

TEST(FusionTest, GatherMmReadsTransposedOperandsInPlace) {
  // A mixture of experts' gather_mm(x, swapaxes(w)): the experts are not copied transposed.
  // Index parameters are drawn from [-3, 3], in range for 4 and 5 matrices.
  for (const auto& [dtype, tolerance] :
       {std::pair{DType::kFloat32, 1e-5}, {DType::kFloat16, 1e-2}}) {
    GraphBuilder b;
    const std::vector<int64_t> swap = {0, 2, 1};
    const int32_t a = b.Parameter(dtype, {4, 6, 3});
    const int32_t w = b.Parameter(dtype, {5, 7, 6});
    const int32_t lhs = b.Parameter(DType::kInt32, {2, 3});
    const int32_t rhs = b.Parameter(DType::kInt32, {2, 3});
    const int32_t product = b.Op("gather_mm", {b.Op("transpose", {a}, {{"perm", swap}}),
                                               b.Op("transpose", {w}, {{"perm", swap}}), lhs, rhs});
    ASSERT_GE(product, 0);
    b.graph().outputs = {product};
    const Outcome materialized = RunGraph(b.graph(), /*fuse=*/false, 5);
    const Outcome folded = RunGraph(b.graph(), /*fuse=*/true, 5);
    EXPECT_EQ(materialized.transpose_steps, 2);
    EXPECT_EQ(folded.transpose_steps, 0);
    ASSERT_EQ(folded.values.size(), 1u);
    ASSERT_EQ(folded.values[0].size(), materialized.values[0].size());
    for (size_t i = 0; i < folded.values[0].size(); ++i) {
      EXPECT_NEAR(folded.values[0][i], materialized.values[0][i],
                  tolerance * (1 + std::abs(materialized.values[0][i])))
          << core::DTypeName(dtype) << " element " << i;
    }
  }
}

// All-float32 chains take the CPU's fast path; random ops, dense and one-element inputs.
TEST(FusionTest, Float32ChainsMatchUnfused) {
  static const char* const kOps[] = {"add", "sub", "mul",  "div", "maximum", "minimum",
                                     "neg", "abs", "relu", "exp", "tanh"};
  std::mt19937 rng(5);
  for (int trial = 0; trial < 30; ++trial) {
    GraphBuilder b;
    std::vector<int32_t> values = {b.Parameter(DType::kFloat32, {3, 1111}),
                                   b.Parameter(DType::kFloat32, {3, 1111}),
                                   b.Parameter(DType::kFloat32, {1, 1})};
    for (int i = 0; i < 12; ++i) {
      const std::string op = kOps[std::uniform_int_distribution<size_t>(0, 10)(rng)];
      std::uniform_int_distribution<size_t> any(0, values.size() - 1);
      const int32_t a = values.back();
      const int32_t node =
          op == "neg" || op == "abs" || op == "relu" || op == "exp" || op == "tanh"
              ? b.Op(op, {a})
              : (i % 2 ? b.Op(op, {a, values[any(rng)]}) : b.Op(op, {values[any(rng)], a}));
      ASSERT_GE(node, 0);
      values.push_back(node);
    }
    b.graph().outputs = {values.back()};
    Outcome unfused = RunGraph(b.graph(), false, trial);
    Outcome fused = RunGraph(b.graph(), true, trial);
    EXPECT_GE(fused.fused_steps, 1);
    std::string ops;
    for (const core::Node& node : b.graph().nodes) {
      ops += node.op + "(";
      for (int32_t input : node.inputs) ops += std::to_string(input) + ",";
      ops += ") ";
    }
    EXPECT_TRUE(unfused.outputs == fused.outputs) << "trial " << trial << ": " << ops;
  }
}

// A float32 result past 8 MiB is written with streaming stores; its length is no multiple
// of the block or of the vector width.
TEST(FusionTest, LargeFloat32ChainMatchesUnfused) {
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {3 * (1 << 20) + 5});
  const int32_t s = b.Parameter(DType::kFloat32, {});
  int32_t v = b.Op("mul", {x, s});
  v = b.Op("relu", {v});
  v = b.Op("sub", {v, x});
  v = b.Op("maximum", {s, v});
  b.graph().outputs = {v};
  Outcome unfused = RunGraph(b.graph(), false, 11);
  Outcome fused = RunGraph(b.graph(), true, 11);
  EXPECT_EQ(fused.fused_steps, 1);
  ASSERT_EQ(fused.outputs.size(), 1u);
  EXPECT_TRUE(unfused.outputs == fused.outputs);
}

TEST(FusionTest, ValuesReadOutsideAGroupStayOutOfIt) {
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {8});
  const int32_t e = b.Op("exp", {x});
  const int32_t n = b.Op("neg", {e});
  const int32_t r = b.Op("relu", {n});
  const int32_t s = b.Op("sum", {e}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}});
  b.graph().outputs = {r, s};
  std::vector<Step> steps = PlanSteps(b.graph(), true);
  // x, e, [n r] fused, s.
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_FALSE(steps[1].fused);
  EXPECT_EQ(steps[1].node, e);
  EXPECT_TRUE(steps[2].fused);
  EXPECT_EQ(steps[2].members, (std::vector<int32_t>{n, r}));
  EXPECT_EQ(steps[2].inputs, (std::vector<int32_t>{e}));
  EXPECT_EQ(steps[3].node, s);
  // e dies after its last reader, the sum.
  EXPECT_EQ(steps[3].release, (std::vector<int32_t>{e}));
}

TEST(FusionTest, AFusedAstypeRootIsComputedNotViewed) {
  // float32 -> float16 -> float32 fuses into one group whose root, an astype to float32,
  // must run the group rather than alias its input (a member, which has no value).
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {4});
  const int32_t h = b.Op("astype", {x}, {{"dtype", DType::kFloat16}});
  const int32_t f = b.Op("astype", {h}, {{"dtype", DType::kFloat32}});
  const int32_t s = b.Op("sum", {f}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}});
  b.graph().outputs = {s};
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 20);
  Executor executor(*backend);
  std::shared_ptr<const Plan> plan = *executor.Prepare(b.graph());
  std::vector<float> values = {1.5f, -2.0f, 0.25f, 4.0f};
  Tensor input = *backend->Allocate({DType::kFloat32, {4}});
  ASSERT_TRUE(backend->CopyFromHost(values.data(), 16, input, 0).ok());
  absl::StatusOr<std::vector<Tensor>> out = executor.Run(*plan, {input});
  ASSERT_TRUE(out.ok()) << out.status();
  float sum = 0;
  ASSERT_TRUE(backend->CopyToHost((*out)[0], 0, 4, &sum).ok());
  EXPECT_EQ(sum, 3.75f);
}

TEST(FusionTest, ALongChainBecomesGroupsOfAtMostTheLimit) {
  GraphBuilder b;
  int32_t v = b.Parameter(DType::kFloat32, {16});
  const int32_t length = 2 * kMaxFusedNodes + 5;
  for (int32_t i = 0; i < length; ++i) v = b.Op(i % 2 ? "tanh" : "exp", {v});
  b.graph().outputs = {v};
  std::vector<Step> steps = PlanSteps(b.graph(), true);
  // The parameter, then the chain from its end: two full groups and the five first ops.
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[1].members.size(), 5u);
  EXPECT_EQ(steps[2].members.size(), static_cast<size_t>(kMaxFusedNodes));
  EXPECT_EQ(steps[3].members.size(), static_cast<size_t>(kMaxFusedNodes));
  EXPECT_EQ(steps[3].inputs, (std::vector<int32_t>{steps[2].node}));
  EXPECT_EQ(steps[3].node, v);

  const Outcome fused = RunGraph(b.graph(), true, 3);
  EXPECT_EQ(fused.fused_steps, 3);
  EXPECT_EQ(fused.outputs, RunGraph(b.graph(), false, 3).outputs);
}

// The CPU backend, with a CompileFused that takes 50 ms, as NVRTC may.
class SlowCompilingBackend : public Backend {
 public:
  const DeviceFacts& facts() const override { return cpu_->facts(); }
  MemoryBudget& budget() override { return cpu_->budget(); }
  absl::StatusOr<Tensor> Allocate(const core::TensorType& type) override {
    return cpu_->Allocate(type);
  }
  absl::Status CopyFromHost(const void* src, size_t bytes, const Tensor& dst,
                            size_t offset) override {
    return cpu_->CopyFromHost(src, bytes, dst, offset);
  }
  absl::Status CopyToHost(const Tensor& src, size_t offset, size_t bytes, void* dst) override {
    return cpu_->CopyToHost(src, offset, bytes, dst);
  }
  absl::Status Run(const core::Node& node, absl::Span<const Tensor> inputs,
                   const Tensor& out) override {
    return cpu_->Run(node, inputs, out);
  }
  bool SupportsFusion() const override { return true; }
  std::shared_ptr<const CompiledFused> CompileFused(const FusedExpr& fused) const override {
    const int now = ++running;
    for (int seen = most_at_once.load();
         now > seen && !most_at_once.compare_exchange_weak(seen, now);) {
    }
    absl::SleepFor(absl::Milliseconds(50));
    --running;
    ++compiled;
    return std::make_shared<const CompiledFused>();
  }

  mutable std::atomic<int> compiled{0};
  mutable std::atomic<int> running{0};
  mutable std::atomic<int> most_at_once{0};

 private:
  std::unique_ptr<Backend> cpu_ = MakeCpuBackend(int64_t{1} << 20);
};

// 40 groups, each ended by a sum that keeps the next out of it.
core::Graph ManyGroups() {
  GraphBuilder b;
  int32_t v = b.Parameter(DType::kFloat32, {4});
  for (int group = 0; group < 40; ++group) {
    v = b.Op("tanh", {b.Op("exp", {b.Op("add", {v, v})})});
    const int32_t sum =
        b.Op("sum", {v}, {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}});
    v = b.Op("add", {v, sum});
  }
  b.graph().outputs = {v};
  return b.graph();
}

int CompiledSteps(const Plan& plan) {
  int compiled = 0;
  for (const Step& step : plan.steps) compiled += step.expr.compiled != nullptr;
  return compiled;
}

TEST(FusionTest, CompilingStopsWhenThePlansBudgetIsSpent) {
  SlowCompilingBackend backend;
  Executor executor(backend);
  executor.set_fused_compile_budget(absl::Milliseconds(120));
  absl::StatusOr<std::shared_ptr<const Plan>> plan = executor.Prepare(ManyGroups());
  ASSERT_TRUE(plan.ok()) << plan.status();
  // 50 ms each: the first alone, then at most 8 at a time start within 120 ms.
  const int compiled = CompiledSteps(**plan);
  EXPECT_GE(compiled, 1);
  EXPECT_LE(compiled, 1 + 2 * 8) << "compiling went on past the budget";
  EXPECT_EQ(backend.compiled.load(), compiled);
}

TEST(FusionTest, SlowCompilesRunSideBySide) {
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "one hardware thread";
  SlowCompilingBackend backend;
  Executor executor(backend);
  absl::StatusOr<std::shared_ptr<const Plan>> plan = executor.Prepare(ManyGroups());
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(CompiledSteps(**plan), 40) << "every group compiled within the 10 s budget";
  EXPECT_GE(backend.most_at_once.load(), 2);
}

TEST(FusionTest, ShapesThatDifferAreNotFused) {
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {3});
  const int32_t y = b.Parameter(DType::kFloat32, {2, 3});
  const int32_t e = b.Op("exp", {x});  // (3,): read by a (2, 3) op, so not in its group
  const int32_t a = b.Op("add", {e, y});
  const int32_t t = b.Op("tanh", {a});
  b.graph().outputs = {t};
  std::vector<Step> steps = PlanSteps(b.graph(), true);
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_EQ(steps[2].node, e);
  EXPECT_FALSE(steps[2].fused);
  EXPECT_TRUE(steps[3].fused);
  EXPECT_EQ(steps[3].inputs, (std::vector<int32_t>{e, y}));
}

TEST(FusionTest, ComplexNodesAreNotFused) {
  // The generated kernels compute in real dtypes; complex64 nodes run their own kernels,
  // while the real chain after them still fuses.
  GraphBuilder b;
  const int32_t z = b.Parameter(DType::kComplex64, {4});
  const int32_t e = b.Op("exp", {z});
  const int32_t m = b.Op("mul", {e, z});
  const int32_t r = b.Op("abs", {m});  // complex64 in, float32 out
  const int32_t t = b.Op("tanh", {r});
  const int32_t u = b.Op("sigmoid", {t});
  b.graph().outputs = {u};
  std::vector<Step> steps = PlanSteps(b.graph(), true);
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_FALSE(steps[1].fused);
  EXPECT_FALSE(steps[2].fused);
  EXPECT_FALSE(steps[3].fused);
  EXPECT_EQ(steps[3].node, r);
  EXPECT_TRUE(steps[4].fused);
  EXPECT_EQ(steps[4].members, (std::vector<int32_t>{t, u}));
}

// A chain of 200 ops on a 1 MiB value, unfused: with intermediates freed after their last
// use and buffers reused, the run never holds more than a few values at once.
TEST(MemoryPlanTest, PeakOfALongChainStaysBounded) {
  constexpr int64_t kElements = 1 << 18;  // 1 MiB of float32
  constexpr int64_t kBytes = kElements * 4;
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {kElements});
  const int32_t bias = b.Parameter(DType::kFloat32, {kElements});
  int32_t v = x;
  const char* const kOps[] = {"tanh", "add", "neg", "mul", "abs"};
  for (int i = 0; i < 200; ++i) {
    const std::string op = kOps[i % 5];
    v = (op == "add" || op == "mul") ? b.Op(op, {v, bias}) : b.Op(op, {v});
  }
  b.graph().outputs = {v};
  for (bool fuse : {false, true}) {
    std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
    Executor executor(*backend);
    executor.set_fusion(fuse);
    std::shared_ptr<const Plan> plan = *executor.Prepare(b.graph());
    std::mt19937 rng(1);
    std::vector<Tensor> parameters = {RandomTensor(*backend, {DType::kFloat32, {kElements}}, rng),
                                      RandomTensor(*backend, {DType::kFloat32, {kElements}}, rng)};
    backend->budget().ResetPeak();
    absl::StatusOr<std::vector<Tensor>> out = executor.Run(*plan, parameters);
    ASSERT_TRUE(out.ok()) << out.status();
    // Two parameters plus at most two values of the chain (fused: only the output).
    EXPECT_LE(backend->budget().peak(), (fuse ? 3 : 4) * kBytes) << "fuse " << fuse;
    EXPECT_EQ(backend->budget().in_use(), 3 * kBytes);
  }
}

// A run whose CancelCheck says stop ends between kernels with CANCELLED, naming the first
// node not run and why; the check is asked at most about once a millisecond.
TEST(ExecutorTest, ACancelledRunStopsBetweenKernelsNamingTheNext) {
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {256, 256});
  int32_t v = x;
  for (int i = 0; i < 400; ++i) v = b.Op("matmul", {v, x});
  b.graph().outputs = {v};
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  Executor executor(*backend);
  std::shared_ptr<const Plan> plan = *executor.Prepare(b.graph());
  std::mt19937 rng(1);
  const Tensor input = RandomTensor(*backend, {DType::kFloat32, {256, 256}}, rng);
  int asked = 0;
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<Tensor>> out = executor.Run(*plan, {input}, [&] {
    ++asked;
    return absl::Now() - start > absl::Milliseconds(20) ? absl::CancelledError("enough")
                                                        : absl::OkStatus();
  });
  ASSERT_EQ(out.status().code(), absl::StatusCode::kCancelled) << out.status();
  EXPECT_NE(out.status().message().find("(matmul) and later not run: enough"), std::string::npos)
      << out.status();
  EXPECT_EQ(executor.runs_cancelled(), 1);
  EXPECT_LE(asked, 25 + 2);  // once a millisecond, not once a kernel
  EXPECT_TRUE(executor.Run(*plan, {input}, [] { return absl::OkStatus(); }).ok());
  EXPECT_EQ(executor.runs_cancelled(), 1);
}

TEST(MemoryPlanTest, ReshapeIsAViewOfItsInput) {
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {4, 6});
  const int32_t r = b.Op("reshape", {x}, {{"shape", std::vector<int64_t>{2, 12}}});
  b.graph().outputs = {r};
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 20);
  Executor executor(*backend);
  std::shared_ptr<const Plan> plan = *executor.Prepare(b.graph());
  std::mt19937 rng(3);
  Tensor input = RandomTensor(*backend, {DType::kFloat32, {4, 6}}, rng);
  std::vector<Tensor> out = *executor.Run(*plan, {input});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].storage, input.storage);
  EXPECT_EQ(out[0].shape(), (core::Shape{2, 12}));
}

// What each step does is decided with the plan: parameters bind, reshape and a same-dtype
// astype are views, everything else runs a kernel (a fused group as one).
TEST(FusionTest, StepsKnowTheirKind) {
  GraphBuilder b;
  const int32_t x = b.Parameter(DType::kFloat32, {4, 6});
  const int32_t y = b.Parameter(DType::kFloat32, {4, 6});
  const int32_t same = b.Op("astype", {y}, {{"dtype", DType::kFloat32}});
  const int32_t wide = b.Op("astype", {same}, {{"dtype", DType::kFloat64}});
  const int32_t r = b.Op("reshape", {x}, {{"shape", std::vector<int64_t>{2, 12}}});
  const int32_t e = b.Op("exp", {b.Op("neg", {r})});
  b.graph().outputs = {same, wide, e};  // `same` an output, so no group takes it
  const std::vector<Step> steps = PlanSteps(b.graph(), /*fuse=*/true);
  std::vector<std::pair<int32_t, StepKind>> kinds;
  for (const Step& step : steps) kinds.push_back({step.node, step.kind});
  EXPECT_EQ(kinds, (std::vector<std::pair<int32_t, StepKind>>{{x, StepKind::kParameter},
                                                              {y, StepKind::kParameter},
                                                              {same, StepKind::kView},
                                                              {wide, StepKind::kKernel},
                                                              {r, StepKind::kView},
                                                              {e, StepKind::kKernel}}));
  EXPECT_EQ(steps[1].parameter, 1);
  EXPECT_TRUE(steps.back().fused && steps.back().elementwise);
  EXPECT_TRUE(steps[3].elementwise);   // astype to float64, alone
  EXPECT_FALSE(steps[4].elementwise);  // reshape
}

}  // namespace
}  // namespace ferry::kernels
