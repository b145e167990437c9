#include "core/fingerprint.h"

#include <string>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

using Ints = std::vector<int64_t>;

TensorType F32(Shape shape) { return {DType::kFloat32, std::move(shape)}; }

Node Parameter(int64_t index, TensorType type) {
  return {"parameter", {}, {{"index", index}, {"dtype", type.dtype}, {"shape", type.shape}}, type};
}

// sum(x - c, axes 1) with x a parameter and c a constant.
Graph Example() {
  Graph g;
  g.nodes.push_back(Parameter(0, F32({2, 3})));
  g.nodes.push_back(
      {"constant", {}, {{"value", HostTensor{F32({3}), std::string(12, '\1')}}}, F32({3})});
  g.nodes.push_back({"sub", {0, 1}, {}, F32({2, 3})});
  g.nodes.push_back({"sum", {2}, {{"axes", Ints{1}}, {"keepdims", int64_t{0}}}, F32({2})});
  g.outputs = {3};
  return g;
}

TEST(FingerprintTest, SixteenBytesAndDeterministic) {
  const std::string id = GraphFingerprint(Example());
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(GraphFingerprint(Example()), id);
  Graph copy = Example();
  EXPECT_EQ(GraphFingerprint(copy), id);
}

TEST(FingerprintTest, AttributeInsertionOrderDoesNotMatter) {
  Graph a = Example();
  Graph b = Example();
  b.nodes[3].attrs = Attrs();
  b.nodes[3].attrs.Set("keepdims", int64_t{0});
  b.nodes[3].attrs.Set("axes", Ints{1});
  EXPECT_EQ(GraphFingerprint(a), GraphFingerprint(b));
}

// Each edit must change the id.
TEST(FingerprintTest, EveryStructuralChangeChangesIt) {
  const std::string base = GraphFingerprint(Example());
  std::vector<std::pair<const char*, Graph>> edits;
  Graph g;

  g = Example();
  g.nodes[3].attrs.Set("keepdims", int64_t{1});
  g.nodes[3].out = F32({2, 1});
  edits.emplace_back("attribute value", g);

  g = Example();
  g.nodes[3].attrs.Set("keepdims", 0.0);
  edits.emplace_back("attribute kind (int vs double)", g);

  g = Example();
  g.nodes[2].attrs.Set("extra", std::string("x"));
  edits.emplace_back("added attribute", g);

  g = Example();
  g.nodes[0].out.dtype = DType::kFloat16;
  g.nodes[0].attrs.Set("dtype", DType::kFloat16);
  edits.emplace_back("dtype", g);

  g = Example();
  g.nodes[0].out.shape = {3, 2};
  edits.emplace_back("shape", g);

  g = Example();
  g.nodes[2].inputs = {1, 0};
  edits.emplace_back("input order", g);

  g = Example();
  g.nodes[1].attrs.Set("value", HostTensor{F32({3}), std::string(11, '\1') + '\2'});
  edits.emplace_back("constant bytes", g);

  g = Example();
  g.nodes[2].op = "add";
  edits.emplace_back("op", g);

  g = Example();
  g.outputs = {2};
  edits.emplace_back("outputs", g);

  g = Example();
  g.outputs = {3, 3};
  edits.emplace_back("output count", g);

  for (const auto& [what, graph] : edits) {
    EXPECT_NE(GraphFingerprint(graph), base) << what;
  }
}

// Pins the encoding and the hash: a daemon and a client of another build must name the
// same graph alike (the daemon checks a resent graph against the id it was named by).
TEST(FingerprintTest, StableAcrossBuilds) {
  EXPECT_EQ(FingerprintToHex(GraphFingerprint(Example())), "a83a7351c08278047da98c49cfeb8086");
  // A graph whose encoding spans many SHA-256 blocks.
  Graph chain;
  chain.nodes.push_back(Parameter(0, F32({16})));
  for (int i = 0; i < 500; ++i) {
    const int32_t last = static_cast<int32_t>(chain.nodes.size()) - 1;
    chain.nodes.push_back({"constant",
                           {},
                           {{"value", HostTensor{F32({}), std::string(4, static_cast<char>(i))}}},
                           F32({})});
    chain.nodes.push_back({i % 2 ? "mul" : "add", {last, last + 1}, {}, F32({16})});
  }
  chain.outputs = {static_cast<int32_t>(chain.nodes.size()) - 1};
  EXPECT_EQ(FingerprintToHex(GraphFingerprint(chain)), "32a2eb85478cfe8c1ccb8c48346e9e82");
}

TEST(FingerprintTest, StringBoundariesAreUnambiguous) {
  Graph a;
  a.nodes.push_back({"ab", {}, {{"c", int64_t{1}}}, F32({})});
  a.outputs = {0};
  Graph b;
  b.nodes.push_back({"a", {}, {{"bc", int64_t{1}}}, F32({})});
  b.outputs = {0};
  EXPECT_NE(GraphFingerprint(a), GraphFingerprint(b));
}

TEST(FingerprintTest, Hex) {
  EXPECT_EQ(FingerprintToHex(std::string("\x00\xff\x10\xab", 4)), "00ff10ab");
  EXPECT_EQ(FingerprintToHex(""), "");
  EXPECT_EQ(FingerprintToHex(GraphFingerprint(Example())).size(), 32u);
}

}  // namespace
}  // namespace ferry::core
