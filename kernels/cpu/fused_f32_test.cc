// The float32 fast path against the unfused kernels run node by node, on every instruction
// set this CPU has: random chains over several inputs and scalars (with values read again
// later, and x op x), lengths around the tile and vector widths, special values, and a
// result large enough for streaming stores.

#include "kernels/cpu/fused_f32.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using core::DType;

using testing::SimdLevelName;
using testing::SimdLevelsOfThisCpu;

// A fused expression over `n` elements: parameters (dense or scalar), then ops.
class Chain {
 public:
  explicit Chain(int64_t n) : n_(n) {}

  int32_t Parameter(bool scalar) {
    core::Node node;
    node.op = "parameter";
    node.out = {DType::kFloat32, scalar ? core::Shape{} : core::Shape{n_}};
    node.attrs.Set("index", static_cast<int64_t>(expr_.nodes.size()));
    node.attrs.Set("dtype", node.out.dtype);
    node.attrs.Set("shape", node.out.shape);
    return Push(std::move(node));
  }

  int32_t Op(const std::string& op, std::vector<int32_t> inputs) {
    return Push(core::Node{op, std::move(inputs), {}, {DType::kFloat32, {n_}}});
  }

  const core::Graph& expr() const { return expr_; }

 private:
  int32_t Push(core::Node node) {
    expr_.nodes.push_back(std::move(node));
    return static_cast<int32_t>(expr_.nodes.size()) - 1;
  }

  int64_t n_;
  core::Graph expr_;
};

// Values in [-3, 3] with some NaNs, infinities, zeros of both signs, subnormals and values
// that overflow exp.
Tensor RandomTensor(Backend& backend, const core::TensorType& type, std::mt19937& rng) {
  static const float kSpecial[] = {std::numeric_limits<float>::quiet_NaN(),
                                   std::numeric_limits<float>::infinity(),
                                   -std::numeric_limits<float>::infinity(),
                                   0.0f,
                                   -0.0f,
                                   1e-40f,
                                   -1e-40f,
                                   100.0f,
                                   -100.0f};
  Tensor tensor = *backend.Allocate(type);
  std::uniform_real_distribution<float> value(-3, 3);
  std::uniform_int_distribution<int> special(0, 19);
  float* data = tensor.data<float>();
  for (int64_t i = 0; i < tensor.size(); ++i) {
    const int pick = special(rng);
    data[i] = pick < 9 && type.shape.size() > 0 ? kSpecial[pick] : value(rng);
  }
  return tensor;
}

std::string Bytes(const Tensor& tensor) {
  return std::string(static_cast<const char*>(tensor.raw()), tensor.nbytes());
}

// "" when `a` and `b` hold the same floats bit for bit, NaNs aside (which NaN x86 returns
// for two NaN operands depends on their order, which compilers swap for add and mul, fused
// or not); else the first that differs.
std::string FirstDifference(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return "sizes differ";
  for (size_t i = 0; i < a.size(); i += 4) {
    float x, y;
    std::memcpy(&x, a.data() + i, 4);
    std::memcpy(&y, b.data() + i, 4);
    if (std::memcmp(&x, &y, 4) != 0 && !(std::isnan(x) && std::isnan(y))) {
      return "element " + std::to_string(i / 4) + ": " + std::to_string(x) + " vs " +
             std::to_string(y);
    }
  }
  return "";
}

// The expression's result computed node by node by the unfused kernels.
std::string Unfused(Backend& backend, const core::Graph& expr, const std::vector<Tensor>& inputs) {
  std::vector<Tensor> values = inputs;
  for (size_t j = inputs.size(); j < expr.nodes.size(); ++j) {
    const core::Node& node = expr.nodes[j];
    std::vector<Tensor> args;
    for (int32_t input : node.inputs) args.push_back(values[input]);
    Tensor out = *backend.Allocate(node.out);
    absl::Status ran = backend.Run(node, args, out);
    EXPECT_TRUE(ran.ok()) << ran;
    values.push_back(out);
  }
  return Bytes(values.back());
}

// Checks the fast path's result for `expr` against the unfused one on every level.
void ExpectMatchesUnfused(const core::Graph& expr, uint32_t seed, const std::string& what) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  std::mt19937 rng(seed);
  std::vector<Tensor> inputs;
  for (const core::Node& node : expr.nodes) {
    if (node.op == "parameter") inputs.push_back(RandomTensor(*backend, node.out, rng));
  }
  const std::string expected = Unfused(*backend, expr, inputs);
  for (SimdLevel level : SimdLevelsOfThisCpu()) {
    Tensor out = *backend->Allocate(expr.nodes.back().out);
    ASSERT_TRUE(RunFusedFloat32(expr, inputs, out, level)) << what;
    EXPECT_EQ(FirstDifference(Bytes(out), expected), "") << SimdLevelName(level) << ": " << what;
  }
}

std::string Describe(const core::Graph& expr) {
  std::string text;
  for (const core::Node& node : expr.nodes) {
    text += node.op + "(";
    for (int32_t input : node.inputs) text += std::to_string(input) + ",";
    text += ") ";
  }
  return text;
}

TEST(FusedFloat32Test, BestLevelIsTheCpus) {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  EXPECT_EQ(BestSimdLevel() >= SimdLevel::kAvx512, __builtin_cpu_supports("avx512f") != 0);
  EXPECT_EQ(BestSimdLevel() >= SimdLevel::kAvx2, __builtin_cpu_supports("avx2") != 0);
#else
  EXPECT_EQ(BestSimdLevel(), SimdLevel::kBaseline);
#endif
  SimdLevelsOfThisCpu();  // prints the levels this CPU leaves untested
}

TEST(FusedFloat32Test, RandomChainsMatchUnfused) {
  static const char* const kBinary[] = {"add", "sub", "mul", "div", "maximum", "minimum"};
  static const char* const kUnary[] = {"neg", "abs", "relu", "exp", "tanh",
                                       "log", "erf", "gelu", "sin", "cos"};
  // Around the vector widths (4, 8, 16) and the tile (64).
  static const int64_t kLengths[] = {1, 3, 15, 17, 63, 64, 65, 128, 1000, 4099};
  std::mt19937 rng(20261202);
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t n = kLengths[trial % 10];
    Chain chain(n);
    std::vector<int32_t> dense = {chain.Parameter(false), chain.Parameter(false)};
    std::vector<int32_t> values = dense;
    values.push_back(chain.Parameter(true));
    values.push_back(chain.Parameter(true));
    int32_t last = -1;
    for (int i = 0; i < 14; ++i) {
      std::uniform_int_distribution<size_t> any(0, values.size() - 1);
      const int kind = std::uniform_int_distribution<int>(0, 9)(rng);
      if (last >= 0 && kind < 3) {
        last = chain.Op(kUnary[std::uniform_int_distribution<int>(0, 9)(rng)], {last});
      } else {
        // Mostly the latest value with any other, either side; sometimes two older values
        // (both spilled or inputs) or the latest with itself.
        const std::string op = kBinary[std::uniform_int_distribution<int>(0, 5)(rng)];
        int32_t a = last >= 0 && kind < 9 ? last : values[any(rng)];
        int32_t b = last >= 0 && kind == 8 ? last : values[any(rng)];
        auto scalar = [&](int32_t v) { return v == values[2] || v == values[3]; };
        if (scalar(a) && scalar(b)) a = last >= 0 ? last : dense[0];  // a full-shape result
        if (kind % 2) std::swap(a, b);
        last = chain.Op(op, {a, b});
      }
      values.push_back(last);
    }
    ExpectMatchesUnfused(chain.expr(), trial,
                         "n=" + std::to_string(n) + " " + Describe(chain.expr()));
  }
}

// A rotary embedding's angles: tiles of arguments all within SinCosNear's range take its
// vector loop, a tile with one past it (2e7 here) SinF32's and CosF32's scalar one; both
// give the unfused kernels' bits.
TEST(FusedFloat32Test, SinAndCosOfLargeAnglesMatchUnfused) {
  const int64_t n = 1000;
  Chain chain(n);
  const int32_t positions = chain.Parameter(false);
  const int32_t frequency = chain.Parameter(true);
  const int32_t angle = chain.Op("mul", {positions, frequency});
  chain.Op("add", {chain.Op("sin", {angle}), chain.Op("cos", {angle})});
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  std::vector<Tensor> inputs = {*backend->Allocate({DType::kFloat32, {n}}),
                                *backend->Allocate({DType::kFloat32, {}})};
  for (int64_t i = 0; i < n; ++i) inputs[0].data<float>()[i] = static_cast<float>(i * 977);
  inputs[0].data<float>()[700] = 2e7f;
  inputs[1].data<float>()[0] = 0.31622776f;
  const std::string expected = Unfused(*backend, chain.expr(), inputs);
  for (SimdLevel level : SimdLevelsOfThisCpu()) {
    Tensor out = *backend->Allocate({DType::kFloat32, {n}});
    ASSERT_TRUE(RunFusedFloat32(chain.expr(), inputs, out, level));
    EXPECT_EQ(FirstDifference(Bytes(out), expected), "") << SimdLevelName(level);
  }
}

// Past 8 MiB the result is written with streaming stores; the length is no multiple of a
// tile, so the last elements go through the padded tail.
TEST(FusedFloat32Test, LargeChainWithStreamingStoresMatchesUnfused) {
  Chain chain(int64_t{2} << 20 | 37);
  const int32_t x = chain.Parameter(false);
  const int32_t y = chain.Parameter(false);
  const int32_t s = chain.Parameter(true);
  int32_t v = chain.Op("mul", {x, s});
  const int32_t w = chain.Op("sub", {v, y});
  v = chain.Op("maximum", {s, w});
  v = chain.Op("mul", {v, v});
  v = chain.Op("add", {w, v});
  v = chain.Op("relu", {v});
  ExpectMatchesUnfused(chain.expr(), 3, Describe(chain.expr()));
}

// A plan compiles its chain once; each call binds the program to its own inputs, both for
// whole tiles and for the padded tail.
TEST(FusedFloat32Test, OneProgramRunsOnEachCallsInputs) {
  Chain chain(130);
  const int32_t x = chain.Parameter(false);
  const int32_t s = chain.Parameter(true);
  const int32_t y = chain.Parameter(false);
  const int32_t w = chain.Op("mul", {x, s});
  int32_t v = chain.Op("sub", {y, w});
  v = chain.Op("tanh", {v});
  v = chain.Op("add", {w, v});
  chain.Op("maximum", {v, s});
  const std::shared_ptr<const Float32Program> program = CompileFloat32(chain.expr());
  ASSERT_NE(program, nullptr);

  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  std::mt19937 rng(7);
  for (int call = 0; call < 3; ++call) {
    std::vector<Tensor> inputs;
    for (int32_t p : {x, s, y})
      inputs.push_back(RandomTensor(*backend, chain.expr().nodes[p].out, rng));
    const std::string expected = Unfused(*backend, chain.expr(), inputs);
    for (SimdLevel level : SimdLevelsOfThisCpu()) {
      Tensor out = *backend->Allocate(chain.expr().nodes.back().out);
      ASSERT_TRUE(RunFloat32(*program, inputs, out, level));
      EXPECT_EQ(FirstDifference(Bytes(out), expected), "")
          << SimdLevelName(level) << " call " << call;
    }
  }

  // Inputs of other sizes than the program's parameters are refused.
  const std::vector<Tensor> swapped = {RandomTensor(*backend, {DType::kFloat32, {}}, rng),
                                       RandomTensor(*backend, {DType::kFloat32, {130}}, rng),
                                       RandomTensor(*backend, {DType::kFloat32, {130}}, rng)};
  Tensor out = *backend->Allocate(chain.expr().nodes.back().out);
  EXPECT_FALSE(RunFloat32(*program, swapped, out, BestSimdLevel()));
}

TEST(FusedFloat32Test, OtherExpressionsAreLeftToTheGeneralPath) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(int64_t{1} << 30);
  std::mt19937 rng(1);
  const core::TensorType type{DType::kFloat32, {100}};
  const std::vector<Tensor> inputs = {RandomTensor(*backend, type, rng)};
  Tensor out = *backend->Allocate(type);
  std::memset(out.raw(), 0x5a, out.nbytes());
  const std::string untouched = Bytes(out);

  Chain unsupported(100);  // an op the fast path does not have
  unsupported.Op("sqrt", {unsupported.Op("neg", {unsupported.Parameter(false)})});
  EXPECT_FALSE(RunFusedFloat32(unsupported.expr(), inputs, out, BestSimdLevel()));

  Chain broadcast(100);  // an input that broadcasts without being a single element
  broadcast.Op("neg", {broadcast.Parameter(false)});
  const std::vector<Tensor> rows = {RandomTensor(*backend, {DType::kFloat32, {10}}, rng)};
  EXPECT_FALSE(RunFusedFloat32(broadcast.expr(), rows, out, BestSimdLevel()));

  const std::vector<Tensor> doubles = {*backend->Allocate({DType::kFloat64, {100}})};
  EXPECT_FALSE(RunFusedFloat32(broadcast.expr(), doubles, out, BestSimdLevel()));
  EXPECT_TRUE(Bytes(out) == untouched);
}

}  // namespace
}  // namespace ferry::kernels::cpu
