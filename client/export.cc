#include "client/export.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/lower.h"
#include "client/status.h"
#include "core/codec.h"
#include "core/validate.h"
#include "proto/ferry/v1/ferry.pb.h"

namespace ferry {
namespace {

constexpr char kMagic[8] = {'F', 'E', 'R', 'R', 'Y', 'F', 'N', '1'};

// The graph of `outputs`, whose parameters are `inputs` in order: every other array the
// graph starts from (what the function captured) becomes a constant holding its bytes.
core::Graph Trace(const std::vector<Array>& inputs, std::vector<Array> outputs) {
  std::vector<detail::ArrayNode*> targets;
  for (Array& output : outputs) {
    // An output that is already a value (an input, a captured array) still needs a node.
    if (output.node()->materialized()) {
      output = detail::MakeOp("reshape", {output}, {{"shape", output.shape()}});
    }
    targets.push_back(output.node().get());
  }
  detail::LoweredGraph lowered = detail::Lower(targets, detail::HeldArrays::kLeaveLazy);
  core::Graph graph = std::move(*lowered.graph);
  const Device device = outputs[0].device();
  std::vector<bool> bound(inputs.size(), false);
  for (core::Node& node : graph.nodes) {
    if (node.op != "parameter") continue;
    const auto& buffer = lowered.parameters[node.attrs.Get<int64_t>("index").value()];
    int64_t input = -1;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (inputs[i].node()->buffer == buffer) input = static_cast<int64_t>(i);
    }
    if (input >= 0) {
      node.attrs.Set("index", input);
      bound[input] = true;
      continue;
    }
    core::HostTensor value{node.out,
                           std::string(static_cast<size_t>(core::NumElements(node.out.shape) *
                                                           core::SizeOf(node.out.dtype)),
                                       '\0')};
    device.impl().Read(*buffer, value.data.data());
    node.op = "constant";
    node.attrs = core::Attrs();
    node.attrs.Set("value", std::move(value));
  }
  // Inputs the function does not read are still taken, so a call passes them all.
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (bound[i]) continue;
    graph.nodes.push_back(
        core::ParameterNode(static_cast<int64_t>(i), {inputs[i].dtype(), inputs[i].shape()}));
  }
  return graph;
}

// Constants past this size (a model's weights) are not graph constants when the function
// runs: shipped and hashed with every graph, and past a daemon's message limit (64 MiB)
// not shipped at all.
constexpr size_t kResidentConstantBytes = size_t{64} << 10;

// The value of `node` when it is such a constant, else null.
const core::HostTensor* LargeConstant(const core::Node& node) {
  if (node.op != "constant" || !node.inputs.empty()) return nullptr;
  auto it = node.attrs.values().find("value");
  if (it == node.attrs.values().end()) return nullptr;
  const auto* value = std::get_if<core::HostTensor>(&it->second);
  return value != nullptr && value->data.size() > kResidentConstantBytes ? value : nullptr;
}

// An imported function's large constants as arrays, made once per device and reused by
// every call: each is uploaded once (through the daemon's upload cache, so a program that
// starts again does not send them again) and stays resident while the function lives.
class ResidentWeights {
 public:
  Array On(const Device& device, size_t node, const core::HostTensor& value) {
    std::lock_guard<std::mutex> lock(mu_);
    auto on = std::find_if(by_device_.begin(), by_device_.end(),
                           [&](const auto& entry) { return entry.first == device; });
    if (on == by_device_.end()) on = by_device_.insert(on, {device, {}});
    auto it = on->second.find(node);
    if (it == on->second.end()) it = on->second.emplace(node, Make(device, value)).first;
    return it->second;
  }

 private:
  static Array Make(const Device& device, const core::HostTensor& value) {
    CachedUploads cached;
    return from_host_bytes(value.data.data(), value.data.size(), value.type.dtype, value.type.shape,
                           device);
  }

  std::mutex mu_;
  std::vector<std::pair<Device, std::unordered_map<size_t, Array>>> by_device_;
};

}  // namespace

void export_function(const std::string& path, const ExportedFunction& fun,
                     const std::vector<Array>& example) {
  eval(example);  // their values are the graph's parameters, not part of it
  std::vector<Array> outputs = fun(example);
  if (outputs.empty()) {
    detail::ThrowIfError(absl::InvalidArgumentError(
        absl::StrCat("[export_function] the function returned no array; ", path, " not written")));
  }
  for (const Array& output : outputs) {
    if (output.device() != outputs[0].device()) {
      detail::ThrowIfError(absl::InvalidArgumentError(
          absl::StrCat("[export_function] the function's outputs live on ",
                       outputs[0].device().description(), " and ", output.device().description(),
                       ": one graph runs on one device; ", path, " not written")));
    }
  }
  const core::Graph graph = Trace(example, std::move(outputs));
  detail::ThrowIfError(core::ValidateGraph(graph));
  v1::Graph proto;
  core::GraphToProto(graph, &proto);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) detail::ThrowIfError(absl::PermissionDeniedError(absl::StrCat("cannot write ", path)));
  out.write(kMagic, sizeof(kMagic));
  const std::string bytes = proto.SerializeAsString();
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) detail::ThrowIfError(absl::DataLossError(absl::StrCat("cannot write ", path)));
}

ExportedFunction import_function(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) detail::ThrowIfError(absl::NotFoundError(absl::StrCat("cannot open ", path)));
  const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto invalid = [&path](absl::string_view why) {
    detail::ThrowIfError(absl::InvalidArgumentError(
        absl::StrCat("[import_function] ", path, " is not a saved function: ", why)));
  };
  if (file.size() < sizeof(kMagic) || std::memcmp(file.data(), kMagic, sizeof(kMagic)) != 0) {
    invalid("it does not start with FERRYFN1");
  }
  v1::Graph proto;
  if (!proto.ParseFromArray(file.data() + sizeof(kMagic),
                            static_cast<int>(file.size() - sizeof(kMagic)))) {
    invalid("its graph does not parse");
  }
  absl::StatusOr<core::Graph> parsed = core::GraphFromProto(proto);
  if (!parsed.ok()) invalid(parsed.status().message());
  if (absl::Status valid = core::ValidateGraph(*parsed); !valid.ok()) invalid(valid.message());
  auto graph = std::make_shared<const core::Graph>(*std::move(parsed));
  const std::vector<core::TensorType> takes = graph->ParameterTypes();
  auto weights = std::make_shared<ResidentWeights>();

  return [graph, takes, path, weights](const std::vector<Array>& inputs) {
    if (inputs.size() != takes.size()) {
      detail::ThrowIfError(absl::InvalidArgumentError(absl::StrCat(
          "[import_function] ", path, " takes ", takes.size(), " arrays, not ", inputs.size())));
    }
    for (size_t i = 0; i < inputs.size(); ++i) {
      const core::TensorType given{inputs[i].dtype(), inputs[i].shape()};
      if (given != takes[i]) {
        detail::ThrowIfError(absl::InvalidArgumentError(
            absl::StrCat("[import_function] input ", i, " is ", core::TypeToString(given), " but ",
                         path, " takes ", core::TypeToString(takes[i]))));
      }
    }
    const Device device = inputs.empty() ? default_device() : inputs[0].device();
    std::vector<std::optional<Array>> values(graph->nodes.size());
    for (size_t n = 0; n < graph->nodes.size(); ++n) {
      const core::Node& node = graph->nodes[n];
      if (node.op == "parameter") {
        values[n] = inputs[node.attrs.Get<int64_t>("index").value()];
      } else if (const core::HostTensor* weight = LargeConstant(node)) {
        values[n] = weights->On(device, n, *weight);
      } else if (node.inputs.empty()) {
        values[n] = detail::MakeLeaf(node.op, node.attrs, device);
      } else {
        std::vector<Array> operands;
        for (int32_t input : node.inputs) operands.push_back(*values[input]);
        values[n] = detail::MakeOp(node.op, operands, node.attrs);
      }
    }
    std::vector<Array> outputs;
    for (int32_t output : graph->outputs) outputs.push_back(*values[output]);
    return outputs;
  };
}

}  // namespace ferry
