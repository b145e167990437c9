#include "core/codec.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"

namespace ferry::core {
namespace {

using Ints = std::vector<int64_t>;

TensorType F32(Shape shape) { return {DType::kFloat32, std::move(shape)}; }

std::string Error(const absl::Status& status) {
  if (status.ok()) return "OK";
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  return std::string(status.message());
}

TEST(CodecTest, DTypesMapExplicitly) {
  // The wire numbers differ from the enum order; each is spelled out.
  EXPECT_EQ(DTypeToProto(DType::kBool), v1::BOOL);
  EXPECT_EQ(DTypeToProto(DType::kUInt8), 2);
  EXPECT_EQ(DTypeToProto(DType::kInt32), 3);
  EXPECT_EQ(DTypeToProto(DType::kInt64), 4);
  EXPECT_EQ(DTypeToProto(DType::kFloat16), 5);
  EXPECT_EQ(DTypeToProto(DType::kBFloat16), 6);
  EXPECT_EQ(DTypeToProto(DType::kFloat32), 7);
  EXPECT_EQ(DTypeToProto(DType::kFloat64), 8);
  EXPECT_EQ(DTypeToProto(DType::kUInt32), 9);
  for (DType dtype : kAllDTypes) {
    EXPECT_EQ(*DTypeFromProto(DTypeToProto(dtype)), dtype) << DTypeName(dtype);
  }
  EXPECT_EQ(Error(DTypeFromProto(0).status()), "dtype is unspecified");
  EXPECT_EQ(Error(DTypeFromProto(42).status()), "unknown dtype 42");
  EXPECT_EQ(Error(DTypeFromProto(-1).status()), "unknown dtype -1");
}

TEST(CodecTest, TypesAndTensorsRoundTrip) {
  v1::TensorSpec spec;
  TypeToProto({DType::kUInt32, {2, 0, 3}}, &spec);
  EXPECT_EQ(spec.dtype(), v1::UINT32);
  EXPECT_EQ(spec.shape_size(), 3);
  EXPECT_EQ(*TypeFromProto(spec), (TensorType{DType::kUInt32, {2, 0, 3}}));

  TypeToProto({DType::kFloat64, {}}, &spec);
  EXPECT_EQ(spec.shape_size(), 0);
  EXPECT_EQ(*TypeFromProto(spec), (TensorType{DType::kFloat64, {}}));

  const HostTensor tensor{{DType::kInt64, {2}},
                          std::string("\1\0\0\0\0\0\0\0\2\0\0\0\0\0\0\0", 16)};
  v1::Tensor proto;
  HostTensorToProto(tensor, &proto);
  EXPECT_EQ(proto.data().size(), 16u);
  EXPECT_EQ(*HostTensorFromProto(proto), tensor);
}

TEST(CodecTest, TypeAndTensorRejections) {
  v1::TensorSpec spec;
  spec.set_dtype(v1::FLOAT32);
  spec.add_shape(2);
  spec.add_shape(-1);
  EXPECT_EQ(Error(TypeFromProto(spec).status()), "shape (2, -1) has a negative dimension");
  spec.clear_shape();
  spec.add_shape(int64_t{1} << 32);
  spec.add_shape(int64_t{1} << 31);
  EXPECT_EQ(Error(TypeFromProto(spec).status()),
            "shape (4294967296, 2147483648) has more than 2^48 elements");
  spec.clear_shape();
  spec.set_dtype(v1::DTYPE_UNSPECIFIED);
  EXPECT_EQ(Error(TypeFromProto(spec).status()), "dtype is unspecified");

  v1::Tensor tensor;
  tensor.mutable_spec()->set_dtype(v1::FLOAT32);
  tensor.mutable_spec()->add_shape(2);
  tensor.set_data(std::string(4, '\0'));
  EXPECT_EQ(Error(HostTensorFromProto(tensor).status()),
            "tensor data has 4 bytes but float32(2,) needs 8");
  tensor.set_data(std::string(8, '\0'));
  EXPECT_EQ(Error(HostTensorFromProto(tensor).status()), "OK");
}

// A graph that carries every kind of attribute (the codec does not validate, so the op
// needn't exist).
Graph EveryAttributeKind() {
  Graph g;
  g.nodes.push_back({"parameter",
                     {},
                     {{"index", int64_t{0}}, {"dtype", DType::kBFloat16}, {"shape", Ints{2, 3}}},
                     {DType::kBFloat16, {2, 3}}});
  g.nodes.push_back({"constant",
                     {},
                     {{"value", HostTensor{F32({2}), std::string("\0\0\x80\x3f\0\0\0\x40", 8)}}},
                     F32({2})});
  g.nodes.push_back({"custom",
                     {0, 1, 0},
                     {{"i", int64_t{-7}},
                      {"f", -0.0},
                      {"big", 1e300},
                      {"s", std::string("hello\0world", 11)},
                      {"ints", Ints{}},
                      {"more_ints", Ints{-1, 0, int64_t{1} << 62}},
                      {"dtype", DType::kUInt32},
                      {"empty", HostTensor{{DType::kFloat16, {0, 4}}, ""}}},
                     {DType::kInt64, {}}});
  g.outputs = {2, 0, 2};
  return g;
}

void ExpectSameGraph(const Graph& a, const Graph& b) {
  ASSERT_EQ(a.nodes.size(), b.nodes.size());
  for (size_t i = 0; i < a.nodes.size(); ++i) {
    EXPECT_EQ(a.nodes[i].op, b.nodes[i].op) << i;
    EXPECT_EQ(a.nodes[i].inputs, b.nodes[i].inputs) << i;
    EXPECT_TRUE(a.nodes[i].attrs == b.nodes[i].attrs) << i;
    EXPECT_EQ(a.nodes[i].out, b.nodes[i].out) << i;
  }
  EXPECT_EQ(a.outputs, b.outputs);
}

TEST(CodecTest, GraphRoundTrip) {
  const Graph graph = EveryAttributeKind();
  v1::Graph proto;
  GraphToProto(graph, &proto);
  ASSERT_EQ(proto.nodes_size(), 3);
  const v1::Node& custom = proto.nodes(2);
  // Attributes go out in name order.
  ASSERT_EQ(custom.attrs_size(), 8);
  EXPECT_EQ(custom.attrs(0).name(), "big");
  EXPECT_EQ(custom.attrs(7).name(), "s");
  EXPECT_EQ(custom.out().dtype(), v1::INT64);

  absl::StatusOr<Graph> decoded = GraphFromProto(proto);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ExpectSameGraph(*decoded, graph);
  // -0.0 == 0.0, so check the sign survived separately.
  EXPECT_TRUE(std::signbit(std::get<double>(decoded->nodes[2].attrs.values().at("f"))));

  // Through bytes too, as it crosses the wire.
  v1::Graph parsed;
  ASSERT_TRUE(parsed.ParseFromString(proto.SerializeAsString()));
  ExpectSameGraph(*GraphFromProto(parsed), graph);
}

TEST(CodecTest, EncodingReplacesWhatWasThere) {
  v1::Graph proto;
  GraphToProto(EveryAttributeKind(), &proto);
  Graph small;
  small.nodes.push_back({"full", {}, {{"value", 1.0}}, F32({})});
  small.outputs = {0};
  GraphToProto(small, &proto);
  EXPECT_EQ(proto.nodes_size(), 1);
  EXPECT_EQ(proto.outputs_size(), 1);
}

v1::Graph Encoded() {
  v1::Graph proto;
  GraphToProto(EveryAttributeKind(), &proto);
  return proto;
}

v1::Attribute* FindAttr(v1::Node* node, const std::string& name) {
  for (v1::Attribute& attr : *node->mutable_attrs()) {
    if (attr.name() == name) return &attr;
  }
  return nullptr;
}

TEST(CodecTest, RefusesAttributeWithoutValue) {
  v1::Graph proto = Encoded();
  FindAttr(proto.mutable_nodes(2), "i")->clear_value();
  EXPECT_EQ(Error(GraphFromProto(proto).status()), "node 2 (custom): attribute 'i' has no value");
}

TEST(CodecTest, RefusesDuplicateAttributes) {
  v1::Graph proto = Encoded();
  v1::Attribute* again = proto.mutable_nodes(0)->add_attrs();
  again->set_name("index");
  again->set_i(1);
  EXPECT_EQ(Error(GraphFromProto(proto).status()),
            "node 0 (parameter): attribute 'index' appears twice");
}

TEST(CodecTest, RefusesUnnamedAttributes) {
  v1::Graph proto = Encoded();
  proto.mutable_nodes(0)->add_attrs()->set_i(1);
  EXPECT_EQ(Error(GraphFromProto(proto).status()), "node 0 (parameter): an attribute has no name");
}

TEST(CodecTest, RefusesUnknownDTypes) {
  v1::Graph proto = Encoded();
  FindAttr(proto.mutable_nodes(0), "dtype")->set_dtype(static_cast<v1::DType>(42));
  EXPECT_EQ(Error(GraphFromProto(proto).status()),
            "node 0 (parameter): attribute 'dtype': unknown dtype 42");

  proto = Encoded();
  FindAttr(proto.mutable_nodes(0), "dtype")->set_dtype(v1::DTYPE_UNSPECIFIED);
  EXPECT_EQ(Error(GraphFromProto(proto).status()),
            "node 0 (parameter): attribute 'dtype': dtype is unspecified");

  proto = Encoded();
  proto.mutable_nodes(1)->mutable_out()->set_dtype(static_cast<v1::DType>(42));
  EXPECT_EQ(Error(GraphFromProto(proto).status()), "node 1 (constant): output: unknown dtype 42");

  proto = Encoded();
  proto.mutable_nodes(1)->clear_out();
  EXPECT_EQ(Error(GraphFromProto(proto).status()),
            "node 1 (constant): output: dtype is unspecified");
}

TEST(CodecTest, RefusesTensorsOfTheWrongSize) {
  v1::Graph proto = Encoded();
  FindAttr(proto.mutable_nodes(1), "value")->mutable_tensor()->set_data(std::string(4, '\0'));
  EXPECT_EQ(Error(GraphFromProto(proto).status()),
            "node 1 (constant): attribute 'value': tensor data has 4 bytes but float32(2,) "
            "needs 8");
}

TEST(CodecTest, RefusesInvalidShapes) {
  v1::Graph proto = Encoded();
  proto.mutable_nodes(0)->mutable_out()->set_shape(1, -3);
  EXPECT_EQ(Error(GraphFromProto(proto).status()),
            "node 0 (parameter): output: shape (2, -3) has a negative dimension");

  proto = Encoded();
  v1::TensorSpec* spec =
      FindAttr(proto.mutable_nodes(1), "value")->mutable_tensor()->mutable_spec();
  spec->add_shape(int64_t{1} << 62);
  spec->add_shape(int64_t{1} << 62);
  EXPECT_EQ(Error(GraphFromProto(proto).status()),
            "node 1 (constant): attribute 'value': shape (2, 4611686018427387904, "
            "4611686018427387904) has more than 2^48 elements");
}

}  // namespace
}  // namespace ferry::core
