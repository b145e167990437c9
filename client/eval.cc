// eval: the lazy arrays reachable from the targets become one core::Graph per device.
// Materialized arrays enter it as parameters bound to their buffers; the targets are its
// outputs and become materialized themselves.

#include <algorithm>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/array_node.h"
#include "client/lower.h"

namespace ferry {
namespace {

using detail::ArrayNode;
using detail::Buffer;

void EvalOnDevice(const Device& device, const std::vector<ArrayNode*>& targets) {
  detail::LoweredGraph lowered = detail::Lower(targets);
  if (!lowered.available.empty()) device.impl().MakeResident(lowered.available);
  if (lowered.outputs.empty()) return;

  std::vector<std::shared_ptr<Buffer>> values =
      device.impl().Execute(std::move(lowered.graph), lowered.parameters);
  for (size_t i = 0; i < lowered.outputs.size(); ++i) {
    lowered.outputs[i]->Materialize(std::move(values[i]));
  }
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
