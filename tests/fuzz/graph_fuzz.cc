// Fuzz target: an ExecuteRequest as a client sends it, through what ferryd does with its
// graph and inline bindings: decode (core/codec.h), validate, infer and plan with fusion
// (Executor::Prepare), bind, run on the CPU backend (graph_fuzz_cuda_emulated: the CUDA
// backend, on the CUDA emulator). Properties: every refusal is a client's
// error (INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...), never INTERNAL or UNKNOWN, with no crash
// and (under ASan) no bad memory access or leak; a decoded graph encodes and decodes to the
// same fingerprint; a run's outputs have the types the graph declares, and are the bits the
// ops give run one by one (fusion off), but for NaN payloads. Graphs of more than 16 384
// elements in all are planned, not run.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/dtype.h"
#include "core/fingerprint.h"
#include "core/graph.h"
#include "core/ops.h"
#include "core/shape.h"
#include "google/protobuf/stubs/logging.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/kernels.h"
#ifdef FERRY_FUZZ_CUDA_EMULATED
#include "kernels/cuda/cuda_backend.h"
#endif
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

// The CPU backend, or (graph_fuzz_cuda_emulated) the CUDA backend on the CUDA emulator.
kernels::Backend& Backend() {
  static kernels::Backend* backend = [] {
#ifdef FERRY_FUZZ_CUDA_EMULATED
    kernels::CudaOptions options;
    options.memory_limit_bytes = int64_t{256} << 20;
    absl::StatusOr<std::unique_ptr<kernels::Backend>> cuda = kernels::MakeCudaBackend(options);
    Check(cuda.ok(), absl::StrCat("the emulated CUDA backend: ", cuda.status().ToString()));
    return cuda->release();
#else
    return kernels::MakeCpuBackend(int64_t{256} << 20).release();
#endif
  }();
  return *backend;
}

// ferryd's executor, and one that runs every op on its own, for the fused groups' results
// to be held to.
kernels::Executor& Executor() {
  static kernels::Executor* executor = new kernels::Executor(Backend(), 64);
  return *executor;
}
kernels::Executor& UnfusedExecutor() {
  static kernels::Executor* executor = [] {
    auto* executor = new kernels::Executor(Backend(), 64);
    executor->set_fusion(false);
    return executor;
  }();
  return *executor;
}

// A result's elements as doubles (astype's conversion); complex64 as its float32 parts.
std::vector<double> AsDoubles(const core::HostTensor& host) {
  const bool complex = host.type.dtype == core::DType::kComplex64;
  const int64_t n = core::NumElements(host.type.shape) * (complex ? 2 : 1);
  std::vector<double> values(static_cast<size_t>(n));
  kernels::cpu::CastElements(host.data.data(), complex ? core::DType::kFloat32 : host.type.dtype,
                             values.data(), core::DType::kFloat64, n);
  return values;
}

// Whether two results are the same bits, but for which NaN a NaN is (x86 returns the first
// operand's of two NaNs, and compilers order a fused group's operands freely).
bool SameResults(const core::HostTensor& a, const core::HostTensor& b) {
  if (!(a.type == b.type) || a.data.size() != b.data.size()) return false;
  if (a.data == b.data) return true;
  const std::vector<double> x = AsDoubles(a), y = AsDoubles(b);
  const size_t width = a.data.size() / std::max<size_t>(x.size(), 1);
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::memcmp(&a.data[i * width], &b.data[i * width], width) == 0) continue;
    if (!std::isnan(x[i]) || !std::isnan(y[i])) return false;
  }
  return true;
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

absl::StatusOr<std::vector<kernels::Tensor>> Bind(kernels::Backend& backend,
                                                  const kernels::Plan& plan,
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
    absl::StatusOr<kernels::Tensor> tensor = kernels::TensorFromHost(backend, *host);
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

#ifdef FERRY_FUZZ_CUDA_EMULATED
// The CPU reference, for the CUDA backend's results to be held to.
kernels::Executor& CpuExecutor() {
  static kernels::Executor* executor =
      new kernels::Executor(*kernels::MakeCpuBackend(int64_t{256} << 20).release(), 64);
  return *executor;
}

// The one op of `graph` that is not a leaf, when it has exactly one and its result does not
// hinge on conditioning (linear algebra), on float32 against double (FFT) or on rounding a
// recurrence compounds over its steps (gated_delta and its vjp, with fuzzed magnitudes);
// else nullptr.
const core::Node* ComparableOp(const core::Graph& graph) {
  const core::Node* op = nullptr;
  for (const core::Node& node : graph.nodes) {
    if (node.op == "constant" || node.op == "parameter") continue;
    if (op != nullptr) return nullptr;
    op = &node;
  }
  // clang-format off
  static const auto* excluded = new std::set<std::string>{
      "cholesky", "solve", "solve_triangular", "qr", "svd", "eigh", "lu", "eig", "fft",
      "gated_delta", "gated_delta_vjp"};
  // clang-format on
  return op == nullptr || excluded->count(op->op) != 0 ? nullptr : op;
}

// Whether CUDA's result `got` is the CPU's `want`: integers and bools exactly; floating
// values (each part of a complex) within `tolerance` of (1 + |want|) times `scale` (the
// count an accumulation summed), NaN where the CPU has NaN and infinities of its sign.
bool CloseToCpu(const core::HostTensor& want, const core::HostTensor& got, double scale,
                std::string* why) {
  if (!(want.type == got.type) || want.data.size() != got.data.size()) {
    *why = "a different type";
    return false;
  }
  const core::DType dtype =
      want.type.dtype == core::DType::kComplex64 ? core::DType::kFloat32 : want.type.dtype;
  double tolerance = 0;
  switch (dtype) {
    case core::DType::kFloat16:
      tolerance = 4e-3;
      break;
    case core::DType::kBFloat16:
      tolerance = 2e-2;
      break;
    case core::DType::kFloat32:
      tolerance = 2e-5;
      break;
    case core::DType::kFloat64:
      tolerance = 1e-12;
      break;
    default:
      if (want.data == got.data) return true;
      *why = "different bits";
      return false;
  }
  const std::vector<double> wants = AsDoubles(want), gots = AsDoubles(got);
  for (size_t i = 0; i < wants.size(); ++i) {
    const double w = wants[i], g = gots[i];
    const bool same = std::isnan(w)   ? std::isnan(g)
                      : std::isinf(w) ? w == g
                                      : std::abs(w - g) <= tolerance * scale * (1 + std::abs(w));
    if (!same) {
      *why = absl::StrCat("element ", i, ": cpu ", w, ", cuda ", g);
      return false;
    }
  }
  return true;
}
#endif

// Runs `plan` on `executor` with the request's bindings, as ferryd would; the outputs on the
// host.
absl::StatusOr<std::vector<core::HostTensor>> RunOn(kernels::Executor& executor,
                                                    const kernels::Plan& plan,
                                                    const v1::ExecuteRequest& request) {
  absl::StatusOr<std::vector<kernels::Tensor>> parameters = Bind(executor.backend(), plan, request);
  if (!parameters.ok()) return parameters.status();
  absl::StatusOr<std::vector<kernels::Tensor>> outputs = executor.Run(plan, *std::move(parameters));
  if (!outputs.ok()) return outputs.status();
  std::vector<core::HostTensor> results;
  for (const kernels::Tensor& output : *outputs) {
    absl::StatusOr<core::HostTensor> host = kernels::TensorToHost(executor.backend(), output);
    if (!host.ok()) return host.status();
    results.push_back(*std::move(host));
  }
  return results;
}

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
  // What the client encodes, the daemon decodes to the same graph (the same fingerprint,
  // which names cached plans).
  v1::Graph encoded;
  core::GraphToProto(*graph, &encoded);
  absl::StatusOr<core::Graph> decoded = core::GraphFromProto(encoded);
  fuzz::Check(decoded.ok() && core::GraphFingerprint(*decoded) == core::GraphFingerprint(*graph),
              "a decoded graph encodes and decodes again to the same fingerprint");

  absl::StatusOr<std::shared_ptr<const kernels::Plan>> plan = fuzz::Executor().Prepare(*graph);
  if (!plan.ok()) {
    fuzz::CheckClientError(plan.status(), "preparing the graph");
    return 0;
  }
  if (!fuzz::CheapToRun((*plan)->graph)) return 0;
  absl::StatusOr<std::vector<core::HostTensor>> fused =
      fuzz::RunOn(fuzz::Executor(), **plan, request);
  if (!fused.ok()) {
    fuzz::CheckClientError(fused.status(), "running the graph");
    return 0;
  }
  const core::Graph& run = (*plan)->graph;
  fuzz::Check(fused->size() == run.outputs.size(), "one tensor per output");
  for (size_t i = 0; i < fused->size(); ++i) {
    const core::TensorType& declared = run.nodes[run.outputs[i]].out;
    fuzz::Check((*fused)[i].type == declared,
                absl::StrCat("output ", i, " is ", core::TypeToString((*fused)[i].type),
                             ", declared ", core::TypeToString(declared)));
  }
  // Fusion changes how a graph runs, never what it computes.
  absl::StatusOr<std::shared_ptr<const kernels::Plan>> unfused_plan =
      fuzz::UnfusedExecutor().Prepare(*std::move(graph));
  fuzz::Check(unfused_plan.ok(), "the graph plans unfused too");
  absl::StatusOr<std::vector<core::HostTensor>> unfused =
      fuzz::RunOn(fuzz::UnfusedExecutor(), **unfused_plan, request);
  if (!unfused.ok() && unfused.status().code() == absl::StatusCode::kResourceExhausted) return 0;
  fuzz::Check(unfused.ok(),
              absl::StrCat("unfused, the graph fails: ", unfused.status().ToString()));
  for (size_t i = 0; i < fused->size(); ++i) {
    fuzz::Check(fuzz::SameResults((*fused)[i], (*unfused)[i]),
                absl::StrCat("output ", i, " (node ", run.outputs[i], ", ",
                             run.nodes[run.outputs[i]].op, ") differs fused and unfused"));
  }
#ifdef FERRY_FUZZ_CUDA_EMULATED
  // One op on constants: CUDA's result is the CPU reference's, within float tolerances.
  const core::Node* op = fuzz::ComparableOp(run);
  if (op == nullptr) return 0;
  absl::StatusOr<std::shared_ptr<const kernels::Plan>> cpu_plan = fuzz::CpuExecutor().Prepare(run);
  fuzz::Check(cpu_plan.ok(), "the graph plans on the CPU too");
  absl::StatusOr<std::vector<core::HostTensor>> cpu =
      fuzz::RunOn(fuzz::CpuExecutor(), **cpu_plan, request);
  if (!cpu.ok() && cpu.status().code() == absl::StatusCode::kResourceExhausted) return 0;
  fuzz::Check(cpu.ok(), absl::StrCat("on the CPU, the graph fails: ", cpu.status().ToString()));
  int64_t summed = 1;  // elements an output element may accumulate
  for (int32_t input : op->inputs) {
    summed = std::max(summed, core::NumElements(run.nodes[input].out.shape));
  }
  for (size_t i = 0; i < fused->size(); ++i) {
    std::string why;
    fuzz::Check(fuzz::CloseToCpu((*cpu)[i], (*fused)[i], static_cast<double>(summed), &why),
                absl::StrCat("output ", i, " (", op->op, ") differs from the CPU's: ", why));
  }
#endif
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
  return fuzz::WriteMutation(request.SerializeAsString(), data, size, max_size);
}
