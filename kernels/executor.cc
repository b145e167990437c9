#include "kernels/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/fingerprint.h"
#include "kernels/collectives.h"

namespace ferry::kernels {
namespace {

std::vector<int32_t> LastUses(const core::Graph& graph) {
  std::vector<int32_t> last_use(graph.nodes.size(), -1);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    for (int32_t input : graph.nodes[i].inputs) last_use[input] = static_cast<int32_t>(i);
  }
  for (int32_t output : graph.outputs) {
    last_use[output] = static_cast<int32_t>(graph.nodes.size());
  }
  return last_use;
}

// Compiles the fused steps' groups (Backend::CompileFused) until `deadline`: the first
// alone, and, when that took a compiler's time (NVRTC: tens of ms; the CPU's is a lookup),
// the rest on up to 8 threads, as a plan's groups are independent.
void CompileFusedSteps(const Backend& backend, std::vector<Step>& steps, absl::Time deadline) {
  std::vector<Step*> fused;
  for (Step& step : steps) {
    if (step.fused) fused.push_back(&step);
  }
  if (fused.empty() || absl::Now() >= deadline) return;
  const absl::Time start = absl::Now();
  fused[0]->expr.compiled = backend.CompileFused(fused[0]->expr);
  const bool slow = absl::Now() - start > absl::Milliseconds(2);
  std::atomic<size_t> next{1};
  auto compile_rest = [&] {
    for (size_t i; (i = next.fetch_add(1)) < fused.size() && absl::Now() < deadline;) {
      fused[i]->expr.compiled = backend.CompileFused(fused[i]->expr);
    }
  };
  const size_t threads =
      slow ? std::min<size_t>(
                 {8, std::max(1u, std::thread::hardware_concurrency()), fused.size() - 1})
           : 1;
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(compile_rest);
  compile_rest();
  for (std::thread& helper : helpers) helper.join();
}

}  // namespace

Executor::Executor(Backend& backend, size_t plan_cache_capacity, core::GraphLimits limits)
    : backend_(backend),
      capacity_(plan_cache_capacity == 0 ? 1 : plan_cache_capacity),
      limits_(limits) {}

absl::Duration Executor::StalledFor() const {
  const int in_flight = runs_in_flight_.load();
  // A collective waiting for its peers is bounded by its group's timeout, not stalled.
  if (in_flight == 0 || in_flight <= runs_in_collectives_.load()) return absl::ZeroDuration();
  return absl::Now() - absl::FromUnixNanos(last_progress_ns_.load());
}

absl::StatusOr<std::shared_ptr<const Plan>> Executor::Prepare(core::Graph graph) {
  std::string graph_id = core::GraphFingerprint(graph);
  if (std::shared_ptr<const Plan> cached = FindPlan(graph_id)) return cached;

  absl::Status valid = core::ValidateGraph(graph, limits_);
  if (!valid.ok()) return valid;
  auto plan = std::make_shared<Plan>();
  plan->graph_id = std::move(graph_id);
  plan->parameter_types = graph.ParameterTypes();
  plan->last_use = LastUses(graph);
  plan->steps = PlanSteps(graph, fusion_.load() && backend_.SupportsFusion());
  // Groups left when the compile budget is spent run op by op (set_fused_compile_budget).
  CompileFusedSteps(backend_, plan->steps,
                    absl::Now() + absl::Nanoseconds(fused_compile_budget_ns_.load()));
  plan->graph = std::move(graph);

  absl::MutexLock lock(&mu_);
  auto it = plans_.find(plan->graph_id);
  if (it != plans_.end()) return *it->second;  // prepared meanwhile by another caller
  lru_.push_front(plan);
  plans_[plan->graph_id] = lru_.begin();
  while (lru_.size() > capacity_) {
    plans_.erase(lru_.back()->graph_id);
    lru_.pop_back();
  }
  return std::shared_ptr<const Plan>(plan);
}

std::shared_ptr<const Plan> Executor::FindPlan(const std::string& graph_id) {
  absl::MutexLock lock(&mu_);
  auto it = plans_.find(graph_id);
  if (it == plans_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return *it->second;
}

size_t Executor::cached_plans() {
  absl::MutexLock lock(&mu_);
  return lru_.size();
}

absl::StatusOr<std::vector<Tensor>> Executor::Run(const Plan& plan, std::vector<Tensor> parameters,
                                                  const CancelCheck& cancelled, RunStats* stats) {
  const core::Graph& graph = plan.graph;
  if (parameters.size() != plan.parameter_types.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the graph has ", plan.parameter_types.size(),
                                                   " parameters but ", parameters.size(),
                                                   " were bound"));
  }
  for (size_t i = 0; i < parameters.size(); ++i) {
    if (parameters[i].type != plan.parameter_types[i]) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter ", i, ": bound to ", core::TypeToString(parameters[i].type),
                       " but the graph declares ", core::TypeToString(plan.parameter_types[i])));
    }
  }

  // Counts this run in flight until it returns, for StalledFor().
  struct InFlight {
    Executor& executor;
    explicit InFlight(Executor& e) : executor(e) {
      executor.last_progress_ns_.store(absl::GetCurrentTimeNanos());
      ++executor.runs_in_flight_;
    }
    ~InFlight() { --executor.runs_in_flight_; }
  } in_flight(*this);

  std::vector<Tensor> values(graph.nodes.size());
  // Buffers freed during this run, by byte size, for later steps to reuse: a chain of
  // same-size intermediates keeps cycling through two or three buffers.
  std::unordered_multimap<size_t, std::shared_ptr<Storage>> free_buffers;
  int64_t allocated = 0, most_allocated = 0;  // bytes this run took from the backend
  struct ReportPeak {                         // on every return
    RunStats* out;
    const int64_t& most;
    ~ReportPeak() {
      if (out != nullptr) out->peak_bytes = most;
    }
  } report_peak{stats, most_allocated};
  const bool time_steps = stats != nullptr && stats->time_steps;
  if (stats != nullptr) stats->step_times.clear();
  const auto run_start =
      time_steps ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  auto since_start_ns = [&run_start] {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                run_start)
        .count();
  };
  // With time_steps: waits for the step at plan.steps[index] (node `i`) and records its time.
  auto end_step = [&](size_t index, int32_t i, const core::Node& node, int64_t start_ns) {
    if (absl::Status synced = backend_.Synchronize(); !synced.ok()) {
      return absl::Status(synced.code(),
                          absl::StrCat("node ", i, " (", plan.steps[index].fused ? "fused " : "",
                                       node.op, "): ", synced.message()));
    }
    stats->step_times.push_back({index, start_ns, since_start_ns() - start_ns});
    return absl::OkStatus();
  };
  auto release = [&](int32_t index) {
    Tensor value = std::move(values[index]);
    values[index] = Tensor();
    if (value.storage != nullptr && value.storage.use_count() == 1) {
      const size_t size = value.storage->size();
      free_buffers.emplace(size, std::move(value.storage));
    }
  };
  auto allocate = [&](const core::TensorType& type) -> absl::StatusOr<Tensor> {
    const size_t bytes =
        static_cast<size_t>(core::NumElements(type.shape)) * core::SizeOf(type.dtype);
    auto it = free_buffers.find(bytes);
    if (it != free_buffers.end()) {
      Tensor tensor{type, std::move(it->second), 0};
      free_buffers.erase(it);
      return tensor;
    }
    absl::StatusOr<Tensor> tensor = backend_.Allocate(type);
    if (!tensor.ok() && absl::IsResourceExhausted(tensor.status()) && !free_buffers.empty()) {
      for (const auto& [size, unused] : free_buffers) allocated -= static_cast<int64_t>(size);
      free_buffers.clear();  // kept buffers of other sizes may be what is missing
      tensor = backend_.Allocate(type);
    }
    if (tensor.ok()) {
      allocated += static_cast<int64_t>(bytes);
      most_allocated = std::max(most_allocated, allocated);
    }
    return tensor;
  };

  // When `cancelled` is next asked, on the clock read as the last kernel ended (for
  // StalledFor): the question may not be cheap (a gRPC context takes a lock).
  constexpr int64_t kCancelCheckNs = 1000 * 1000;
  int64_t clock_ns = absl::GetCurrentTimeNanos();
  int64_t next_cancel_check_ns = 0;
  std::vector<Tensor> inputs;
  for (size_t step_index = 0; step_index < plan.steps.size(); ++step_index) {
    const Step& step = plan.steps[step_index];
    const int32_t i = step.node;
    const int64_t step_start_ns = time_steps ? since_start_ns() : 0;
    const core::Node& node = step.rewritten != nullptr ? *step.rewritten : graph.nodes[i];
    // A collective always asks: it may wait for its peers, and a rank whose caller is gone
    // must not enter one its client will not see through.
    if (cancelled != nullptr &&
        ((step.kind == StepKind::kKernel && clock_ns >= next_cancel_check_ns) ||
         step.kind == StepKind::kCollective)) {
      next_cancel_check_ns = clock_ns + kCancelCheckNs;
      if (absl::Status go_on = cancelled(); !go_on.ok()) {
        ++runs_cancelled_;
        return absl::CancelledError(
            absl::StrCat("node ", i, " (", node.op, ") and later not run: ", go_on.message()));
      }
    }
    if (step.kind == StepKind::kParameter) {
      // Moved: a buffer the session no longer holds (donated) is then this run's alone, and
      // a step may write over it in place.
      values[i] = std::move(parameters[step.parameter]);
    } else if (step.kind == StepKind::kConstant) {
      absl::StatusOr<Tensor> constant =
          TensorFromHost(backend_, std::get<core::HostTensor>(node.attrs.values().at("value")));
      if (!constant.ok()) return constant.status();
      values[i] = *std::move(constant);
      if (time_steps) {
        if (absl::Status timed = end_step(step_index, i, node, step_start_ns); !timed.ok()) {
          return timed;
        }
      }
    } else if (step.kind == StepKind::kView) {
      // Same bytes, new type: a view, no copy.
      values[i] = values[node.inputs[0]];
      values[i].type = node.out;
    } else {
      inputs.clear();
      for (int32_t input : step.fused ? step.inputs : node.inputs) inputs.push_back(values[input]);
      absl::StatusOr<Tensor> out = absl::UnknownError("unset");
      // An elementwise step may write over a dying input of its own shape and size (in
      // place), and a scatter over its first input: nothing but this step holds its buffer
      // (values and inputs: two owners).
      const size_t out_bytes =
          static_cast<size_t>(core::NumElements(node.out.shape)) * core::SizeOf(node.out.dtype);
      for (int32_t dead : step.release) {
        const Tensor& value = values[dead];
        const bool may_overwrite =
            step.elementwise || (step.rewrites_first_input && dead == node.inputs[0] &&
                                 value.type.dtype == node.out.dtype);
        if (may_overwrite && !out.ok() && value.storage != nullptr && value.offset == 0 &&
            value.type.shape == node.out.shape && value.storage.use_count() == 2 &&
            value.storage->size() == out_bytes) {
          out = Tensor{node.out, value.storage, 0};
        }
      }
      if (!out.ok() && step.gives_input) out = inputs[0];
      if (!out.ok()) out = allocate(node.out);
      if (!out.ok()) {
        return absl::Status(out.status().code(),
                            absl::StrCat("node ", i, " (", node.op, "): ", out.status().message()));
      }
      absl::Status ran;
      if (step.kind == StepKind::kCollective) {
        ++runs_in_collectives_;
        ran = RunCollective(backend_, node, inputs, *out);
        --runs_in_collectives_;
      } else {
        ran = step.fused ? backend_.RunFused(step.expr, inputs, *out)
                         : backend_.Run(node, inputs, *out);
      }
      if (!ran.ok()) {
        return absl::Status(ran.code(), absl::StrCat("node ", i, " (", step.fused ? "fused " : "",
                                                     node.op, "): ", ran.message()));
      }
      values[i] = *std::move(out);
      if (time_steps) {
        if (absl::Status timed = end_step(step_index, i, node, step_start_ns); !timed.ok()) {
          return timed;
        }
      }
      clock_ns = absl::GetCurrentTimeNanos();
      last_progress_ns_.store(clock_ns);
    }
    inputs.clear();
    for (int32_t dead : step.release) release(dead);
  }

  std::vector<Tensor> outputs;
  outputs.reserve(graph.outputs.size());
  for (int32_t output : graph.outputs) outputs.push_back(values[output]);
  absl::Status synced = backend_.Synchronize();
  if (!synced.ok()) return synced;
  return outputs;
}

}  // namespace ferry::kernels
