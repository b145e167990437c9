#include "client/pipeline.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/remote_session.h"
#include "client/status.h"
#include "core/codec.h"

namespace ferry::detail {
namespace {

// A stream that ended has its status at hand once Read stops; only one stopped at a reply
// that does not parse waits longer. (A status that comes later still wins over the cancel.)
constexpr std::chrono::milliseconds kFinishPatience{50};

}  // namespace

Error StepError(const v1::StepFailure& failure) {
  const absl::Status status =
      ReportedFailure(failure.code(), failure.message(),
                      absl::StrCat("ferryd (pipeline step ", failure.step_id(), ")"));
  return Error(static_cast<ErrorCode>(status.code()), std::string(status.message()));
}

PipelineStream::PipelineStream(v1::Ferry::Stub& stub, const std::string& session_id, int64_t window,
                               std::string address,
                               const std::function<void(grpc::ClientContext&)>& prepare,
                               std::function<void(std::vector<uint64_t>)> requeue_releases,
                               std::shared_ptr<grpc::Channel> channel)
    : stub_(stub),
      session_id_(session_id),
      address_(std::move(address)),
      window_(window > 0 ? window : 1),
      prepare_(prepare),
      requeue_releases_(std::move(requeue_releases)),
      channel_(std::move(channel)) {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  Open();
}

PipelineStream::~PipelineStream() {
  {
    std::lock_guard<std::mutex> lock(write_mu_);
    call_->stream->WritesDone();
  }
  call_->reader.join();
}

void PipelineStream::Open(bool after_break) {
  {
    // A new call starts whole: nothing of the previous one's end carries over.
    std::lock_guard<std::mutex> lock(mu_);
    started_ = false;
    broken_ = false;
    mendable_ = false;
    cancelling_ = false;
    lost_steps_ = false;
    end_ = grpc::Status::OK;
    goodbye_ = grpc::Status::OK;
  }
  auto call = std::make_unique<Call>();
  if (prepare_) prepare_(call->context);
  call->stream = stub_.Pipeline(&call->context);
  {
    std::lock_guard<std::mutex> lock(call_mu_);
    call_ = std::move(call);
  }
  v1::PipelineRequest start;
  start.mutable_start()->set_session_id(session_id_);
  start.mutable_start()->set_after_break(after_break);
  // Not waited for: the daemon's limits came with the session, and a refusal ends the
  // stream, which the next Send reports.
  Write(start);
  Call& current = *call_;
  call_->reader = std::thread([this, &current] { ReadLoop(current); });
}

void PipelineStream::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (broken_ || next_step_ - 1 == completed_through_) return;  // nothing in flight
    cancelling_ = true;
  }
  std::lock_guard<std::mutex> lock(call_mu_);
  call_->context.TryCancel();
}

void PipelineStream::Reopen() {
  call_->reader.join();  // it has ended: it set broken_
  std::vector<uint64_t> unreleased;
  bool after_break = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    after_break = lost_steps_;
    // The old stream's steps were failed when it broke; whatever of them ran is settled.
    completed_through_ = next_step_ - 1;
    graphs_.clear();
    for (auto& [step, ids] : releases_) unreleased.insert(unreleased.end(), ids.begin(), ids.end());
    releases_.clear();
  }
  ++reconnects_;
  // Releasing a buffer twice is harmless, and ids are never reused.
  if (!unreleased.empty() && requeue_releases_) requeue_releases_(std::move(unreleased));
  // Just after a break the channel may still hand a new stream the dying connection, or be
  // backing off after reconnects that failed (a partition): so each attempt asks it to
  // connect now, and waits for the daemon to start the stream; up to three attempts.
  for (int attempt = 1;; ++attempt) {
    if (channel_ != nullptr) {
      grpc::experimental::ChannelResetConnectionBackoff(channel_.get());
      channel_->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
    Open(after_break);
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait_for(lock, std::chrono::seconds(10), [&] { return started_ || broken_; });
    if (!broken_ || !mendable_ || attempt == 3) return;
    lock.unlock();
    call_->reader.join();
  }
}

bool PipelineStream::Write(const v1::PipelineRequest& message) {
  bytes_sent_ += static_cast<int64_t>(message.ByteSizeLong());
  return call_->stream->Write(message);
}

void PipelineStream::ThrowBroken() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return broken_; });
  const auto code = static_cast<ErrorCode>(end_.error_code());
  if (code == ErrorCode::kUnavailable || code == ErrorCode::kOk) {
    throw Error(ErrorCode::kUnavailable,
                absl::StrCat("ferryd at ", address_, " is unavailable: ", end_.error_message()));
  }
  throw ToError(end_, address_);
}

std::pair<uint64_t, std::optional<StepReply>> PipelineStream::Send(
    v1::PipelineRequest step, std::shared_ptr<const core::Graph> graph, AnswerHook on_answer) {
  // Backpressure: past the window, wait for the daemon to catch up before adding more.
  bool full = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    full = next_step_ - 1 - completed_through_ >= static_cast<uint64_t>(window_);
  }
  if (full && !step.has_sync()) {
    v1::PipelineRequest sync;
    sync.mutable_sync();
    auto [id, reply] = Send(std::move(sync));
    ++window_waits_;
    reply->wait();
  }
  const bool answered = step.want_reply() || step.has_sync() || step.has_read();
  std::optional<StepReply> reply;
  uint64_t id = 0;
  std::lock_guard<std::mutex> write_lock(write_mu_);
  bool mend = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    mend = broken_ && mendable_;
  }
  if (mend) Reopen();  // once per Send: if the new stream breaks too, this Send throws
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (broken_) {
      lock.unlock();
      ThrowBroken();
    }
    id = next_step_++;
    step.set_step_id(id);
    if (answered) reply = waiting_[id].get_future().share();
    if (answered && on_answer != nullptr) answer_hooks_[id] = std::move(on_answer);
    if (graph != nullptr) graphs_[id] = std::move(graph);
    const auto& released =
        step.has_release() ? step.release().buffer_ids() : step.execute().release_buffer_ids();
    if (!released.empty()) releases_[id].assign(released.begin(), released.end());
  }
  ++steps_sent_;
  if (!Write(step)) {
    // The reader sees the stream end and records why.
    ThrowBroken();
  }
  return {id, std::move(reply)};
}

void PipelineStream::Sync() {
  v1::PipelineRequest sync;
  sync.mutable_sync();
  auto [id, reply] = Send(std::move(sync));
  reply->get();
  if (std::optional<v1::StepFailure> failure = TakeFailureBefore(id)) throw StepError(*failure);
}

bool PipelineStream::Idle() {
  std::lock_guard<std::mutex> lock(mu_);
  return next_step_ - 1 == completed_through_;
}

void PipelineStream::Record(const v1::StepFailure& failure) {
  if (raised_.count(failure.step_id()) == 0) unraised_.emplace(failure.step_id(), failure);
}

std::optional<v1::StepFailure> PipelineStream::TakeFailureBefore(uint64_t step_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (unraised_.empty() || unraised_.begin()->first >= step_id) return std::nullopt;
  v1::StepFailure failure = std::move(unraised_.begin()->second);
  unraised_.erase(unraised_.begin());
  raised_.insert(failure.step_id());
  return failure;
}

void PipelineStream::MarkRaised(const v1::StepFailure& failure) {
  std::lock_guard<std::mutex> lock(mu_);
  unraised_.erase(failure.step_id());
  raised_.insert(failure.step_id());
}

void PipelineStream::ReadLoop(Call& call) {
  v1::PipelineResponse response;
  while (call.stream->Read(&response)) {
    bytes_received_ += static_cast<int64_t>(response.ByteSizeLong());
    if (response.result_case() == v1::PipelineResponse::kGraphMissing) {
      // The daemon evicted (or never had) a graph sent by id: ship it; the step waits.
      std::shared_ptr<const core::Graph> graph;
      {
        std::lock_guard<std::mutex> lock(mu_);
        // Only a started stream has steps to ask about; before then Reopen holds write_mu_,
        // waiting for this loop to see the start.
        if (!started_) continue;
        auto it = graphs_.find(response.step_id());
        if (it != graphs_.end()) graph = it->second;
      }
      v1::PipelineRequest answer;
      if (graph != nullptr) core::GraphToProto(*graph, answer.mutable_graph());
      // An empty graph, if the client lost it, fails the step instead of stalling it.
      ++graphs_resent_;
      std::lock_guard<std::mutex> write_lock(write_mu_);
      Write(answer);
      continue;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (response.step_id() == 0 && response.has_failure()) {  // the daemon ends the stream
      const absl::Status said =
          ReportedFailure(response.failure().code(), response.failure().message(),
                          "ferryd (ending the pipeline stream)");
      goodbye_ =
          grpc::Status(static_cast<grpc::StatusCode>(said.code()), std::string(said.message()));
      continue;
    }
    if (response.has_failure()) Record(response.failure());
    if (response.has_first_failure()) Record(response.first_failure());
    // A daemon cannot have completed a step not yet sent; the window's arithmetic counts on it.
    const uint64_t completed = std::min(response.completed_through(), next_step_ - 1);
    if (completed > completed_through_) {
      completed_through_ = completed;
      graphs_.erase(graphs_.begin(), graphs_.upper_bound(completed_through_));
      releases_.erase(releases_.begin(), releases_.upper_bound(completed_through_));
    }
    if (response.has_started()) started_ = true;
    auto it = waiting_.find(response.step_id());
    if (it != waiting_.end() && !response.has_started()) {
      if (auto hook = answer_hooks_.find(response.step_id()); hook != answer_hooks_.end()) {
        hook->second(&response);
        answer_hooks_.erase(hook);
      }
      it->second.set_value(std::move(response));
      waiting_.erase(it);
    }
    response.Clear();
    changed_.notify_all();
  }
  grpc::Status end = FinishCall(call);
  if (!goodbye_.ok()) end = goodbye_;
  bool cancelled_here = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_here = cancelling_;
  }
  if (cancelled_here) {
    end = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by ferry::cancel");
  } else if (end.error_code() == grpc::StatusCode::CANCELLED) {
    // Only ferry::cancel cancels this client's stream: this cancel came from a daemon
    // going away.
    end =
        grpc::Status(grpc::StatusCode::UNAVAILABLE,
                     absl::StrCat("the pipeline stream was cancelled (", end.error_message(), ")"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  broken_ = true;
  lost_steps_ = next_step_ - 1 > completed_through_;
  // A connection that broke under the stream may be mended by a new one; a daemon that
  // said why it ended the stream (draining, a refused session) may not.
  mendable_ =
      cancelled_here || (end.error_code() == grpc::StatusCode::UNAVAILABLE && goodbye_.ok());
  end_ = end.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "the pipeline stream ended") : end;
  const auto code = static_cast<ErrorCode>(end_.error_code());
  std::string message =
      code == ErrorCode::kUnavailable
          ? absl::StrCat("ferryd at ", address_, " is unavailable: ", end_.error_message(),
                         mendable_ ? " (the steps in flight are lost; the next eval reconnects "
                                     "to the session, whose arrays the daemon keeps for its "
                                     "lease)"
                                   : "")
          : ToError(end_, address_).what();
  if (cancelled_here) {
    message = absl::StrCat("ferryd at ", address_,
                           ": cancelled by ferry::cancel before this step was answered");
  }
  for (auto& [id, hook] : answer_hooks_) hook(nullptr);
  answer_hooks_.clear();
  for (auto& [id, promise] : waiting_) {
    promise.set_exception(std::make_exception_ptr(Error(code, message)));
  }
  waiting_.clear();
  changed_.notify_all();
}

grpc::Status PipelineStream::FinishCall(Call& call) {
  std::mutex mu;
  std::condition_variable finished_cv;
  bool finished = false, stuck = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!finished_cv.wait_for(lock, kFinishPatience, [&] { return finished; })) {
      stuck = true;
      call.context.TryCancel();
    }
  });
  grpc::Status end = call.stream->Finish();
  {
    std::lock_guard<std::mutex> lock(mu);
    finished = true;
  }
  finished_cv.notify_all();
  watchdog.join();
  // A status that came before the cancel is the call's own.
  if (!stuck || end.error_code() != grpc::StatusCode::CANCELLED) return end;
  return grpc::Status(
      grpc::StatusCode::INTERNAL,
      absl::StrCat("ferryd at ", address_, " sent a pipeline reply this client cannot parse"));
}

}  // namespace ferry::detail
