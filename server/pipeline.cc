#include "server/pipeline.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "server/execute.h"
#include "server/peer_copy.h"

namespace ferry::server {
namespace {

const char* StepOp(const v1::PipelineRequest& step) {
  switch (step.step_case()) {
    case v1::PipelineRequest::kUpload:
      return "upload";
    case v1::PipelineRequest::kExecute:
      return "execute";
    case v1::PipelineRequest::kRelease:
      return "release";
    case v1::PipelineRequest::kSync:
      return "sync";
    case v1::PipelineRequest::kRead:
      return "read";
    case v1::PipelineRequest::kStart:
      return "start";
    case v1::PipelineRequest::kGraph:
      return "graph";
    case v1::PipelineRequest::kOffer:
      return "offer";
    default:
      return "pipeline";
  }
}

}  // namespace

v1::StepFailure PipelineSteps::Fail(const v1::PipelineRequest& step, const absl::Status& status) {
  v1::StepFailure failure;
  failure.set_step_id(step.step_id());
  failure.set_op(StepOp(step));
  failure.set_code(static_cast<int32_t>(status.code()));
  failure.set_message(std::string(status.message()));
  return failure;
}

absl::Status PipelineSteps::CheckNewHandle(const Session& session, uint64_t buffer_id) const {
  if (failed_handles_.contains(buffer_id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("buffer ", buffer_id, " names the output of failed step ",
                     failed_handles_.at(buffer_id).step_id(), "; release it first"));
  }
  return session.CheckNewId(buffer_id);
}

// The client sends a bulk upload's bytes before its step, so they are on their way by the
// time the step runs; this only bounds the wait when they never come (a broken client).
constexpr absl::Duration kBulkAnnounceTimeout = absl::Seconds(30);

std::optional<v1::PipelineResponse> PipelineSteps::Run(const v1::PipelineRequest& step,
                                                       const GraphFetcher& fetch_graph,
                                                       absl::Duration queued) {
  v1::PipelineResponse reply;
  reply.set_step_id(step.step_id());
  const bool answer = step.want_reply() || step.has_sync() || step.has_read();
  std::optional<v1::StepFailure> failure;
  if (step.step_id() <= last_step_) {
    failure = Fail(step, absl::InvalidArgumentError(
                             absl::StrCat("[", StepOp(step), "] step id ", step.step_id(),
                                          " is not above the previous step's, ", last_step_)));
  } else {
    last_step_ = step.step_id();
    switch (step.step_case()) {
      case v1::PipelineRequest::kUpload:
        failure = Upload(step);
        break;
      case v1::PipelineRequest::kExecute:
        failure = Execute(step, fetch_graph, queued, &reply);
        break;
      case v1::PipelineRequest::kRelease:
        Release(step.release().buffer_ids());
        break;
      case v1::PipelineRequest::kSync:
        break;
      case v1::PipelineRequest::kRead:
        failure = Read(step, &reply);
        break;
      case v1::PipelineRequest::kOffer:
        failure = Offer(step);
        break;
      default:
        failure = Fail(step, absl::InvalidArgumentError(absl::StrCat(
                                 "[", StepOp(step), "] is not a step this stream can run")));
    }
  }
  if (failure.has_value()) {
    // The outputs the step would have made carry its failure to the steps that use them;
    // a handle refused because it was taken keeps what it names.
    std::vector<uint64_t> outputs;
    if (step.has_upload()) outputs.push_back(step.upload().buffer_id());
    for (const v1::OutputRequest& output : step.execute().outputs()) {
      outputs.push_back(output.buffer_id());
    }
    absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id_);
    for (uint64_t buffer_id : outputs) {
      if (session.ok() && CheckNewHandle(**session, buffer_id).ok()) {
        failed_handles_.emplace(buffer_id, *failure);
      }
    }
    if (answer) {
      *reply.mutable_failure() = *failure;
    } else if (!first_failure_.has_value()) {
      first_failure_ = *failure;
    }
  }
  if (step.has_sync() || step.has_read()) {
    if (first_failure_.has_value()) *reply.mutable_first_failure() = *std::move(first_failure_);
    first_failure_.reset();
  }
  reply.set_completed_through(last_step_);
  if (!answer) return std::nullopt;
  return reply;
}

absl::StatusOr<kernels::Tensor> PipelineSteps::FromStep(const v1::PipelineUpload& upload) {
  absl::StatusOr<core::HostTensor> host = core::HostTensorFromProto(upload.tensor());
  if (!host.ok()) {
    return absl::Status(host.status().code(), absl::StrCat("[upload] buffer ", upload.buffer_id(),
                                                           ": ", host.status().message()));
  }
  return kernels::TensorFromHost(executor_.backend(), *host);
}

absl::StatusOr<kernels::Tensor> PipelineSteps::FromBulkChannel(Session& session,
                                                               const v1::PipelineUpload& upload) {
  const uint64_t buffer_id = upload.buffer_id();
  absl::StatusOr<kernels::Tensor> tensor = session.TakeArrival(buffer_id, kBulkAnnounceTimeout);
  absl::StatusOr<core::TensorType> type = core::TypeFromProto(upload.tensor().spec());
  if (!type.ok()) {
    return absl::Status(type.status().code(),
                        absl::StrCat("[upload] buffer ", buffer_id, ": ", type.status().message()));
  }
  if (!tensor.ok()) {
    return absl::Status(tensor.status().code(),
                        absl::StrCat("[upload] on the bulk channel: ", tensor.status().message()));
  }
  if (!(tensor->type == *type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "[upload] buffer ", buffer_id, ": the bulk channel brought ",
        core::TypeToString(tensor->type), " but the step declares ", core::TypeToString(*type)));
  }
  return tensor;
}

absl::StatusOr<kernels::Tensor> PipelineSteps::FromPeer(const v1::PipelineUpload& upload) {
  if (peers_ == nullptr) {
    return absl::FailedPreconditionError(
        "[upload] this daemon fetches no buffers from other daemons (it has no bulk channel, or "
        "serves TLS without --peer_ca)");
  }
  absl::StatusOr<core::TensorType> type = core::TypeFromProto(upload.tensor().spec());
  if (!type.ok()) {
    return absl::Status(type.status().code(), absl::StrCat("[upload] buffer ", upload.buffer_id(),
                                                           ": ", type.status().message()));
  }
  return FetchFromPeer(*peers_, sessions_, executor_.backend(), session_id_, upload.buffer_id(),
                       *type, upload.peer_source(),
                       [this] { return cancelled_ != nullptr && !cancelled_().ok(); });
}

std::optional<v1::StepFailure> PipelineSteps::Offer(const v1::PipelineRequest& step) {
  const v1::PipelineOffer& offer = step.offer();
  absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id_);
  if (!session.ok()) return Fail(step, session.status());
  if (absl::Status ticket = PeerOffers::CheckTicket(offer.ticket()); !ticket.ok()) {
    return Fail(step, absl::InvalidArgumentError(absl::StrCat("[offer] ", ticket.message())));
  }
  std::optional<v1::StepFailure> failure;
  absl::StatusOr<kernels::Tensor> value;
  if (auto failed = failed_handles_.find(offer.buffer_id()); failed != failed_handles_.end()) {
    failure = failed->second;  // the original failure, as a step using the buffer gets
    value =
        absl::Status(static_cast<absl::StatusCode>(failure->code()),
                     absl::StrCat("the step that was to compute it failed: ", failure->message()));
  } else {
    value = (*session)->Get(offer.buffer_id());
    if (!value.ok()) {
      value =
          absl::Status(value.status().code(), absl::StrCat("[offer] ", value.status().message()));
      failure = Fail(step, value.status());
    }
  }
  absl::Status resolved = (*session)->offers().Resolve(offer.ticket(), offer.buffer_id(), value);
  if (!resolved.ok() && !failure.has_value()) {
    failure =
        Fail(step, absl::Status(resolved.code(), absl::StrCat("[offer] buffer ", offer.buffer_id(),
                                                              ": ", resolved.message())));
  }
  return failure;
}

std::optional<v1::StepFailure> PipelineSteps::Upload(const v1::PipelineRequest& step) {
  absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id_);
  if (!session.ok()) return Fail(step, session.status());
  const uint64_t buffer_id = step.upload().buffer_id();
  // A bulk upload's tensor is taken whatever the verdict, so none stays parked.
  std::optional<absl::StatusOr<kernels::Tensor>> from_bulk;
  if (step.upload().bulk_channel()) from_bulk = FromBulkChannel(**session, step.upload());
  if (absl::Status fresh = CheckNewHandle(**session, buffer_id); !fresh.ok()) {
    return Fail(step, absl::Status(fresh.code(), absl::StrCat("[upload] ", fresh.message())));
  }
  absl::StatusOr<kernels::Tensor> tensor = from_bulk.has_value() ? *std::move(from_bulk)
                                           : step.upload().has_peer_source()
                                               ? FromPeer(step.upload())
                                               : FromStep(step.upload());
  if (!tensor.ok()) return Fail(step, tensor.status());
  if (absl::Status stored = (*session)->Put({{buffer_id, *std::move(tensor)}}); !stored.ok()) {
    return Fail(step, stored);
  }
  return std::nullopt;
}

std::optional<v1::StepFailure> PipelineSteps::Execute(const v1::PipelineRequest& step,
                                                      const GraphFetcher& fetch_graph,
                                                      absl::Duration queued,
                                                      v1::PipelineResponse* reply) {
  Release(step.execute().release_buffer_ids());
  for (const v1::Binding& binding : step.execute().bindings()) {
    if (binding.has_buffer_id()) {
      auto failed = failed_handles_.find(binding.buffer_id());
      if (failed != failed_handles_.end()) return failed->second;  // the original failure
    }
  }
  absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id_);
  if (!session.ok()) return Fail(step, session.status());
  for (int i = 0; i < step.execute().outputs_size(); ++i) {
    const uint64_t buffer_id = step.execute().outputs(i).buffer_id();
    if (buffer_id == 0) continue;
    if (absl::Status fresh = CheckNewHandle(**session, buffer_id); !fresh.ok()) {
      return Fail(step,
                  absl::Status(fresh.code(), absl::StrCat("output ", i, ": ", fresh.message())));
    }
  }
  v1::ExecuteRequest request = step.execute();
  request.set_session_id(session_id_);
  request.clear_release_buffer_ids();  // released above
  absl::StatusOr<v1::ExecuteResponse> response =
      server::Execute(**session, executor_, graphs_, options_, request, cancelled_);
  if (std::string missing = MissingGraphId(response.status()); !missing.empty()) {
    std::optional<v1::Graph> graph = fetch_graph(missing, step.step_id());
    if (!graph.has_value()) return Fail(step, response.status());
    *request.mutable_graph() = *std::move(graph);
    request.set_graph_id(missing);  // the daemon checks the graph sent is the one named
    response = server::Execute(**session, executor_, graphs_, options_, request, cancelled_);
  }
  if (!response.ok()) return Fail(step, response.status());
  if (response->has_profile()) {
    response->mutable_profile()->set_queued_ns(absl::ToInt64Nanoseconds(queued));
  }
  if (step.want_reply()) *reply->mutable_execute() = *std::move(response);
  return std::nullopt;
}

std::optional<v1::StepFailure> PipelineSteps::Read(const v1::PipelineRequest& step,
                                                   v1::PipelineResponse* reply) {
  const uint64_t buffer_id = step.read().buffer_id();
  auto failed = failed_handles_.find(buffer_id);
  if (failed != failed_handles_.end()) return failed->second;
  absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id_);
  if (!session.ok()) return Fail(step, session.status());
  absl::StatusOr<kernels::Tensor> buffer = (*session)->Get(buffer_id);
  if (!buffer.ok()) {
    return Fail(step, absl::Status(buffer.status().code(),
                                   absl::StrCat("[read] ", buffer.status().message())));
  }
  // Large buffers go through Download, so one read never holds up the steps behind it.
  const uint64_t limit = static_cast<uint64_t>(std::max<int64_t>(options_.max_inline_bytes, 0));
  if (buffer->nbytes() > limit) {
    return Fail(step, absl::FailedPreconditionError(absl::StrCat(
                          "[read] buffer ", buffer_id, " has ", buffer->nbytes(),
                          " bytes; the pipeline returns at most ", limit, ": use Download")));
  }
  v1::Tensor* tensor = reply->mutable_read();
  core::TypeToProto(buffer->type, tensor->mutable_spec());
  std::string* data = tensor->mutable_data();
  data->resize(buffer->nbytes());
  if (!data->empty()) {
    absl::Status copied = executor_.backend().CopyToHost(*buffer, 0, data->size(), data->data());
    if (!copied.ok()) return Fail(step, copied);
  }
  return std::nullopt;
}

void PipelineSteps::Release(const google::protobuf::RepeatedField<uint64_t>& buffer_ids) {
  if (buffer_ids.empty()) return;
  for (uint64_t buffer_id : buffer_ids) failed_handles_.erase(buffer_id);
  absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id_);
  if (session.ok()) (*session)->Release(buffer_ids);
}

bool PipelineInbox::Push(v1::PipelineRequest message) {
  absl::MutexLock lock(&mu_);
  if (message.has_graph()) {
    graphs_.push_back(std::move(*message.mutable_graph()));
    return !shutdown_;
  }
  mu_.Await(absl::Condition(
      +[](PipelineInbox* inbox) ABSL_EXCLUSIVE_LOCKS_REQUIRED(inbox->mu_) {
        return inbox->shutdown_ || inbox->awaiting_graph_ || inbox->steps_.size() < inbox->window_;
      },
      this));
  if (shutdown_) return false;
  steps_.push_back({std::move(message), absl::Now()});
  return true;
}

bool PipelineInbox::PushNow(v1::PipelineRequest message) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return false;
  if (message.has_graph()) {
    graphs_.push_back(std::move(*message.mutable_graph()));
  } else {
    steps_.push_back({std::move(message), absl::Now()});
  }
  return true;
}

bool PipelineInbox::ClaimIdle(const v1::PipelineRequest& message) {
  absl::MutexLock lock(&mu_);
  if (shutdown_ || draining_ || running_ || !steps_.empty() || message.has_graph()) return false;
  running_ = true;
  return true;
}

std::optional<PipelineInbox::Queued> PipelineInbox::NextStep() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](PipelineInbox* inbox) ABSL_EXCLUSIVE_LOCKS_REQUIRED(inbox->mu_) {
        return inbox->shutdown_ ||
               (!inbox->running_ && (inbox->done_ || inbox->draining_ || !inbox->steps_.empty()));
      },
      this));
  if (shutdown_ || steps_.empty()) return std::nullopt;
  Queued step = std::move(steps_.front());
  steps_.pop_front();
  running_ = true;
  return step;
}

void PipelineInbox::Finished() {
  absl::MutexLock lock(&mu_);
  running_ = false;
}

std::optional<v1::Graph> PipelineInbox::AwaitGraph() {
  absl::MutexLock lock(&mu_);
  awaiting_graph_ = true;
  mu_.Await(absl::Condition(
      +[](PipelineInbox* inbox) ABSL_EXCLUSIVE_LOCKS_REQUIRED(inbox->mu_) {
        return inbox->shutdown_ || inbox->done_ || !inbox->graphs_.empty();
      },
      this));
  awaiting_graph_ = false;
  if (shutdown_ || graphs_.empty()) return std::nullopt;
  v1::Graph graph = std::move(graphs_.front());
  graphs_.pop_front();
  return graph;
}

void PipelineInbox::Done() {
  absl::MutexLock lock(&mu_);
  done_ = true;
}

void PipelineInbox::Drain() {
  absl::MutexLock lock(&mu_);
  draining_ = true;
}

bool PipelineInbox::draining() {
  absl::MutexLock lock(&mu_);
  return draining_;
}

void PipelineInbox::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

}  // namespace ferry::server
