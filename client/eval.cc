// eval: the lazy arrays reachable from the targets become one core::Graph per device.
// Materialized arrays enter it as parameters bound to their buffers; the targets are its
// outputs and become materialized themselves.

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <utility>
#include <vector>

#include "client/array.h"
#include "client/array_node.h"
#include "client/lower.h"
#include "client/profile_log.h"

namespace ferry {
namespace {

using detail::ArrayNode;
using detail::Buffer;

// The graph of `targets` on `device`, sent: the buffers its outputs will hold (an unpipelined
// execute returns once they are computed). `record`: a Profiler's, or null.
std::vector<std::shared_ptr<Buffer>> ExecuteOnDevice(
    const Device& device, detail::LoweredGraph& lowered,
    const std::shared_ptr<detail::EvalRecord>& record) {
  auto execute = [&]() -> std::vector<std::shared_ptr<Buffer>> {
    if (!lowered.available.empty()) device.impl().MakeResident(lowered.available);
    if (lowered.outputs.empty()) return {};
    return device.impl().Execute(std::move(lowered.graph), lowered.parameters, lowered.hints);
  };
  if (record == nullptr) return execute();
  detail::CurrentEvalScope current(record);
  try {
    return execute();
  } catch (const Error& error) {
    record->Failed(error);  // no answer will come
    throw;
  } catch (const std::exception& error) {
    record->Failed(error.what());
    throw;
  } catch (...) {
    record->Failed("an exception that is not a std::exception");
    throw;
  }
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

MemoryInfo memory_info(const Device& device) { return device.impl().Memory(false); }

void reset_peak_memory(const Device& device) { device.impl().Memory(true); }

void cancel(const Device& device) { device.impl().Cancel(); }

void eval(const std::vector<Array>& arrays) {
  std::vector<ArrayNode*> copying;
  for (const Array& array : arrays) {
    if (array.node()->needs_copy) copying.push_back(array.node().get());
  }
  if (!copying.empty()) detail::MaterializeCopies(copying);
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
  // A Profiler recording on this thread gets a record of each graph that will run.
  std::vector<std::shared_ptr<detail::EvalRecord>> records(groups.size());
  detail::ProfileLog* const profile = detail::RecordingLog();
  for (size_t g = 0; g < groups.size(); ++g) {
    const auto began = profile != nullptr ? std::chrono::steady_clock::now()
                                          : std::chrono::steady_clock::time_point();
    try {
      lowered.push_back(detail::Lower(groups[g].second));
    } catch (const std::exception& error) {
      for (const auto& record : records) {
        if (record != nullptr) record->Failed(error.what());  // never sent
      }
      throw;
    }
    if (profile != nullptr && !lowered[g].outputs.empty()) {
      records[g] = profile->Begin(groups[g].first.impl().description(), began,
                                  static_cast<int64_t>(lowered[g].graph->nodes.size()));
    }
  }
  // Ranks of a group wait for one another in a collective: a device whose execute returns
  // once computed would hold back the graphs after it, which its own may be waiting for.
  // All but the last such device send theirs from threads of their own.
  std::vector<size_t> waiting;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!groups[g].first.impl().ExecuteReturnsAtOnce()) waiting.push_back(g);
  }
  std::vector<std::future<std::vector<std::shared_ptr<Buffer>>>> sent(groups.size());
  for (size_t k = 0; k + 1 < waiting.size(); ++k) {
    const size_t g = waiting[k];
    sent[g] = std::async(std::launch::async, [&, g] {
      return ExecuteOnDevice(groups[g].first, lowered[g], records[g]);
    });
  }
  // The rest here: those that return at once first, then the one that waits.
  std::vector<size_t> here;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!sent[g].valid() && (waiting.empty() || g != waiting.back())) here.push_back(g);
  }
  if (!waiting.empty()) here.push_back(waiting.back());
  std::exception_ptr failure;
  auto materialize = [&](size_t g,
                         const std::function<std::vector<std::shared_ptr<Buffer>>()>& values) {
    try {
      Materialize(lowered[g], values());
    } catch (...) {
      if (failure == nullptr) failure = std::current_exception();
    }
  };
  for (size_t g : here)
    materialize(g, [&] { return ExecuteOnDevice(groups[g].first, lowered[g], records[g]); });
  for (size_t g = 0; g < groups.size(); ++g) {
    if (sent[g].valid()) materialize(g, [&] { return sent[g].get(); });
  }
  if (failure != nullptr) std::rethrow_exception(failure);
}

}  // namespace ferry
