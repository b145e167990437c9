// Lowering lazy arrays to a core::Graph: equal small constants share a node, targets never
// do, and the values come out as without sharing (on the local device).

#include "client/lower.h"

#include <cmath>
#include <string>
#include <vector>

#include "client/array_node.h"
#include "client/ferry.h"
#include "gtest/gtest.h"

namespace ferry {
namespace {

int CountOp(const core::Graph& graph, const std::string& op) {
  int count = 0;
  for (const core::Node& node : graph.nodes) count += node.op == op;
  return count;
}

TEST(LowerTest, ChainSharesItsScalars) {
  Array x = from_host(std::vector<float>{1, 2, 3, 4}, {4});
  Array v = x;
  for (int i = 0; i < 100; ++i) v = (i % 2) ? v * 1.5f : v + 0.25f;
  detail::LoweredGraph lowered = detail::Lower({v.node().get()});
  // One parameter, the two numbers once each, and the 100 ops.
  EXPECT_EQ(lowered.graph->nodes.size(), 103u);
  EXPECT_EQ(CountOp(*lowered.graph, "constant"), 2);
  EXPECT_EQ(lowered.parameters.size(), 1u);
  ASSERT_EQ(lowered.outputs.size(), 1u);
  EXPECT_EQ(lowered.outputs[0], v.node().get());

  std::vector<float> expected = {1, 2, 3, 4};
  for (int i = 0; i < 100; ++i) {
    for (float& e : expected) e = (i % 2) ? e * 1.5f : e + 0.25f;
  }
  EXPECT_EQ(v.to_vector<float>(), expected);
}

TEST(LowerTest, ConstantsThatDifferStayApart) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  Array h = astype(x, float16);
  // Beside 2 as a float32 scalar: another value, another dtype (2 as float16), another
  // shape (the same bytes as a [1] constant).
  const float two = 2.0f;
  Array shaped = detail::MakeLeaf(
      "constant",
      {{"value", core::HostTensor{{float32, {1}},
                                  std::string(reinterpret_cast<const char*>(&two), sizeof(two))}}},
      x.device());
  Array y = x * 2.0f + x * 3.0f + astype(h * 2.0f, float32) + x * shaped;
  Array z = x * full({2}, 2.0, float32);
  detail::LoweredGraph lowered = detail::Lower({y.node().get(), z.node().get()});
  EXPECT_EQ(CountOp(*lowered.graph, "constant"), 4);
  EXPECT_EQ(lowered.parameters.size(), 1u);
  eval({y, z});
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{9, 18}));
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{2, 4}));
}

// Two equal constants that are both targets and inputs: each target gets a node (and so a
// buffer) of its own.
TEST(LowerTest, TargetsKeepTheirOwnNodes) {
  const Device device = local();
  Array c1 = detail::Constant(Operand(2.0f), float32, device);
  Array c2 = detail::Constant(Operand(2.0f), float32, device);
  Array c3 = detail::Constant(Operand(2.0f), float32, device);
  Array c4 = detail::Constant(Operand(2.0f), float32, device);
  Array x = from_host(std::vector<float>{1, 2}, {2});
  Array y = x * c1 + c2 * c3 * c4;
  detail::LoweredGraph lowered = detail::Lower({y.node().get(), c1.node().get(), c2.node().get()});
  const core::Graph& graph = *lowered.graph;
  ASSERT_EQ(graph.outputs.size(), 3u);
  EXPECT_NE(graph.outputs[1], graph.outputs[2]);
  EXPECT_EQ(CountOp(graph, "constant"), 3);  // c3 and c4 share one
  eval({y, c1, c2});
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{10, 12}));
  EXPECT_EQ(c1.item<float>(), 2.0f);
  EXPECT_EQ(c2.item<float>(), 2.0f);
}

TEST(LowerTest, MaterializedTargetsAreAvailableNotOutputs) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  Array y = x + 1.0f;
  detail::LoweredGraph lowered = detail::Lower({x.node().get(), y.node().get(), y.node().get()});
  EXPECT_EQ(lowered.available.size(), 1u);
  ASSERT_EQ(lowered.outputs.size(), 1u);  // y once
  EXPECT_EQ(lowered.graph->outputs.size(), 1u);
}

// A held lazy array computed on the way that still reads an array only the graph holds
// (gradients of weights an optimizer replaced) is an output too, after the targets: once
// computed it lets go, and the old array can be donated. One that reads only arrays the
// program holds stays lazy (a C++ temporary, which the daemon may fuse away).
TEST(LowerTest, HeldArraysThatKeepADyingArrayAreOutputsAfterTheTargets) {
  Array x = from_host(std::vector<float>{1, 2}, {2});
  Array w = from_host(std::vector<float>{3, 4}, {2});
  Array h = exp(w) * 2.0f;   // held: the program reads it later
  Array hx = exp(x) * 2.0f;  // held too, but x is the program's
  Array y = h + 1.0f + hx;
  Array z = (w + 3.0f) * 4.0f;  // w + 3 is held by nothing but z
  w = x;                        // the old w: only the graph holds it now
  detail::LoweredGraph lowered = detail::Lower({y.node().get(), z.node().get()});
  ASSERT_EQ(lowered.outputs.size(), 3u);
  EXPECT_EQ(lowered.outputs[0], y.node().get());
  EXPECT_EQ(lowered.outputs[1], z.node().get());
  EXPECT_EQ(lowered.outputs[2], h.node().get());
  EXPECT_EQ(lowered.hints.first_held_output, 2u);
  ASSERT_EQ(lowered.parameters.size(), 2u);
  EXPECT_EQ(lowered.hints.donatable, (std::vector<bool>{true, false}));  // the old w, x
  const detail::LoweredGraph traced =
      detail::Lower({y.node().get(), z.node().get()}, detail::HeldArrays::kLeaveLazy);
  EXPECT_EQ(traced.outputs.size(), 2u);
  EXPECT_EQ(traced.hints.donatable, (std::vector<bool>{false, false}));

  eval({y, z});
  EXPECT_TRUE(h.is_available());
  EXPECT_FALSE(hx.is_available());
  EXPECT_FLOAT_EQ(h.to_vector<float>()[1], 2.0f * std::exp(4.0f));
}

}  // namespace
}  // namespace ferry
