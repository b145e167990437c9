// eval: the lazy arrays reachable from the targets become one core::Graph per device.
// Materialized arrays enter it as parameters bound to their buffers; the targets are its
// outputs and become materialized themselves.

#include <algorithm>
#include <future>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/array_node.h"
#include "core/graph.h"

namespace ferry {
namespace {

using detail::ArrayNode;
using detail::Buffer;

struct GraphBuild {
  core::Graph graph;
  std::vector<std::shared_ptr<Buffer>> parameters;
  std::unordered_map<const ArrayNode*, int32_t> index;  // node -> its graph node
};

int32_t AddParameter(GraphBuild& build, const ArrayNode& node) {
  core::Node parameter;
  parameter.op = "parameter";
  parameter.attrs.Set("index", static_cast<int64_t>(build.parameters.size()));
  parameter.attrs.Set("dtype", node.type.dtype);
  parameter.attrs.Set("shape", node.type.shape);
  parameter.out = node.type;
  build.parameters.push_back(node.buffer);
  build.graph.nodes.push_back(std::move(parameter));
  return static_cast<int32_t>(build.graph.nodes.size() - 1);
}

// Appends `root` and every node it needs that is not yet in the graph, inputs first. An
// explicit stack (node, next input to visit) keeps 100k-op chains off the call stack.
void AddReachable(GraphBuild& build, ArrayNode* root) {
  if (build.index.count(root) > 0) return;
  std::vector<std::pair<ArrayNode*, size_t>> stack = {{root, 0}};
  while (!stack.empty()) {
    ArrayNode* node = stack.back().first;
    if (node->materialized()) {
      build.index[node] = AddParameter(build, *node);
      stack.pop_back();
      continue;
    }
    size_t& next = stack.back().second;
    if (next < node->inputs.size()) {
      ArrayNode* input = node->inputs[next++].get();
      if (build.index.count(input) == 0) stack.push_back({input, 0});
      continue;
    }
    core::Node out;
    out.op = node->op;
    out.attrs = node->attrs;
    out.out = node->type;
    out.inputs.reserve(node->inputs.size());
    for (const std::shared_ptr<ArrayNode>& input : node->inputs) {
      out.inputs.push_back(build.index.at(input.get()));
    }
    build.graph.nodes.push_back(std::move(out));
    build.index[node] = static_cast<int32_t>(build.graph.nodes.size() - 1);
    stack.pop_back();
  }
}

void EvalOnDevice(const Device& device, const std::vector<ArrayNode*>& targets) {
  std::vector<std::shared_ptr<Buffer>> available;
  GraphBuild build;
  std::vector<ArrayNode*> outputs;
  for (ArrayNode* target : targets) {
    if (target->materialized()) {
      available.push_back(target->buffer);
      continue;
    }
    if (std::find(outputs.begin(), outputs.end(), target) != outputs.end()) continue;
    AddReachable(build, target);
    build.graph.outputs.push_back(build.index.at(target));
    outputs.push_back(target);
  }
  if (!available.empty()) device.impl().MakeResident(available);
  if (outputs.empty()) return;

  std::vector<std::shared_ptr<Buffer>> values =
      device.impl().Execute(build.graph, build.parameters);
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i]->Materialize(std::move(values[i]));
}

}  // namespace

std::future<void> async_eval(const std::vector<Array>& arrays) {
  std::promise<void> started;
  try {
    eval(arrays);
  } catch (...) {
    started.set_exception(std::current_exception());
    return started.get_future();
  }
  std::vector<std::pair<Device, std::vector<std::shared_ptr<Buffer>>>> groups;
  for (const Array& array : arrays) {
    const std::shared_ptr<ArrayNode>& node = array.node();
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& g) { return g.first == node->device; });
    if (group == groups.end()) {
      groups.push_back({node->device, {node->buffer}});
    } else {
      group->second.push_back(node->buffer);
    }
  }
  // Holds the buffers (not the arrays, which are not thread-safe) while it waits.
  return std::async(std::launch::async, [groups = std::move(groups)] {
    for (const auto& [device, buffers] : groups) device.impl().Wait(buffers);
  });
}

void synchronize(const Device& device) { device.impl().Synchronize(); }

void eval(const std::vector<Array>& arrays) {
  // One graph per device, in the order the devices first appear.
  std::vector<std::pair<Device, std::vector<ArrayNode*>>> groups;
  for (const Array& array : arrays) {
    ArrayNode* node = array.node().get();
    auto group = std::find_if(groups.begin(), groups.end(),
                              [&](const auto& g) { return g.first == node->device; });
    if (group == groups.end()) {
      groups.push_back({node->device, {node}});
    } else {
      group->second.push_back(node);
    }
  }
  for (const auto& [device, targets] : groups) EvalOnDevice(device, targets);
}

}  // namespace ferry
