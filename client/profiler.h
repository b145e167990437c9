#ifndef FERRY_CLIENT_PROFILER_H_
#define FERRY_CLIENT_PROFILER_H_

// Where an eval's time goes: building its graph here, the network, the daemon's queue,
// preparing the plan, each kernel (torch.profiler's role; MLX has none for remote devices).
//
//   ferry::Profiler profiler;          // records this thread's evals from now on
//   for (int i = 0; i < 10; ++i) step(); // evals, to_vector, async_eval...
//   profiler.stop();                   // waits for their answers
//   std::cout << profiler.table();     // device time by op, and each phase's mean
//   profiler.save_chrome_trace("trace.json");  // chrome://tracing or ui.perfetto.dev

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ferry {

namespace detail {
class ProfileLog;
}  // namespace detail

// One kernel, fused group or constant copied to the device, in a profiled eval.
struct ProfiledStep {
  int node = -1;                       // the graph node it computed
  std::string op;                      // "matmul"; "fused" for a fused group
  std::vector<std::string> fused_ops;  // a fused group's ops, in graph order
  std::string type;                    // its result, as "float32(256, 512)"
  double start_us = 0;                 // since its eval's run began
  double duration_us = 0;

  // op, or a fused group's "fused(add, mul, exp)".
  std::string name() const;
};

// One graph one device computed for an eval (eval, async_eval, to_vector, item...). Times
// are on this process's clock, in microseconds since the profiler started.
struct ProfiledEval {
  std::string device;       // its description ("ferryd at host:port", "local cpu")
  int64_t nodes = 0;        // in the graph lowered for it
  bool graph_sent = false;  // the graph travelled whole, not only its fingerprint
  double begin_us = 0;      // eval() began lowering it
  double lowered_us = 0;    // lowered to a graph
  double sent_us = 0;       // handed on: fingerprinted, its inputs uploaded, serialized
  double answered_us = -1;  // its answer arrived (pipelined: after eval() returned); -1: none
  std::string error;        // why it failed, when it did

  // The device's own account (false: a daemon without feature "profile", or a failure).
  bool profiled_by_device = false;
  std::string backend;       // "cpu", "cuda"
  bool plan_cached = false;  // named by fingerprint, its plan prepared by an earlier eval
  double queued_us = 0;      // behind the stream's earlier steps
  double prepare_us = 0;     // finding, or validating and planning, the graph
  double bind_us = 0;        // binding its inputs
  double run_us = 0;         // running its steps (each waited for, on a queued device)
  double outputs_us = 0;     // keeping its results, copying small ones into the answer
  int64_t peak_bytes = 0;    // the most the run took from the device at once
  std::vector<ProfiledStep> steps;

  // queued + prepare + bind + run + outputs.
  double device_us() const;
  // What the answer's wait did not spend on the device: both ways on the network,
  // serializing, threads' wake-ups (0 when unknown).
  double transport_us() const;
};

// One array's bytes sent to or read from a daemon outside an eval's own messages: a large
// from_host or load (upload), a large to_vector, item or copy_to (download).
struct ProfiledTransfer {
  std::string device;
  bool upload = true;  // else a download
  int64_t bytes = 0;
  // How the bytes went: "bulk channel", "shared memory", "host buffer" (shared memory the
  // caller's bytes were already in: HostBuffer), "grpc", "upload cache" (the daemon had
  // them: none crossed), or "failed".
  std::string route;
  double begin_us = 0;  // this process's clock, since the profiler started
  double end_us = 0;

  double gigabytes_per_second() const;
};

struct ProfilerOptions {
  // Time each kernel (or fused group) on the device. On CUDA each is then waited for before
  // the next starts; false: the device reports only its phases (queued, prepare, bind, run,
  // outputs) and runs as unprofiled, for figures a GPU's overlapping work leaves intact.
  bool device_steps = true;
};

// Records the evals this thread makes while it is recording (from construction to stop()),
// on every device, and its transfers of large arrays to and from daemons; each graph asks its
// device to time its phases and steps. On CUDA each step is then waited for before the next starts,
// so the steps' times are their own, as CUDA_LAUNCH_BLOCKING would make them. Profilers nest: the
// innermost records. Not copyable; use it from the thread that made it.
class Profiler {
 public:
  explicit Profiler(ProfilerOptions options = {});
  ~Profiler();
  Profiler(const Profiler&) = delete;
  Profiler& operator=(const Profiler&) = delete;

  // Stops recording and waits for the answers of the evals recorded (pipelined evals are
  // answered after eval() returns). The accessors below stop first.
  void stop();

  std::vector<ProfiledEval> evals();
  std::vector<ProfiledTransfer> transfers();

  // A summary, as torch.profiler's key_averages().table(): the evals, each phase's mean,
  // the transfers each way, then the device time of each op (fused groups by their ops), most
  // first, at most `max_rows` of them.
  std::string table(size_t max_rows = 20);

  // The evals in Chrome's trace format (chrome://tracing, ui.perfetto.dev): the client's
  // lowering, sending and transfers on its thread, each eval in flight, and each device's phases
  // and steps on a track of its own, placed on this clock half the transport time after the eval
  // was sent.
  std::string chrome_trace();
  // Writes chrome_trace() to `path`; throws ferry::Error when it cannot.
  void save_chrome_trace(const std::string& path);

 private:
  std::shared_ptr<detail::ProfileLog> log_;
  std::shared_ptr<detail::ProfileLog> previous_;  // recording on this thread before this one
  bool recording_ = true;
  std::vector<ProfiledEval> evals_;  // once stopped
  std::vector<ProfiledTransfer> transfers_;
};

}  // namespace ferry

#endif  // FERRY_CLIENT_PROFILER_H_
