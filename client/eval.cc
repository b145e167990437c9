// eval: the lazy arrays reachable from the targets become one core::Graph per device.
// Materialized arrays enter it as parameters bound to their buffers; the targets are its
// outputs and become materialized themselves.

#include <algorithm>
#include <exception>
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

// The graph of `targets` on `device`, sent: the buffers its outputs will hold (an unpipelined
// execute returns once they are computed).
std::vector<std::shared_ptr<Buffer>> ExecuteOnDevice(const Device& device,
                                                     detail::LoweredGraph& lowered) {
  if (!lowered.available.empty()) device.impl().MakeResident(lowered.available);
  if (lowered.outputs.empty()) return {};
  return device.impl().Execute(std::move(lowered.graph), lowered.parameters);
}

void Materialize(detail::LoweredGraph& lowered, std::vector<std::shared_ptr<Buffer>> values) {
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
  std::vector<detail::LoweredGraph> lowered;
  for (const auto& [device, targets] : groups) lowered.push_back(detail::Lower(targets));
  if (groups.size() == 1) {
    Materialize(lowered[0], ExecuteOnDevice(groups[0].first, lowered[0]));
    return;
  }
  // Each device's graph goes without waiting for the others': ranks of a group wait for one
  // another in a collective, which an unpipelined execute (one that returns once computed)
  // would otherwise wait out until the group's timeout.
  std::vector<std::future<std::vector<std::shared_ptr<Buffer>>>> sent;
  for (size_t g = 0; g < groups.size(); ++g) {
    sent.push_back(std::async(std::launch::async,
                              [&, g] { return ExecuteOnDevice(groups[g].first, lowered[g]); }));
  }
  std::exception_ptr failure;
  for (size_t g = 0; g < groups.size(); ++g) {
    try {
      Materialize(lowered[g], sent[g].get());
    } catch (...) {
      if (failure == nullptr) failure = std::current_exception();
    }
  }
  if (failure != nullptr) std::rethrow_exception(failure);
}

}  // namespace ferry
