#ifndef FERRY_KERNELS_EXECUTOR_H_
#define FERRY_KERNELS_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/graph.h"
#include "core/validate.h"
#include "kernels/backend.h"

namespace ferry::kernels {

// A validated graph ready to run, with what the executor worked out once for it.
struct Plan {
  std::string graph_id;  // core::GraphFingerprint
  core::Graph graph;
  std::vector<core::TensorType> parameter_types;
  // For each node, the index of the last node that reads it (outputs: nodes.size()), so
  // intermediates are freed as soon as they are dead.
  std::vector<int32_t> last_use;
  // What runs, in order, with fused elementwise groups where the backend takes them, and
  // the values each step frees (see kernels/fusion.h).
  std::vector<Step> steps;
};

// What one run reports (Executor::Run's `stats`).
struct RunStats {
  // In: time each step (a profiled execute). On a queued backend (CUDA) each step is waited
  // for before the next starts, so its time is its own and the run is slower.
  bool time_steps = false;

  // Out: the most memory the run took from the backend at once: intermediates and outputs
  // (a freed intermediate's buffer is reused by the run, so this is what it allocated, less
  // what it gave back when memory ran short).
  int64_t peak_bytes = 0;

  // Out, with time_steps: one per step run (a kernel, a fused group, a collective, a
  // constant copied to the device; not parameters or views), in order.
  struct StepTime {
    size_t step = 0;       // index into Plan::steps
    int64_t start_ns = 0;  // since the run's first step began
    int64_t duration_ns = 0;
  };
  std::vector<StepTime> step_times;
};

// Asked between a run's kernels (at most about once a millisecond): a non-OK status stops
// the run there, CANCELLED, with this status's message (why: "the client went away").
// Kernels already launched finish; nothing more is started.
using CancelCheck = std::function<absl::Status()>;

// Runs graphs on one backend: validate -> plan -> launch. Plans are cached by fingerprint
// (LRU, `plan_cache_capacity` entries), shared by every caller. Thread-safe.
class Executor {
 public:
  explicit Executor(Backend& backend, size_t plan_cache_capacity = 1024,
                    core::GraphLimits limits = {});

  Backend& backend() { return backend_; }

  // Validates `graph` (INVALID_ARGUMENT naming the node) and returns its plan, from the
  // cache when the same structure was prepared before.
  absl::StatusOr<std::shared_ptr<const Plan>> Prepare(core::Graph graph);

  // The cached plan with this id, or nullptr.
  std::shared_ptr<const Plan> FindPlan(const std::string& graph_id);

  size_t cached_plans();

  // Whether plans prepared from now on fuse elementwise chains (when the backend supports
  // it; on by default). Plans already cached keep theirs. For tests and benchmarks that
  // compare against the unfused steps.
  void set_fusion(bool enabled) { fusion_.store(enabled); }

  // How long one Prepare may spend compiling its fused groups (Backend::CompileFused: NVRTC
  // takes tens of ms a group unless its kernel cache has it); the groups left when it is
  // spent run op by op, so that no graph holds up its first run for minutes. 10 s unless set.
  void set_fused_compile_budget(absl::Duration budget) {
    fused_compile_budget_ns_.store(absl::ToInt64Nanoseconds(budget));
  }

  // Runs `plan` with its parameters bound to `parameters` (by index; types must match the
  // graph's parameter nodes, else INVALID_ARGUMENT naming the parameter). Returns the
  // outputs in order. RESOURCE_EXHAUSTED when memory runs out; CANCELLED naming the first
  // node not run once `cancelled` (when set) says so. `stats` (when given) asks for step
  // times and gets the run's figures, whether it succeeded or not.
  absl::StatusOr<std::vector<Tensor>> Run(const Plan& plan, std::vector<Tensor> parameters,
                                          const CancelCheck& cancelled = nullptr,
                                          RunStats* stats = nullptr);

  // Runs stopped by their CancelCheck, since start.
  int64_t runs_cancelled() const { return runs_cancelled_.load(); }

  // How long the executor has been running graphs without finishing a node: zero when
  // idle or progressing, or when every run in flight is in a collective (waiting for its
  // peers, at most its group's timeout). A watchdog pings only while this stays below its interval.
  absl::Duration StalledFor() const;

 private:
  Backend& backend_;
  const size_t capacity_;
  const core::GraphLimits limits_;
  std::atomic<bool> fusion_{true};
  std::atomic<int64_t> fused_compile_budget_ns_{int64_t{10} * 1000 * 1000 * 1000};
  std::atomic<int> runs_in_flight_{0};
  std::atomic<int> runs_in_collectives_{0};
  std::atomic<int64_t> last_progress_ns_{0};
  std::atomic<int64_t> runs_cancelled_{0};
  absl::Mutex mu_;
  std::list<std::shared_ptr<const Plan>> lru_ ABSL_GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string, std::list<std::shared_ptr<const Plan>>::iterator> plans_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_EXECUTOR_H_
