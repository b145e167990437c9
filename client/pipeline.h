#ifndef FERRY_CLIENT_PIPELINE_H_
#define FERRY_CLIENT_PIPELINE_H_

// Internal to the client library: a session's Pipeline stream (proto/ferry/v1/ferry.proto),
// on which steps go out without waiting for each other.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/error.h"
#include "client/known_graphs.h"
#include "core/graph.h"
#include "grpcpp/grpcpp.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"

namespace ferry::detail {

// The daemon's answer to one step, once it arrives; get() throws Error if the stream broke.
using StepReply = std::shared_future<v1::PipelineResponse>;

// A failure as the Error the user sees: the daemon's code and message, naming the step.
Error StepError(const v1::StepFailure& failure);

// One Pipeline stream. Steps are numbered and written in order; a reader thread takes the
// daemon's answers, fulfils the replies waited for, and sends graphs the daemon asks for.
// At most `window` steps are unacknowledged: past that, Send first syncs. Failures the
// daemon reports are kept (the earliest step first) until raised by TakeFailureBefore.
// When the connection breaks (UNAVAILABLE: reset, or silent past the keepalive) the steps
// not answered fail, and the next Send opens a new stream on the same session, which the
// daemon keeps for its lease: a Wi-Fi change or a laptop's sleep costs the eval in flight,
// not the arrays. Thread-safe.
class PipelineStream {
 public:
  // `prepare` adds the call's metadata (request id, bearer token) before the stream opens.
  // `requeue_releases` takes back the buffer ids released by steps a broken stream left
  // unanswered (they may not have run), to go again with a later step. `channel` (stub's)
  // is asked to connect at once before a new stream opens after a break.
  PipelineStream(v1::Ferry::Stub& stub, const std::string& session_id, int64_t window,
                 std::string address,
                 const std::function<void(grpc::ClientContext&)>& prepare = nullptr,
                 std::function<void(std::vector<uint64_t>)> requeue_releases = nullptr,
                 std::shared_ptr<grpc::Channel> channel = nullptr);
  // Ends the stream and waits for the daemon to run the steps already sent.
  ~PipelineStream();
  PipelineStream(const PipelineStream&) = delete;
  PipelineStream& operator=(const PipelineStream&) = delete;

  // Sends `step`, numbering it; returns its number and, for steps that are answered (syncs,
  // reads, want_reply), the answer to come. An execute naming its graph by id passes the
  // graph, kept until the step is done in case the daemon asks for it. `on_answer` (for an
  // answered step) is called on the reader thread as the answer arrives, before anyone
  // gets it, or with null when the stream breaks first; it must not call into the stream.
  // Throws Error (UNAVAILABLE naming the daemon) once the stream is broken.
  using AnswerHook = std::function<void(const v1::PipelineResponse*)>;
  std::pair<uint64_t, std::optional<StepReply>> Send(
      v1::PipelineRequest step, std::shared_ptr<const core::Graph> graph = nullptr,
      AnswerHook on_answer = nullptr);

  // Waits for every step sent so far; throws the earliest failure not raised yet.
  void Sync();
  // Cuts the stream when steps are in flight (ferry::cancel): they fail with CANCELLED, the
  // daemon stops the one running, and the next Send opens a new stream. From any thread.
  void Cancel();
  // Whether every step sent so far is known to have run (no step could still read a
  // buffer released behind the stream's back).
  bool Idle();

  // The earliest failure reported for a step before `step_id` that was not raised yet, now
  // counted as raised; nullopt if none. Call it once the answer to `step_id` is in, so the
  // result does not depend on timing.
  std::optional<v1::StepFailure> TakeFailureBefore(uint64_t step_id);
  // Counts `failure` as raised (the caller throws it).
  void MarkRaised(const v1::StepFailure& failure);

  int64_t steps_sent() const { return steps_sent_.load(); }
  int64_t window_waits() const { return window_waits_.load(); }
  int64_t graphs_resent() const { return graphs_resent_.load(); }
  int64_t bytes_sent() const { return bytes_sent_.load(); }
  int64_t bytes_received() const { return bytes_received_.load(); }
  // New streams opened after a break.
  int64_t reconnects() const { return reconnects_.load(); }

 private:
  // One Pipeline call on the session and the thread reading its answers.
  struct Call {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReaderWriter<v1::PipelineRequest, v1::PipelineResponse>> stream;
    std::thread reader;
  };
  // Opens call_ and starts its reader (`after_break`: PipelineStart.after_break). Caller
  // holds write_mu_; the previous call has ended.
  void Open(bool after_break = false);
  // After a break that a new stream may mend: opens one, the old steps settled. Caller
  // holds write_mu_ and not mu_.
  void Reopen();
  void ReadLoop(Call& call);
  // The call's status, once Read has stopped. Read stops at a reply that does not parse
  // too, and gRPC then holds the status behind the replies left unread: a Finish that has
  // not returned within kFinishPatience is cancelled, and unless the call's own status came
  // first, the call failed INTERNAL.
  grpc::Status FinishCall(Call& call);
  void Record(const v1::StepFailure& failure);  // caller holds mu_
  // Writes one message; false when the stream is broken.
  bool Write(const v1::PipelineRequest& message);
  [[noreturn]] void ThrowBroken();

  v1::Ferry::Stub& stub_;
  const std::string session_id_;
  const std::string address_;
  const int64_t window_;
  const std::function<void(grpc::ClientContext&)> prepare_;
  const std::function<void(std::vector<uint64_t>)> requeue_releases_;
  const std::shared_ptr<grpc::Channel> channel_;
  std::mutex call_mu_;          // guards call_ for Cancel, which does not wait for writers
  std::unique_ptr<Call> call_;  // replaced by Reopen, under write_mu_ and call_mu_
  bool cancelling_ = false;     // guarded by mu_: Cancel cut the current stream
  std::mutex write_mu_;         // one writer at a time; step numbers follow write order

  std::mutex mu_;
  std::condition_variable changed_;
  uint64_t next_step_ = 1;
  uint64_t completed_through_ = 0;
  std::map<uint64_t, std::promise<v1::PipelineResponse>> waiting_;
  std::map<uint64_t, AnswerHook> answer_hooks_;                    // by step, for steps in waiting_
  std::map<uint64_t, std::shared_ptr<const core::Graph>> graphs_;  // by step, until done
  std::map<uint64_t, std::vector<uint64_t>> releases_;             // by step, until done
  std::map<uint64_t, v1::StepFailure> unraised_;                   // by the failed step's id
  std::set<uint64_t> raised_;  // failed steps already thrown to the user
  bool broken_ = false;
  bool mendable_ = false;    // broken_ by the connection, not by the daemon's refusal
  bool lost_steps_ = false;  // broken_ with steps unanswered
  bool started_ = false;     // the daemon started the current stream
  grpc::Status end_;         // the stream's final status, once broken_
  grpc::Status goodbye_;     // why the daemon ended the stream, when it said so

  std::atomic<int64_t> steps_sent_{0};
  std::atomic<int64_t> window_waits_{0};
  std::atomic<int64_t> graphs_resent_{0};
  std::atomic<int64_t> bytes_sent_{0};
  std::atomic<int64_t> bytes_received_{0};
  std::atomic<int64_t> reconnects_{0};
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_PIPELINE_H_
