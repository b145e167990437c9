#include "core/validate.h"

#include <string>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

using Ints = std::vector<int64_t>;

TensorType F32(Shape shape) { return {DType::kFloat32, std::move(shape)}; }

Node Parameter(int64_t index, TensorType type) {
  return {"parameter", {}, {{"index", index}, {"dtype", type.dtype}, {"shape", type.shape}}, type};
}

// x: f32(2, 3), y: f32(3), z = x + y, w = z * x.
Graph SmallGraph() {
  Graph g;
  g.nodes.push_back(Parameter(0, F32({2, 3})));
  g.nodes.push_back(Parameter(1, F32({3})));
  g.nodes.push_back({"add", {0, 1}, {}, F32({2, 3})});
  g.nodes.push_back({"mul", {2, 0}, {}, F32({2, 3})});
  g.outputs = {3, 2};
  return g;
}

std::string Error(const absl::Status& status) {
  if (status.ok()) return "OK";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(ValidateTest, AcceptsAWellFormedGraph) { EXPECT_EQ(Error(ValidateGraph(SmallGraph())), "OK"); }

TEST(ValidateTest, AcceptsLeavesOfEveryKind) {
  Graph g;
  g.nodes.push_back(
      {"constant", {}, {{"value", HostTensor{F32({2}), std::string(8, '\0')}}}, F32({2})});
  g.nodes.push_back(
      {"full", {}, {{"value", 1.0}, {"shape", Ints{2}}, {"dtype", DType::kFloat32}}, F32({2})});
  g.nodes.push_back({"arange",
                     {},
                     {{"start", 0.0}, {"stop", 2.0}, {"step", 1.0}, {"dtype", DType::kFloat32}},
                     F32({2})});
  g.nodes.push_back({"add", {0, 1}, {}, F32({2})});
  g.nodes.push_back({"add", {3, 2}, {}, F32({2})});
  g.outputs = {4};
  EXPECT_EQ(Error(ValidateGraph(g)), "OK");
}

TEST(ValidateTest, RefusesEmptyGraphs) {
  EXPECT_EQ(Error(ValidateGraph(Graph{})), "the graph has no nodes");
  Graph g = SmallGraph();
  g.outputs.clear();
  EXPECT_EQ(Error(ValidateGraph(g)), "the graph has no outputs");
}

TEST(ValidateTest, EnforcesTheNodeLimit) {
  GraphLimits limits;
  limits.max_nodes = 4;
  EXPECT_EQ(Error(ValidateGraph(SmallGraph(), limits)), "OK");
  limits.max_nodes = 3;
  EXPECT_EQ(Error(ValidateGraph(SmallGraph(), limits)),
            "the graph has 4 nodes, more than the limit of 3");
}

TEST(ValidateTest, RefusesOutputsOutOfRange) {
  Graph g = SmallGraph();
  g.outputs = {0, 9};
  EXPECT_EQ(Error(ValidateGraph(g)), "output 1 refers to node 9 but the graph has 4 nodes");
  g.outputs = {-1};
  EXPECT_EQ(Error(ValidateGraph(g)), "output 0 refers to node -1 but the graph has 4 nodes");
}

TEST(ValidateTest, RefusesUnknownOps) {
  Graph g = SmallGraph();
  g.nodes[0].op = "frobnicate";
  EXPECT_EQ(Error(ValidateGraph(g)), "node 0 (frobnicate): unknown op 'frobnicate'");
}

TEST(ValidateTest, InputsMustComeBefore) {
  Graph g = SmallGraph();
  g.nodes[3].inputs = {2, 5};
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 3 (mul): input 1 refers to node 5, which does not come before it");
  g.nodes[3].inputs = {3, 2};  // a cycle through itself
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 3 (mul): input 0 refers to node 3, which does not come before it");
  g.nodes[3].inputs = {2, -1};
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 3 (mul): input 1 refers to node -1, which does not come before it");
}

TEST(ValidateTest, ReportsInferenceErrorsWithTheNode) {
  Graph g = SmallGraph();
  g.nodes[1] = Parameter(1, F32({4}));
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 2 (add): [add] shapes (2, 3) and (4,) cannot be broadcast together");
  g = SmallGraph();
  g.nodes[2].inputs = {0};
  EXPECT_EQ(Error(ValidateGraph(g)), "node 2 (add): [add] takes 2 inputs, got 1");
  g = SmallGraph();
  g.nodes[2].attrs.Set("axes", Ints{0});
  EXPECT_EQ(Error(ValidateGraph(g)), "node 2 (add): [add] unexpected attribute 'axes'");
}

TEST(ValidateTest, NamesTheNodeOfAGatedDeltaWithABadState) {
  // q, k (1, 2, 1, 4), v (1, 2, 2, 3), g and beta (1, 2, 2), state (1, 2, 4, 3): Dv and Dk
  // swapped.
  Graph g;
  const std::vector<Shape> shapes = {{1, 2, 1, 4}, {1, 2, 1, 4}, {1, 2, 2, 3},
                                     {1, 2, 2},    {1, 2, 2},    {1, 2, 4, 3}};
  for (size_t i = 0; i < shapes.size(); ++i) g.nodes.push_back(Parameter(i, F32(shapes[i])));
  g.nodes.push_back({"gated_delta", {0, 1, 2, 3, 4, 5}, {}, F32({1, 36})});
  g.outputs = {6};
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 6 (gated_delta): [gated_delta] state must be (B, Hv, Dv, Dk) (1, 2, 3, 4), got "
            "(1, 2, 4, 3)");
  g.nodes[5] = Parameter(5, F32({1, 2, 3, 4}));
  EXPECT_EQ(Error(ValidateGraph(g)), "OK");
}

TEST(ValidateTest, DeclaredTypesMustEqualInferredOnes) {
  Graph g = SmallGraph();
  g.nodes[2].out = F32({3, 3});
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 2 (add): declares float32(3, 3) but inputs give float32(2, 3)");
  g = SmallGraph();
  g.nodes[3].out = {DType::kFloat64, {2, 3}};
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 3 (mul): declares float64(2, 3) but inputs give float32(2, 3)");
  g = SmallGraph();
  g.nodes[1].out = F32({2});
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 1 (parameter): declares float32(2,) but its attributes give float32(3,)");
}

TEST(ValidateTest, DeclaredTypesMustBeValid) {
  Graph g = SmallGraph();
  g.nodes[2].out = F32({-2, 3});
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 2 (add): declared shape (-2, 3) has a negative dimension");
  g.nodes[2].out = F32({int64_t{1} << 40, int64_t{1} << 40});
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 2 (add): declared shape (1099511627776, 1099511627776) has more than 2^48 "
            "elements");
  g.nodes[2].out = {static_cast<DType>(42), {2, 3}};
  EXPECT_EQ(Error(ValidateGraph(g)), "node 2 (add): declares unknown dtype 42");
}

TEST(ValidateTest, ParametersAreNumberedOnceEach) {
  Graph g = SmallGraph();
  g.nodes[1] = Parameter(2, F32({3}));
  EXPECT_EQ(Error(ValidateGraph(g)),
            "parameters must be numbered 0..N-1: index 1 is missing (the graph has 2 "
            "parameters)");
  g.nodes[1] = Parameter(0, F32({3}));
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 1 (parameter): parameter index 0 is already used by node 0");
  g.nodes[0] = Parameter(int64_t{1} << 40, F32({2, 3}));
  g.nodes[1] = Parameter(1, F32({3}));
  EXPECT_EQ(Error(ValidateGraph(g)),
            "parameters must be numbered 0..N-1: index 0 is missing (the graph has 2 "
            "parameters)");
  g.nodes[0] = Parameter(-1, F32({2, 3}));
  EXPECT_EQ(Error(ValidateGraph(g)), "node 0 (parameter): [parameter] index -1 is negative");
}

TEST(ValidateTest, ConstantDataMustMatchItsType) {
  Graph g;
  g.nodes.push_back(
      {"constant", {}, {{"value", HostTensor{F32({2}), std::string(4, '\0')}}}, F32({2})});
  g.outputs = {0};
  EXPECT_EQ(Error(ValidateGraph(g)),
            "node 0 (constant): [constant] value has 4 bytes but float32(2,) needs 8");
}

}  // namespace
}  // namespace ferry::core
