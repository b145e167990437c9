// Fuzz target: an ExecuteRequest as a client sends it, through what ferryd does with its
// graph and inline bindings: decode (core/codec.h), validate, infer and plan with fusion
// (Executor::Prepare), bind, run on the CPU backend. Properties: every refusal is a client's
// error (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...), never INTERNAL or UNKNOWN, with no crash
// and (under ASan) no bad memory access or leak; a run's outputs have the types the graph
// declares. Graphs costing more than a few thousand elements a node are planned, not run.

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/graph.h"
#include "core/ops.h"
#include "google/protobuf/stubs/logging.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/executor.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_mutator.h"
#include "tests/random_graphs.h"

namespace ferry::fuzz {
namespace {

constexpr int kMaxNodes = 64;
constexpr int64_t kMaxElementsRun = 1 << 14;  // summed over the nodes

// Protobuf logs every string field with invalid UTF-8 it parses; mutations make many.
const bool kProtobufQuiet = (google::protobuf::SetLogHandler(nullptr), true);

kernels::Executor& Executor() {
  static kernels::Backend* backend = kernels::MakeCpuBackend(int64_t{256} << 20).release();
  static kernels::Executor* executor = new kernels::Executor(*backend, 64);
  return *executor;
}

// Whether running `graph` stays within kMaxElementsRun (validated shapes, so no overflow
// below; the sum saturates).
bool CheapToRun(const core::Graph& graph) {
  int64_t total = 0;
  for (const core::Node& node : graph.nodes) {
    int64_t elements = 1;
    for (int64_t dim : node.out.shape) {
      if (dim > kMaxElementsRun) return false;
      elements *= dim;
      if (elements > kMaxElementsRun) return false;
    }
    total += elements;
    if (total > kMaxElementsRun) return false;
  }
  return true;
}

absl::StatusOr<std::vector<kernels::Tensor>> Bind(const kernels::Plan& plan,
                                                  const v1::ExecuteRequest& request) {
  std::vector<kernels::Tensor> parameters;
  if (static_cast<size_t>(request.bindings_size()) != plan.parameter_types.size()) {
    return absl::InvalidArgumentError("a binding per parameter");
  }
  for (int i = 0; i < request.bindings_size(); ++i) {
    if (!request.bindings(i).has_tensor()) return absl::InvalidArgumentError("inline bindings");
    absl::StatusOr<core::HostTensor> host = core::HostTensorFromProto(request.bindings(i).tensor());
    if (!host.ok()) return host.status();
    if (host->type != plan.parameter_types[i]) return absl::InvalidArgumentError("mismatch");
    absl::StatusOr<kernels::Tensor> tensor = kernels::TensorFromHost(Executor().backend(), *host);
    if (!tensor.ok()) return tensor.status();
    parameters.push_back(*std::move(tensor));
  }
  return parameters;
}

// Declares each node's type as inferred, up to the first node that does not infer, so that
// a mutated attribute or input reaches the kernels rather than the check of declared types.
void DeclareInferredTypes(v1::Graph& proto) {
  absl::StatusOr<core::Graph> graph = core::GraphFromProto(proto);
  if (!graph.ok()) return;
  for (size_t i = 0; i < graph->nodes.size(); ++i) {
    core::Node& node = graph->nodes[i];
    std::vector<core::TensorType> inputs;
    for (int32_t input : node.inputs) {
      if (input < 0 || static_cast<size_t>(input) >= i) return;
      inputs.push_back(graph->nodes[input].out);
    }
    absl::StatusOr<core::TensorType> out = core::InferOp(node.op, inputs, node.attrs);
    if (!out.ok()) return;
    node.out = *out;
    core::TypeToProto(*out, proto.mutable_nodes(static_cast<int>(i))->mutable_out());
  }
}

}  // namespace

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  testing::RandomGraphs draw(20261206);
  const std::vector<std::string> ops = testing::OpsToDraw();
  for (int i = 0; i < 400; ++i) {
    bool well_formed = false;
    core::Graph graph = draw.Graph(ops, &well_formed);
    v1::ExecuteRequest request;
    // A third take their first constant as parameter 0, bound inline.
    if (draw.OneIn(3)) {
      absl::StatusOr<core::HostTensor> value = graph.nodes[0].attrs.Get<core::HostTensor>("value");
      if (value.ok()) {
        graph.nodes[0] = core::ParameterNode(0, value->type);
        core::HostTensorToProto(*value, request.add_bindings()->mutable_tensor());
      }
    }
    core::GraphToProto(graph, request.mutable_graph());
    seeds.push_back(request.SerializeAsString());
  }
  return seeds;
}

}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;  // NOLINT: the entry point lies outside ferry's namespace
  v1::ExecuteRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  if (request.graph().nodes_size() > fuzz::kMaxNodes) return 0;
  absl::StatusOr<core::Graph> graph = core::GraphFromProto(request.graph());
  if (!graph.ok()) {
    fuzz::CheckClientError(graph.status(), "decoding the graph");
    return 0;
  }
  absl::StatusOr<std::shared_ptr<const kernels::Plan>> plan =
      fuzz::Executor().Prepare(*std::move(graph));
  if (!plan.ok()) {
    fuzz::CheckClientError(plan.status(), "preparing the graph");
    return 0;
  }
  if (!fuzz::CheapToRun((*plan)->graph)) return 0;
  absl::StatusOr<std::vector<kernels::Tensor>> parameters = fuzz::Bind(**plan, request);
  if (!parameters.ok()) {
    fuzz::CheckClientError(parameters.status(), "binding parameters");
    return 0;
  }
  absl::StatusOr<std::vector<kernels::Tensor>> outputs =
      fuzz::Executor().Run(**plan, *std::move(parameters));
  if (!outputs.ok()) {
    fuzz::CheckClientError(outputs.status(), "running the graph");
    return 0;
  }
  const core::Graph& run = (*plan)->graph;
  fuzz::Check(outputs->size() == run.outputs.size(), "one tensor per output");
  for (size_t i = 0; i < outputs->size(); ++i) {
    const core::TensorType& declared = run.nodes[run.outputs[i]].out;
    fuzz::Check((*outputs)[i].type == declared,
                absl::StrCat("output ", i, " is ", core::TypeToString((*outputs)[i].type),
                             ", declared ", core::TypeToString(declared)));
  }
  return 0;
}

// One to three fields of the request changed (tests/fuzz/message_mutator.h), its declared
// types then inferred again three times in four; bytes edited instead one time in eight,
// and for inputs that do not parse.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  using namespace ferry;  // NOLINT
  std::mt19937_64 random(seed);
  v1::ExecuteRequest request;
  if (random() % 8 == 0 || !request.ParseFromArray(data, static_cast<int>(size))) {
    return LLVMFuzzerMutate(data, size, max_size);
  }
  for (int edits = 1 + static_cast<int>(random() % 3); edits > 0; --edits) {
    fuzz::MutateMessage(request, testing::OpAndAttributeNames(), random);
  }
  if (random() % 4 != 0) fuzz::DeclareInferredTypes(*request.mutable_graph());
  const std::string mutated = request.SerializeAsString();
  if (mutated.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, mutated.data(), mutated.size());
  return mutated.size();
}
