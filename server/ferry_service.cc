#include "server/ferry_service.h"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/bytes_field.h"
#include "server/call_watch.h"
#include "server/download.h"
#include "server/execute.h"
#include "server/join_group.h"
#include "server/log.h"
#include "server/pipeline.h"
#include "server/rpc_observer.h"
#include "server/shared_memory_rpc.h"
#include "server/upload.h"

namespace ferry::server {
namespace {

constexpr char kFeatureGraphCache[] = "graph_cache";
constexpr char kFeaturePipeline[] = "pipeline";
constexpr char kFeatureSharedMemory[] = "shared_memory";
constexpr char kFeatureBulkTcp[] = "bulk_tcp";
constexpr char kFeatureUploadCache[] = "upload_cache";
constexpr char kFeatureProfile[] = "profile";
constexpr char kFeatureCollectives[] = "collectives";
constexpr char kFeatureResumableTransfers[] = "resumable_transfers";
constexpr char kFeaturePeerCopy[] = "peer_copy";
constexpr char kFeatureDeviceCollectives[] = "device_collectives";
constexpr char kFeatureDonation[] = "donation";

// absl and gRPC number their codes identically.
grpc::Status ToGrpc(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

template <typename T>
grpc::Status ToGrpc(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpc(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

// Stops a run whose caller is gone: the client cancelled the call, its deadline passed, or
// its connection broke. Nobody would read the results.
kernels::CancelCheck CallerGone(grpc::ServerContext* context) {
  return [context] {
    return context->IsCancelled()
               ? absl::CancelledError(
                     "the call was cancelled: the client went away or its deadline passed")
               : absl::OkStatus();
  };
}

// The version this daemon and a client speaking [min, max] share.
absl::StatusOr<uint32_t> NegotiateVersion(uint32_t client_min, uint32_t client_max) {
  uint32_t low = std::max(client_min, kMinProtocolVersion);
  uint32_t high = std::min(client_max, kMaxProtocolVersion);
  if (low > high) {
    return absl::FailedPreconditionError(absl::StrCat(
        "client speaks protocol versions [", client_min, ", ", client_max,
        "]; this ferryd speaks [", kMinProtocolVersion, ", ", kMaxProtocolVersion, "]"));
  }
  return high;
}

// Client-controlled text, made safe to put on one log line.
std::string ForLog(absl::string_view text) { return absl::CHexEscape(text.substr(0, 200)); }

// Feeds an Upload call's messages, as received, to an UploadReceiver; a refused call
// (`refused` not OK) ends at once. A resume of the upload on another call cancels this one
// (its client may be gone without a word), which then keeps what it received.
class UploadReactor final : public grpc::ServerReadReactor<grpc::ByteBuffer> {
 public:
  UploadReactor(std::unique_ptr<UploadReceiver> receiver, grpc::ByteBuffer* response,
                const grpc::Status& refused, grpc::CallbackServerContext* context)
      : receiver_(std::move(receiver)), response_(response), call_(std::make_shared<CallHandle>()) {
    if (!refused.ok()) {
      Finish(refused);
      return;
    }
    call_->context = context;
    receiver_->set_interrupt([call = call_] {
      std::lock_guard<std::mutex> lock(call->mu);
      if (call->context != nullptr) call->context->TryCancel();
    });
    StartRead(&message_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client's last message, or the call broke (then Finish says why)
      absl::StatusOr<v1::UploadResponse> result = receiver_->Finish();
      if (!result.ok()) {
        Finish(ToGrpc(result.status()));
        return;
      }
      grpc::Slice reply(result->SerializeAsString());
      *response_ = grpc::ByteBuffer(&reply, 1);
      Finish(grpc::Status::OK);
      return;
    }
    std::vector<grpc::Slice> slices;
    message_.Dump(&slices);
    std::vector<core::ByteSpan> pieces;
    pieces.reserve(slices.size());
    for (const grpc::Slice& slice : slices) {
      pieces.push_back({reinterpret_cast<const char*>(slice.begin()), slice.size()});
    }
    absl::Status received = receiver_->Receive(pieces);
    message_.Clear();
    if (!received.ok()) {
      Finish(ToGrpc(received));
      return;
    }
    StartRead(&message_);
  }

  void OnDone() override {
    {
      std::lock_guard<std::mutex> lock(call_->mu);
      call_->context = nullptr;
    }
    delete this;
  }

 private:
  // The call's context while it lasts, for an interrupt that may come after.
  struct CallHandle {
    std::mutex mu;
    grpc::CallbackServerContext* context = nullptr;
  };

  std::unique_ptr<UploadReceiver> receiver_;
  grpc::ByteBuffer* response_;
  grpc::ByteBuffer message_;
  std::shared_ptr<CallHandle> call_;
};

// Writes a DownloadSender's messages one after another; a refused call ends at once.
class DownloadReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  DownloadReactor(std::unique_ptr<DownloadSender> sender, const grpc::Status& refused)
      : sender_(std::move(sender)) {
    if (!refused.ok()) {
      Finish(refused);
      return;
    }
    WriteNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "download: the client went away"));
      return;
    }
    WriteNext();
  }

  void OnDone() override { delete this; }

 private:
  void WriteNext() {
    absl::StatusOr<std::optional<grpc::ByteBuffer>> next = sender_->Next();
    if (!next.ok()) {
      Finish(ToGrpc(next.status()));
    } else if (!next->has_value()) {
      Finish(grpc::Status::OK);
    } else {
      message_ = **std::move(next);
      StartWrite(&message_);
    }
  }

  std::unique_ptr<DownloadSender> sender_;
  grpc::ByteBuffer message_;
};

}  // namespace

void FerryService::DescribeDaemon(v1::DeviceInfo* device, v1::Limits* limits) const {
  const kernels::DeviceFacts& facts = executor_.backend().facts();
  device->set_backend(facts.backend);
  device->set_name(facts.name);
  device->set_memory_bytes(facts.memory_bytes);
  device->set_compute_capability(facts.compute_capability);
  device->set_driver_version(facts.driver_version);
  device->set_runtime_version(facts.runtime_version);
  limits->set_max_memory_bytes(options_.max_memory_bytes);
  limits->set_max_session_memory_bytes(options_.max_session_memory_bytes);
  limits->set_max_sessions(options_.max_sessions);
  limits->set_chunk_bytes(options_.chunk_bytes);
  limits->set_max_inline_bytes(options_.max_inline_bytes);
  limits->set_max_graph_nodes(options_.max_graph_nodes);
  limits->set_lease_seconds(absl::ToInt64Seconds(options_.lease));
  limits->set_max_message_bytes(options_.max_message_bytes);
  limits->set_pipeline_window(kPipelineWindow);
}

bool FerryService::OffersDeviceCollectives() const {
  return options_.device_collectives && executor_.backend().HasDeviceCollectives();
}

void FerryService::AddFeatures(google::protobuf::RepeatedPtrField<std::string>* features) const {
  features->Add(kFeatureGraphCache);
  features->Add(kFeaturePipeline);
  features->Add(kFeatureResumableTransfers);
  features->Add(kFeatureProfile);
  features->Add(kFeatureDonation);
  if (options_.shared_memory) features->Add(kFeatureSharedMemory);
  if (bulk_port_ > 0) features->Add(kFeatureBulkTcp);
  if (sessions_.upload_cache() != nullptr && sessions_.upload_cache()->capacity() > 0) {
    features->Add(kFeatureUploadCache);
  }
  if (peer_links_ != nullptr) {
    features->Add(kFeatureCollectives);
    features->Add(kFeaturePeerCopy);
    if (OffersDeviceCollectives()) features->Add(kFeatureDeviceCollectives);
  }
}

grpc::Status FerryService::OpenSession(grpc::ServerContext* context,
                                       const v1::OpenSessionRequest* request,
                                       v1::OpenSessionResponse* response) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  absl::StatusOr<uint32_t> version =
      NegotiateVersion(request->min_protocol_version(), request->max_protocol_version());
  if (!version.ok()) return ToGrpc(version.status());
  absl::StatusOr<SessionRef> opened =
      sessions_.Open(request->client_name(), auth_ == nullptr ? "" : auth_->Holder(*context));
  if (!opened.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("session refused for \"", ForLog(request->client_name()), "\" at ",
                     ForLog(context->peer()), ": ", opened.status().message()),
        RequestId(*context));
    return ToGrpc(opened.status());
  }
  SessionRef& session = *opened;
  Log(LogLevel::kInfo,
      absl::StrCat("session ", session->id(), " opened for \"", ForLog(request->client_name()),
                   "\" at ", ForLog(context->peer()), " (protocol ", *version, ")"),
      RequestId(*context));
  response->set_session_id(session->id());
  response->set_protocol_version(*version);
  DescribeDaemon(response->mutable_device(), response->mutable_limits());
  AddFeatures(response->mutable_features());
  if (bulk_port_ > 0) {
    response->mutable_bulk_channel()->set_port(static_cast<uint32_t>(bulk_port_));
    response->mutable_bulk_channel()->set_ticket(session->bulk_ticket());
  }
  response->set_server_version(kServerVersion);
  return grpc::Status::OK;
}

grpc::Status FerryService::CloseSession(grpc::ServerContext* context,
                                        const v1::CloseSessionRequest* request,
                                        v1::CloseSessionResponse*) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  return ToGrpc(sessions_.Close(request->session_id()));
}

grpc::ServerReadReactor<grpc::ByteBuffer>* FerryService::Upload(
    grpc::CallbackServerContext* context, grpc::ByteBuffer* response) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) {
    return new UploadReactor(nullptr, response, denied, context);
  }
  return new UploadReactor(std::make_unique<UploadReceiver>(sessions_, executor_.backend()),
                           response, grpc::Status::OK, context);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* FerryService::Download(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) {
    return new DownloadReactor(nullptr, denied);
  }
  v1::DownloadRequest parsed;
  grpc::ByteBuffer copy = *request;  // shares the slices; Deserialize consumes its argument
  if (!grpc::SerializationTraits<v1::DownloadRequest>::Deserialize(&copy, &parsed).ok()) {
    return new DownloadReactor(nullptr,
                               grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                            "the request is not a ferry.v1.DownloadRequest"));
  }
  // Leave room in each message for its header fields under the receive limit clients
  // are told about.
  const int64_t max_chunk = std::max<int64_t>(options_.max_message_bytes - 4096, 1);
  absl::StatusOr<std::unique_ptr<DownloadSender>> sender = DownloadSender::Start(
      sessions_, executor_.backend(), parsed, options_.chunk_bytes, max_chunk);
  if (!sender.ok()) return new DownloadReactor(nullptr, ToGrpc(sender.status()));
  return new DownloadReactor(*std::move(sender), grpc::Status::OK);
}

grpc::Status FerryService::Execute(grpc::ServerContext* context, const v1::ExecuteRequest* request,
                                   v1::ExecuteResponse* response) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  absl::StatusOr<SessionRef> session = sessions_.Acquire(request->session_id());
  if (!session.ok()) return ToGrpc(session.status());
  kernels::QueueScope queue((*session)->queue());
  // A run waiting in a collective asks no CancelCheck: when the caller goes meanwhile, the
  // session's busy groups end, so the call fails at once (and its peers' with it) rather
  // than at the group's timeout. Only sessions in a group pay for the watching thread.
  std::optional<CallWatch> watch;
  if ((*session)->num_groups() > 0) {
    watch.emplace([context] { return context->IsCancelled(); },
                  [session = &**session] {
                    session->AbortGroups("its call was cancelled while it waited in the group",
                                         /*busy_only=*/true);
                  });
  }
  absl::StatusOr<v1::ExecuteResponse> result =
      server::Execute(**session, executor_, graphs_, options_, *request, CallerGone(context));
  watch.reset();
  // Tells the client, unmistakably, which graph to send again (NOT_FOUND alone could also
  // mean an unknown session or buffer).
  if (std::string missing = MissingGraphId(result.status()); !missing.empty()) {
    context->AddTrailingMetadata(kMissingGraphMetadata, missing);
  }
  return ToGrpc(std::move(result), response);
}

grpc::Status FerryService::JoinGroup(grpc::ServerContext* context,
                                     const v1::JoinGroupRequest* request,
                                     v1::JoinGroupResponse* response) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  if (peer_links_ == nullptr) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "[join_group] this daemon offers no collectives: its bulk channel is off "
                        "(--bulk_port=-1) or speaks TLS without --peer_ca");
  }
  absl::StatusOr<SessionRef> session = sessions_.Acquire(request->session_id());
  if (!session.ok()) return ToGrpc(session.status());
  absl::StatusOr<std::string> joined = server::JoinGroup(
      **session, *peer_links_, OffersDeviceCollectives() ? &executor_.backend() : nullptr, *request,
      [context] { return context->IsCancelled(); });
  Log(joined.ok() ? LogLevel::kInfo : LogLevel::kWarning,
      absl::StrCat("session ", (*session)->id().substr(0, 8), "... ",
                   joined.ok() ? "joined" : "could not join", " group ", request->group(),
                   " as rank ", request->rank(), " of ", request->size(),
                   joined.ok() ? absl::StrCat(" (", *joined, ")")
                               : absl::StrCat(": ", joined.status().message())),
      RequestId(*context));
  if (!joined.ok()) return ToGrpc(joined.status());
  response->set_collectives(*joined);
  return grpc::Status::OK;
}

grpc::Status FerryService::Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                                   v1::ReleaseResponse*) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  absl::StatusOr<SessionRef> session = sessions_.Acquire(request->session_id());
  if (!session.ok()) return ToGrpc(session.status());
  (*session)->Release(request->buffer_ids());
  return grpc::Status::OK;
}

grpc::Status FerryService::GetInfo(grpc::ServerContext* context, const v1::GetInfoRequest* request,
                                   v1::GetInfoResponse* response) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  if (!request->session_id().empty()) {
    absl::StatusOr<SessionRef> session = sessions_.Acquire(request->session_id());
    if (!session.ok()) return ToGrpc(session.status());
    response->set_session_buffers((*session)->num_buffers());
    response->set_session_resident_bytes((*session)->resident_bytes());
    response->set_session_peak_bytes((*session)->peak_bytes());
    if (request->reset_session_peak()) (*session)->ResetPeak();
  }
  response->set_in_use_bytes(executor_.backend().budget().in_use());
  response->set_server_version(kServerVersion);
  response->set_min_protocol_version(kMinProtocolVersion);
  response->set_max_protocol_version(kMaxProtocolVersion);
  DescribeDaemon(response->mutable_device(), response->mutable_limits());
  response->set_sessions(sessions_.num_sessions());
  response->set_resident_bytes(sessions_.resident_bytes());
  response->set_cached_graphs(graphs_.stats().size);
  AddFeatures(response->mutable_features());
  for (const SessionListing& listed : sessions_.List()) {
    v1::SessionSummary* summary = response->add_session_list();
    summary->set_id_prefix(listed.id.substr(0, 8));
    summary->set_client_name(listed.client_name);
    summary->set_buffers(listed.buffers);
    summary->set_resident_bytes(listed.resident_bytes);
    summary->set_idle_ms(absl::ToInt64Milliseconds(listed.idle));
    summary->set_groups(listed.groups);
    summary->set_abandoned(listed.abandoned);
    summary->set_kept_upload_bytes(listed.kept_upload_bytes);
    summary->set_offered_bytes(listed.offered_bytes);
    summary->set_peak_bytes(listed.peak_bytes);
  }
  v1::GraphCacheStats* cache = response->mutable_graph_cache();
  const GraphCacheStats graph_stats = graphs_.stats();
  cache->set_hits(graph_stats.hits);
  cache->set_misses(graph_stats.misses);
  cache->set_entries(graph_stats.size);
  cache->set_capacity(graph_stats.capacity);
  if (const UploadCache* uploads = sessions_.upload_cache(); uploads != nullptr) {
    const UploadCache::Stats upload_stats = uploads->stats();
    v1::UploadCacheStats* kept = response->mutable_upload_cache();
    kept->set_hits(upload_stats.hits);
    kept->set_misses(upload_stats.misses);
    kept->set_entries(upload_stats.entries);
    kept->set_bytes(upload_stats.bytes);
    kept->set_capacity_bytes(uploads->capacity());
    kept->set_rejected(upload_stats.rejected);
    kept->set_disk_entries(upload_stats.disk_entries);
    kept->set_disk_bytes(upload_stats.disk_bytes);
  }
  response->set_uptime_seconds(absl::ToInt64Seconds(absl::Now() - started_));
  return grpc::Status::OK;
}

grpc::Status FerryService::Pipeline(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::PipelineResponse, v1::PipelineRequest>* stream) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  v1::PipelineRequest first;
  if (!stream->Read(&first)) return grpc::Status::OK;  // the client went away at once
  if (!first.has_start()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "[pipeline] the first message must be start, naming the session");
  }
  const std::string session_id = first.start().session_id();
  absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id);
  if (!session.ok()) return ToGrpc(session.status());
  // The client's previous stream broke with steps in flight: any of them may have been a
  // collective this rank ran (or still waits in) and the client never saw, so the session's
  // groups are ended before this stream's steps call into them.
  if (first.start().after_break()) {
    (*session)->AbortGroups("its client's stream broke with steps in flight",
                            /*busy_only=*/false);
  }
  // Steps run on this thread (or the reader's), on the session's device queue.
  kernels::QueueScope queue((*session)->queue());
  v1::PipelineResponse started;
  started.set_step_id(first.step_id());
  started.mutable_started()->set_window(kPipelineWindow);
  if (!stream->Write(started)) return grpc::Status::OK;

  PipelineInbox inbox(static_cast<size_t>(kPipelineWindow));
  {
    absl::MutexLock lock(&pipelines_mu_);
    if (draining_) inbox.Drain();
    pipelines_.insert(&inbox);
  }
  // Set before this handler cancels the call itself (draining, or a write failed), so the
  // reader does not take that for the client vanishing.
  std::atomic<bool> cancelled_here{false};
  PipelineSteps steps(sessions_, executor_, graphs_, options_, peer_links_, session_id,
                      CallerGone(context));
  // Runs a step and writes its answer; false when the client is gone. Either thread runs
  // steps, one at a time (PipelineInbox), so answers are written one at a time too.
  auto run = [&](const v1::PipelineRequest& step, const PipelineSteps::GraphFetcher& fetch,
                 absl::Time arrived) {
    const absl::Time begun = absl::Now();
    // Only computing counts as working: a fetch waiting on another daemon (which may wait
    // on this session) does not keep an offer's fetch waiting without end.
    if (step.has_execute()) (*session)->ExecuteStarted();
    std::optional<v1::PipelineResponse> reply = steps.Run(step, fetch, begun - arrived);
    if (step.has_execute()) (*session)->ExecuteEnded();
    if (step.has_execute() && execute_observer_) execute_observer_(absl::Now() - begun);
    const bool written = !reply.has_value() || stream->Write(*reply);
    inbox.Finished();
    return written;
  };
  auto ask_for_graph = [stream](const std::string& graph_id, uint64_t step_id) {
    v1::PipelineResponse ask;
    ask.set_step_id(step_id);
    ask.set_graph_missing(graph_id);
    return stream->Write(ask);
  };
  // The client vanished (its connection reset, or silent past the keepalive) rather than
  // ending the stream: nobody will read the answers. The queued steps are dropped, the
  // running one stops (CallerGone, or its group ended if it waits for its peers), and the
  // session is kept for its lease, for the client to reconnect on a new stream (its library
  // does at the next eval). Once, by whichever thread sees it first.
  std::atomic<bool> abandoned{false};
  auto abandon = [&] {
    if (abandoned.exchange(true)) return;
    inbox.Shutdown();
    (*session)->AbortGroups("its client went away during a call", /*busy_only=*/true);
    sessions_.MarkAbandoned(session_id);
  };
  auto client_vanished = [&] { return !cancelled_here.load() && context->IsCancelled(); };
  // The reader may be running a step itself, one waiting in a collective.
  std::optional<CallWatch> watch(std::in_place, client_vanished, abandon);
  // The reader runs a step itself when the stream is idle (PipelineInbox::ClaimIdle); a
  // graph that step asks for it then reads itself, queueing the steps that come first.
  kernels::Queue* const device_queue = (*session)->queue();
  // Offers are announced as they arrive, so another daemon's fetch waits for their step
  // (PeerOffers); those this stream leaves unrun are withdrawn when it ends.
  std::vector<std::string> announced;
  auto announce = [&](const v1::PipelineRequest& message) {
    if (!message.has_offer() || !PeerOffers::CheckTicket(message.offer().ticket()).ok()) return;
    (*session)->offers().Announce(message.offer().ticket());
    announced.push_back(message.offer().ticket());
  };
  std::thread reader([&] {
    kernels::QueueScope reader_queue(device_queue);
    bool stream_ended = false;
    auto read_graph = [&](const std::string& graph_id,
                          uint64_t step_id) -> std::optional<v1::Graph> {
      if (!ask_for_graph(graph_id, step_id)) return std::nullopt;
      v1::PipelineRequest message;
      while (stream->Read(&message)) {
        if (message.has_graph()) return std::move(*message.mutable_graph());
        announce(message);
        if (!inbox.PushNow(std::move(message))) return std::nullopt;
        message.Clear();
      }
      stream_ended = true;
      return std::nullopt;
    };
    v1::PipelineRequest message;
    while (!stream_ended && stream->Read(&message)) {
      announce(message);
      if (inbox.ClaimIdle(message)) {
        if (!run(message, read_graph, absl::Now())) break;
      } else if (!inbox.Push(std::move(message))) {
        break;
      }
      message.Clear();
    }
    if (client_vanished()) abandon();
    inbox.Done();
  });
  auto fetch_graph = [&](const std::string& graph_id,
                         uint64_t step_id) -> std::optional<v1::Graph> {
    if (!ask_for_graph(graph_id, step_id)) return std::nullopt;
    return inbox.AwaitGraph();
  };
  bool client_gone = false;
  while (std::optional<PipelineInbox::Queued> queued = inbox.NextStep()) {
    if (!run(queued->step, fetch_graph, queued->arrived)) {
      client_gone = true;
      break;
    }
  }
  {
    absl::MutexLock lock(&pipelines_mu_);
    pipelines_.erase(&inbox);
  }
  const bool draining = inbox.draining();
  inbox.Shutdown();
  if (draining && !client_gone) {
    // Said in a message: the cancel that unblocks the reader hides the call's own status.
    v1::PipelineResponse goodbye;
    goodbye.mutable_failure()->set_op("pipeline");
    goodbye.mutable_failure()->set_code(static_cast<int32_t>(grpc::StatusCode::UNAVAILABLE));
    goodbye.mutable_failure()->set_message(
        "ferryd is shutting down; steps not answered were not run");
    stream->Write(goodbye);
  }
  if (client_gone || draining) {
    cancelled_here.store(true);
    context->TryCancel();  // unblocks the reader's Read
  }
  reader.join();
  (*session)->offers().Withdraw(
      announced, absl::UnavailableError("the client's stream to the source daemon ended before "
                                        "the offer's step ran"));
  watch.reset();  // before what it watches goes
  return grpc::Status::OK;
}

grpc::Status FerryService::RegisterSharedMemory(grpc::ServerContext* context,
                                                const v1::RegisterSharedMemoryRequest* request,
                                                v1::RegisterSharedMemoryResponse*) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  return ToGrpc(server::RegisterSharedMemory(sessions_, executor_.backend(), options_.shared_memory,
                                             *request));
}

grpc::Status FerryService::UnregisterSharedMemory(grpc::ServerContext* context,
                                                  const v1::UnregisterSharedMemoryRequest* request,
                                                  v1::UnregisterSharedMemoryResponse*) {
  if (grpc::Status denied = Authorize(*context); !denied.ok()) return denied;
  return ToGrpc(server::UnregisterSharedMemory(sessions_, *request));
}

void FerryService::Drain() {
  absl::MutexLock lock(&pipelines_mu_);
  draining_ = true;
  for (PipelineInbox* inbox : pipelines_) inbox->Drain();
}

}  // namespace ferry::server
