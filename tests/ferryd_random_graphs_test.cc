// Random graphs against a real ferryd: every op core declares, on constants of random dtypes
// and small shapes, with attributes drawn at random (in range, out of range, of the wrong
// kind, and extremes such as 2^62). Most are well-formed, found by trying draws against
// core::InferOp, so they reach the kernels; the rest test validation. Every answer must be
// OK or a client error (INVALID_ARGUMENT, FAILED_PRECONDITION, RESOURCE_EXHAUSTED, ...),
// never INTERNAL, UNKNOWN, a timeout or a lost daemon, and the daemon must serve on.
// A failure prints the graph, to replay by hand.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/dtype.h"
#include "core/graph.h"
#include "core/ops.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

class RandomGraphs {
 public:
  explicit RandomGraphs(uint32_t seed) : random_(seed) {}

  int Below(int n) { return static_cast<int>(random_() % static_cast<uint32_t>(n)); }
  bool OneIn(int n) { return Below(n) == 0; }

  // Mostly small integers, sometimes the edges where overflow hides.
  int64_t Int() {
    if (OneIn(25)) {
      const int64_t extremes[] = {std::numeric_limits<int64_t>::max(),
                                  std::numeric_limits<int64_t>::min(),
                                  int64_t{1} << 62,
                                  int64_t{1} << 31,
                                  -(int64_t{1} << 31),
                                  1000000};
      return extremes[Below(6)];
    }
    return Below(8) - 2;
  }
  double Float() {
    if (OneIn(25)) {
      const double extremes[] = {1e300, -1e300, 1e-300, std::numeric_limits<double>::infinity(),
                                 std::numeric_limits<double>::quiet_NaN()};
      return extremes[Below(5)];
    }
    return (Below(41) - 20) / 4.0;
  }
  std::vector<int64_t> Ints() {
    std::vector<int64_t> values(Below(4));
    for (int64_t& v : values) v = OneIn(3) ? Int() : Below(4);
    return values;
  }
  core::DType DType() {
    return core::kAllDTypes[Below(static_cast<int>(std::size(core::kAllDTypes)))];
  }
  // Small shapes; a third of them with every dim equal (square matrices for linalg).
  core::TensorType Type() {
    core::TensorType type{DType(), {}};
    const int rank = Below(4);
    const int64_t square = 1 + Below(4);
    const bool all_equal = OneIn(3);
    for (int d = 0; d < rank; ++d) {
      type.shape.push_back(all_equal ? square : OneIn(12) ? 0 : 1 + Below(4));
    }
    return type;
  }
  core::HostTensor Tensor(const core::TensorType& type) {
    core::HostTensor tensor{type, {}};
    const size_t bytes =
        static_cast<size_t>(core::NumElements(type.shape)) * core::SizeOf(type.dtype);
    // Bools 0 or 1 but now and then (validation refuses other bytes).
    const uint32_t mask = type.dtype == core::DType::kBool && !OneIn(8) ? 1 : 0xff;
    for (size_t i = 0; i < bytes; ++i) tensor.data.push_back(static_cast<char>(random_() & mask));
    // Finite, moderate floating values mostly: random bits are often NaN or 1e38.
    if (!OneIn(4) && type.dtype == core::DType::kFloat32) {
      for (size_t i = 0; i + 4 <= bytes; i += 4) {
        const float value = static_cast<float>(Float());
        std::memcpy(&tensor.data[i], &value, 4);
      }
    }
    return tensor;
  }

  // A value for attribute `name`: of the kind its name suggests mostly, of another sometimes.
  core::AttrValue Attr(const std::string& name) {
    if (OneIn(15)) {
      switch (Below(4)) {
        case 0:
          return Int();
        case 1:
          return Float();
        case 2:
          return Ints();
        default:
          return std::string("x");
      }
    }
    if (name == "dtype") return DType();
    if (name == "axes") {  // distinct and ascending, as the client sends them
      std::vector<int64_t> axes;
      for (int64_t axis = 0; axis < 4; ++axis) {
        if (OneIn(3)) axes.push_back(axis);
      }
      return axes;
    }
    if (name == "keepdims" || name == "inclusive" || name == "reverse" || name == "inverse" ||
        name == "real" || name == "upper" || name == "transpose" || name == "compute_uv" ||
        name == "compute_vectors") {
      return int64_t{Below(2)};
    }
    if (name == "value")
      return OneIn(2) ? core::AttrValue(Float()) : core::AttrValue(Tensor(Type()));
    if (name.back() == 's' || name == "shape" || name == "perm" || name == "slice_sizes") {
      return Ints();
    }
    if (name == "start" || name == "stop" || name == "step") {
      return OneIn(2) ? core::AttrValue(Ints()) : core::AttrValue(Float());
    }
    if (name == "low" || name == "high" || name == "loc" || name == "scale") return Float();
    return OneIn(4) ? core::AttrValue(Float()) : core::AttrValue(Int());
  }

  // A graph of 1 to 3 constants and then 1 to 3 random ops on them; `well_formed` says
  // whether every op's type was inferred (else the last one declares a made-up type).
  core::Graph Graph(const std::vector<std::string>& ops, bool* well_formed) {
    core::Graph graph;
    const int constants = 1 + Below(3);
    for (int i = 0; i < constants; ++i) {
      core::Node node{"constant", {}, {}, {}};
      core::HostTensor value = Tensor(Type());
      node.out = value.type;
      node.attrs.Set("value", std::move(value));
      graph.nodes.push_back(std::move(node));
    }
    *well_formed = true;
    const int count = 1 + Below(3);
    for (int k = 0; k < count; ++k) {
      const std::string& op = ops[Below(static_cast<int>(ops.size()))];
      const core::OpDef* def = core::FindOp(op);
      core::Node node{op, {}, {}, {}};
      bool inferred = false;
      for (int attempt = 0; attempt < 60 && !inferred; ++attempt) {
        node.inputs.clear();
        node.attrs = core::Attrs();
        const int most = def->max_inputs < 0 ? def->min_inputs + 2 : def->max_inputs;
        const int arity = def->min_inputs + Below(most - def->min_inputs + 1);
        // Inputs: earlier nodes, or new constants (added to the graph if the op takes them).
        std::vector<core::TensorType> types;
        std::vector<core::Node> fresh;
        for (int i = 0; i < arity; ++i) {
          if (OneIn(2)) {
            node.inputs.push_back(Below(static_cast<int>(graph.nodes.size())));
            types.push_back(graph.nodes[node.inputs.back()].out);
          } else {
            core::HostTensor value = Tensor(OneIn(2) && !types.empty() ? types.back() : Type());
            types.push_back(value.type);
            fresh.push_back({"constant", {}, {}, value.type});
            fresh.back().attrs.Set("value", std::move(value));
            node.inputs.push_back(-static_cast<int32_t>(fresh.size()));  // placed below
          }
        }
        for (const std::string& name : def->attrs) node.attrs.Set(name, Attr(name));
        absl::StatusOr<core::TensorType> out = core::InferOp(op, types, node.attrs);
        if (out.ok() || attempt == 59) {
          const int32_t first_fresh = static_cast<int32_t>(graph.nodes.size());
          for (core::Node& constant : fresh) graph.nodes.push_back(std::move(constant));
          for (int32_t& input : node.inputs) {
            if (input < 0) input = first_fresh - input - 1;
          }
        }
        if (out.ok()) {
          node.out = *out;
          inferred = true;
        }
      }
      if (!inferred) {
        node.out = Type();
        *well_formed = false;
      }
      graph.nodes.push_back(std::move(node));
      graph.outputs.push_back(static_cast<int32_t>(graph.nodes.size()) - 1);
      if (!inferred) break;  // nothing after it would be well-formed either
    }
    return graph;
  }

 private:
  std::mt19937 random_;
};

bool IsClientError(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::OUT_OF_RANGE:
    case grpc::StatusCode::UNIMPLEMENTED:
      return true;
    default:
      return false;
  }
}

TEST(RandomGraphs, EveryAnswerIsAResultOrAClientErrorAndTheDaemonServesOn) {
  auto ferryd = testing::StartFerryd({"--max_memory=1G"});
  ASSERT_NE(ferryd, nullptr);
  auto stub = testing::Connect(ferryd->address());
  const std::string session = testing::OpenSession(*stub);
  std::vector<std::string> ops;
  for (const std::string& op : core::OpNames()) {
    if (op != "parameter") ops.push_back(op);  // (bound parameters are tested elsewhere)
  }
  // FERRY_RANDOM_GRAPHS=count,seed for a longer hunt by hand.
  int graphs = 5000;
  uint32_t seed = 20261204;
  if (const char* hunt = std::getenv("FERRY_RANDOM_GRAPHS")) {
    std::sscanf(hunt, "%d,%u", &graphs, &seed);
  }
  RandomGraphs draw(seed);
  int well_formed_count = 0, ok_count = 0;
  for (int g = 0; g < graphs; ++g) {
    bool well_formed = false;
    const core::Graph graph = draw.Graph(ops, &well_formed);
    well_formed_count += well_formed;
    v1::ExecuteRequest request;
    request.set_session_id(session);
    core::GraphToProto(graph, request.mutable_graph());
    v1::ExecuteResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    const auto start = std::chrono::steady_clock::now();
    const grpc::Status status = stub->Execute(&context, request, &response);
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(2)) {
      std::printf("graph %d took over 2 s (%s):\n%s\n", g, status.error_message().c_str(),
                  request.graph().DebugString().c_str());
    }
    ok_count += status.ok();
    ASSERT_TRUE(IsClientError(status.error_code()))
        << "graph " << g << ": " << status.error_code() << " " << status.error_message() << "\n"
        << request.graph().DebugString();
  }
  // The draws reach the kernels, not only validation.
  EXPECT_GT(well_formed_count, graphs / 2);
  EXPECT_GT(ok_count, graphs / 3);
  std::printf("%d graphs: %d well-formed, %d ran\n", graphs, well_formed_count, ok_count);
  EXPECT_TRUE(testing::GetInfo(*stub, session).ok());
}

}  // namespace
}  // namespace ferry
