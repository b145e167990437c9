#ifndef FERRY_SERVER_PIPELINE_H_
#define FERRY_SERVER_PIPELINE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kernels/executor.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/graph_cache.h"
#include "server/peer_links.h"
#include "server/server_options.h"
#include "server/session_manager.h"

namespace ferry::server {

// Steps the daemon queues per Pipeline stream before it stops reading (and gRPC's flow
// control makes the client wait); reported to clients as Limits.pipeline_window.
inline constexpr int64_t kPipelineWindow = 256;

// The steps of one Pipeline stream, run in order against one session. Not thread-safe:
// one stream's steps run on one thread.
//
// A failed step's output handles are remembered with its failure; a later step that reads
// one fails with that same failure (the original step id, op and error), and its own
// outputs inherit it. Handles of failed steps count as taken until released. The first
// failure of a step that did not ask for an answer is kept and handed out, once, with the
// answer to the next sync or read.
class PipelineSteps {
 public:
  // Asked when an execute names a graph this daemon does not hold: sends the client
  // graph_missing for `graph_id` (answering step `step_id`) and returns the graph the client
  // answers with, or nullopt when the stream ended first.
  using GraphFetcher =
      std::function<std::optional<v1::Graph>(const std::string& graph_id, uint64_t step_id)>;

  // Executes stop (CANCELLED) once `cancelled` says so: the client went away. `peers`: how
  // uploads from other daemons are fetched (null: they are refused).
  PipelineSteps(SessionManager& sessions, kernels::Executor& executor, GraphCache& graphs,
                const ServerOptions& options, PeerLinks* peers, std::string session_id,
                kernels::CancelCheck cancelled = nullptr)
      : sessions_(sessions),
        executor_(executor),
        graphs_(graphs),
        options_(options),
        peers_(peers),
        session_id_(std::move(session_id)),
        cancelled_(std::move(cancelled)) {}

  // Runs `step` and returns the answer to send, if it gets one (syncs, reads, and steps
  // with want_reply). `queued`: how long it waited behind earlier steps (a profiled
  // execute reports it).
  std::optional<v1::PipelineResponse> Run(const v1::PipelineRequest& step,
                                          const GraphFetcher& fetch_graph,
                                          absl::Duration queued = absl::ZeroDuration());

 private:
  // Each returns the step's failure, or nullopt when it succeeded.
  std::optional<v1::StepFailure> Upload(const v1::PipelineRequest& step);
  // An upload step's tensor: from its own bytes, or from the session's bulk channel.
  absl::StatusOr<kernels::Tensor> FromStep(const v1::PipelineUpload& upload);
  absl::StatusOr<kernels::Tensor> FromBulkChannel(Session& session,
                                                  const v1::PipelineUpload& upload);
  // From the offer on another daemon that upload.peer_source names.
  absl::StatusOr<kernels::Tensor> FromPeer(const v1::PipelineUpload& upload);
  // Resolves the session's offer under the step's ticket with its buffer (or the failure of
  // the step that was to compute it).
  std::optional<v1::StepFailure> Offer(const v1::PipelineRequest& step);
  std::optional<v1::StepFailure> Execute(const v1::PipelineRequest& step,
                                         const GraphFetcher& fetch_graph, absl::Duration queued,
                                         v1::PipelineResponse* reply);
  std::optional<v1::StepFailure> Read(const v1::PipelineRequest& step, v1::PipelineResponse* reply);
  void Release(const google::protobuf::RepeatedField<uint64_t>& buffer_ids);
  // A new failure of `step`.
  static v1::StepFailure Fail(const v1::PipelineRequest& step, const absl::Status& status);
  // OK when `buffer_id` may name a new buffer (not held by a failed step either).
  absl::Status CheckNewHandle(const Session& session, uint64_t buffer_id) const;

  SessionManager& sessions_;
  kernels::Executor& executor_;
  GraphCache& graphs_;
  const ServerOptions& options_;
  PeerLinks* const peers_;
  const std::string session_id_;
  const kernels::CancelCheck cancelled_;
  uint64_t last_step_ = 0;
  absl::flat_hash_map<uint64_t, v1::StepFailure> failed_handles_;
  std::optional<v1::StepFailure> first_failure_;
};

// What a stream's reader thread hands its step thread: the steps in order (at most
// kPipelineWindow waiting, unless the step thread waits for a graph) and, apart, the graphs
// the client sends when asked. Thread-safe.
class PipelineInbox {
 public:
  explicit PipelineInbox(size_t window) : window_(window) {}

  // A step as NextStep hands it out, with when it was queued.
  struct Queued {
    v1::PipelineRequest step;
    absl::Time arrived;
  };

  // Queues a message; blocks while the window is full. False once Shutdown was called.
  bool Push(v1::PipelineRequest message);
  // Queues a message past the window: the reader, while a step it runs waits for a graph.
  bool PushNow(v1::PipelineRequest message);
  // Whether the reader may run `message` itself, now: a step, with none queued or running,
  // and not draining. Saves the hand-off to the step thread (a wake-up that, on a busy
  // machine, waits for a time slice) when the stream is idle, as a unary call has none.
  // When true the caller runs it and calls Finished.
  bool ClaimIdle(const v1::PipelineRequest& message);
  // The next step, or nullopt once the reader is Done and the queue is empty, or Shutdown.
  // Waits while the reader runs a step; the caller runs it and calls Finished.
  std::optional<Queued> NextStep();
  // The step claimed by ClaimIdle or NextStep has run and its answer is written.
  void Finished();
  // The next graph the client sent; nullopt once the reader is Done or Shutdown. Steps may
  // queue past the window meanwhile, so the client can always get the graph through.
  std::optional<v1::Graph> AwaitGraph();
  void Done();      // the reader saw the end of the stream
  void Shutdown();  // the step thread stops: wakes and refuses everyone
  // The daemon is draining: NextStep ends once the steps already queued have run.
  void Drain();
  bool draining();

 private:
  const size_t window_;
  absl::Mutex mu_;
  std::deque<Queued> steps_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::Graph> graphs_ ABSL_GUARDED_BY(mu_);
  bool awaiting_graph_ ABSL_GUARDED_BY(mu_) = false;
  bool running_ ABSL_GUARDED_BY(mu_) = false;  // a step is being run (and answered)
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_PIPELINE_H_
