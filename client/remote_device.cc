#include "client/remote_device.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bulk_socket.h"
#include "client/device.h"
#include "client/error.h"
#include "client/profile_log.h"
#include "client/status.h"
#include "core/codec.h"
#include "core/fingerprint.h"

namespace ferry::detail {
namespace {

// Results up to this size come back inside the Execute reply (capped by the daemon's
// max_inline_bytes); larger ones stay resident until read. Returning every result up to
// the daemon's 1 MiB made each training step send its weights back, and on a 1 ms link the
// reply's HTTP/2 flow-control window updates cost about 2 more round trips per step.
constexpr int64_t kInlineResultBytes = 64 * 1024;
// Of the results a graph evaluated again returns that the program has never read, this many
// bytes in all still come back inline: reading them later would cost a round trip.
constexpr int64_t kUnreadInlineBytes = 4 * 1024;
constexpr int kBulkFrameBytes = (1 << 24) - 1;  // the largest HTTP/2 allows
constexpr int kBulkWindowBytes = 8 << 20;
// A bulk port that does not answer (a firewall) costs at most this once per session.
constexpr std::chrono::milliseconds kBulkConnectTimeout{2000};
constexpr uint32_t kProtocolVersion = 1;
// Trailing metadata naming the graph_id an Execute failed for lack of (server/graph_cache.h).
constexpr char kMissingGraphMetadata[] = "ferry-missing-graph-id-bin";

// The credentials `options` describe: TLS when it names root certificates or a client
// certificate, else plaintext.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const ConnectOptions& options) {
  if (options.root_certs.empty() && options.client_cert.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.root_certs;
  ssl.pem_cert_chain = options.client_cert;
  ssl.pem_private_key = options.client_key;
  return grpc::SslCredentials(ssl);
}

}  // namespace

RemoteDevice::~RemoteDevice() {
  session_->ClosePipeline();
  grpc::ClientContext context;
  session_->Prepare(context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::CloseSessionRequest request;
  request.set_session_id(session_->id());
  v1::CloseSessionResponse response;
  session_->stub().CloseSession(&context, request, &response);  // best effort
}

std::string RemoteDevice::description() const {
  const v1::DeviceInfo& device = session_->opened().device();
  return absl::StrCat("remote ", session_->address(), " (", device.backend(), ": ", device.name(),
                      ")");
}

DeviceInfo RemoteDevice::info() const {
  const v1::OpenSessionResponse& opened = session_->opened();
  DeviceInfo info;
  info.remote = true;
  info.address = session_->address();
  info.backend = opened.device().backend();
  info.name = opened.device().name();
  info.memory_bytes = opened.device().memory_bytes();
  info.compute_capability = opened.device().compute_capability();
  info.driver_version = opened.device().driver_version();
  info.runtime_version = opened.device().runtime_version();
  info.server_version = opened.server_version();
  info.protocol_version = opened.protocol_version();
  info.chunk_bytes = session_->chunk_bytes();
  info.max_inline_bytes = opened.limits().max_inline_bytes();
  info.bulk_channel = session_->bulk_socket() != nullptr;
  return info;
}

MemoryInfo RemoteDevice::Memory(bool reset_peak) {
  SendReleases();  // arrays dropped here are not counted
  Synchronize();
  v1::GetInfoRequest request;
  request.set_session_id(session_->id());
  request.set_reset_session_peak(reset_peak);
  v1::GetInfoResponse info;
  UnaryCall("GetInfo", [&](grpc::ClientContext* context) {
    return session_->stub().GetInfo(context, request, &info);
  });
  MemoryInfo memory;
  memory.active_bytes = info.session_resident_bytes();
  memory.peak_bytes = info.session_peak_bytes();
  memory.device_in_use_bytes = info.in_use_bytes();
  memory.device_limit_bytes = info.limits().max_memory_bytes();
  memory.limit_bytes = info.limits().max_session_memory_bytes() > 0
                           ? info.limits().max_session_memory_bytes()
                           : memory.device_limit_bytes;
  return memory;
}

void RemoteDevice::Wait(const std::vector<std::shared_ptr<Buffer>>& buffers) {
  bool waited = false;
  for (const std::shared_ptr<Buffer>& buffer : buffers) {
    auto& remote = static_cast<RemoteBuffer&>(*buffer);
    std::lock_guard<std::mutex> lock(remote.mu());
    waited |= remote.pending().has_value();
    Resolve(remote);
  }
  if (waited) session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
}

const void* RemoteDevice::HostBytes(Buffer& buffer) {
  auto& remote = static_cast<RemoteBuffer&>(buffer);
  std::lock_guard<std::mutex> lock(remote.mu());
  return remote.id() == 0 && remote.host().has_value() ? remote.host()->data() : nullptr;
}

std::string RemoteDevice::PeerAddress() const {
  return session_->Offers(kFeatureCollectives) ? AddressForPeers() : "";
}

bool RemoteDevice::OffersDeviceCollectives() const {
  return session_->Offers(kFeatureDeviceCollectives);
}

std::shared_ptr<Buffer> RemoteDevice::CopyFrom(DeviceImpl& source,
                                               const std::shared_ptr<Buffer>& buffer) {
  auto* from = dynamic_cast<RemoteDevice*>(&source);
  const std::string address = from != nullptr ? from->CopyAddress() : "";
  if (address.empty() || CopyAddress().empty() || session_->pipeline() == nullptr ||
      source.HostBytes(*buffer) != nullptr) {
    return DeviceImpl::CopyFrom(source, buffer);
  }
  auto& remote = static_cast<RemoteBuffer&>(*buffer);
  const std::string ticket = RandomKey();
  from->Offer(remote, ticket);
  SendReleases();  // first, so their memory can take the copy (a loop of copies piles up)
  const uint64_t id = session_->NewBufferId();
  v1::PipelineRequest step;
  v1::PipelineUpload* upload = step.mutable_upload();
  upload->set_buffer_id(id);
  core::TypeToProto(remote.type(), upload->mutable_tensor()->mutable_spec());
  upload->mutable_peer_source()->set_address(address);
  upload->mutable_peer_source()->set_session_id(from->session_->id());
  upload->mutable_peer_source()->set_ticket(ticket);
  step.set_want_reply(true);
  std::optional<StepReply> reply = session_->pipeline()->Send(std::move(step)).second;
  auto copy = std::make_shared<RemoteBuffer>(remote.type(), session_, id, std::nullopt);
  copy->set_pending(*reply, 0);
  session_->UpdateStats([](DeviceStats& stats) { ++stats.peer_copies; });
  return copy;
}

std::string RemoteDevice::JoinGroup(const GroupJoin& join) {
  v1::JoinGroupRequest request;
  request.set_session_id(session_->id());
  request.set_group(join.handle);
  request.set_rank(static_cast<uint32_t>(join.rank));
  request.set_size(static_cast<uint32_t>(join.size));
  for (const std::string& address : join.peer_addresses) request.add_peer_addresses(address);
  request.set_key(join.key);
  request.set_timeout_ms(static_cast<uint32_t>(join.timeout.count()));
  request.set_device_collectives(join.device_collectives);
  v1::JoinGroupResponse response;
  grpc::ClientContext context;
  session_->Prepare(context);
  // The daemon gives up on its peers after the timeout; the answer may take a moment more.
  context.set_deadline(std::chrono::system_clock::now() + join.timeout + std::chrono::seconds(10));
  const int stop = join.cancellation->Add([&context] { context.TryCancel(); });
  if (stop < 0) {
    throw Error(ErrorCode::kCancelled, "[distributed::init] another rank failed first");
  }
  grpc::Status status = session_->stub().JoinGroup(&context, request, &response);
  join.cancellation->Remove(stop);
  session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
  if (!status.ok()) throw ToError(status, session_->address());
  return response.collectives().empty() ? "ring" : response.collectives();  // an earlier daemon
}

void RemoteDevice::Cancel() {
  if (session_->pipeline() != nullptr) session_->pipeline()->Cancel();
  session_->CancelExecutes();
  session_->InterruptTransfers();
}

void RemoteDevice::Synchronize() {
  if (session_->pipeline() == nullptr) return;  // unary calls finish before they return
  session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
  session_->pipeline()->Sync();
}

std::vector<std::shared_ptr<Buffer>> RemoteDevice::Execute(
    std::shared_ptr<const core::Graph> shared_graph,
    const std::vector<std::shared_ptr<Buffer>>& parameters, const ExecuteHints& hints) {
  const core::Graph& graph = *shared_graph;
  v1::ExecuteRequest request;
  request.set_session_id(session_->id());
  int64_t inline_bytes = 0;
  const bool donation = session_->Offers(kFeatureDonation);
  for (size_t i = 0; i < parameters.size(); ++i) {
    const std::shared_ptr<Buffer>& parameter = parameters[i];
    auto& buffer = static_cast<RemoteBuffer&>(*parameter);
    v1::Binding* binding = request.add_bindings();
    std::lock_guard<std::mutex> lock(buffer.mu());
    if (buffer.id() == 0 && buffer.host()->size() <= kInlineBindingBytes) {
      core::TypeToProto(buffer.type(), binding->mutable_tensor()->mutable_spec());
      binding->mutable_tensor()->set_data(*buffer.host());
      inline_bytes += static_cast<int64_t>(buffer.host()->size());
      continue;
    }
    if (buffer.id() == 0) Upload(buffer);
    ThrowIfLost(buffer);
    binding->set_buffer_id(buffer.id());
    // Its array dies with this eval and nothing else shares the buffer (owners: the array
    // and `parameters`): the daemon may write over it, a KV cache updated in place.
    if (donation && i < hints.donatable.size() && hints.donatable[i] &&
        parameter.use_count() == 2) {
      binding->set_donate(true);
      buffer.set_donated();
      session_->UpdateStats([](DeviceStats& stats) { ++stats.donated; });
    }
  }

  const std::string graph_id = core::GraphFingerprint(graph);
  const size_t first_held = hints.first_held_output;
  if (session_->pipeline() != nullptr) {
    return ExecuteOnPipeline(std::move(shared_graph), graph_id, std::move(request), inline_bytes,
                             hints.first_held_output);
  }
  bool ships_graph = !session_->graphs().Holds(graph_id);
  if (ships_graph) {
    core::GraphToProto(graph, request.mutable_graph());
  } else {
    request.set_graph_id(graph_id);
  }
  std::vector<bool> read;
  const std::shared_ptr<OutputReads::Marks> reads =
      session_->output_reads().ForEval(graph_id, graph.outputs.size(), first_held, &read);
  SetOutputs(graph, read, first_held, request);
  for (uint64_t id : session_->TakeReleases()) request.add_release_buffer_ids(id);
  const std::shared_ptr<EvalRecord>& record = CurrentEval();
  if (record != nullptr) {
    request.set_profile(record->device_steps() ? v1::PROFILE_STEPS : v1::PROFILE_PHASES);
    record->Sent(ships_graph);
  }

  v1::ExecuteResponse response;
  std::string missing_graph;
  grpc::Status status = Call(request, ships_graph, &response, &missing_graph);
  if (!ships_graph && missing_graph == graph_id) {
    // The daemon no longer holds the graph (evicted, or restarted): ship it once more.
    // The releases went through with the first request.
    session_->graphs().Forget(graph_id);
    session_->UpdateStats([](DeviceStats& stats) { ++stats.graphs_resent; });
    ships_graph = true;
    request.clear_graph_id();
    core::GraphToProto(graph, request.mutable_graph());
    request.clear_release_buffer_ids();
    SetOutputs(graph, read, first_held, request);
    status = Call(request, ships_graph, &response, &missing_graph);
  }
  if (!status.ok()) throw ToError(status, session_->address());
  if (record != nullptr) {
    record->Answered(response.has_profile() ? &response.profile() : nullptr);
  }
  session_->graphs().Add(response.graph_id().empty() ? graph_id : response.graph_id());

  if (response.outputs_size() != static_cast<int>(graph.outputs.size())) {
    throw Error(ErrorCode::kInternal,
                absl::StrCat("ferryd returned ", response.outputs_size(),
                             " outputs for a graph with ", graph.outputs.size()));
  }
  std::vector<std::shared_ptr<Buffer>> buffers;
  buffers.reserve(graph.outputs.size());
  for (int i = 0; i < response.outputs_size(); ++i) {
    const v1::OutputResult& result = response.outputs(i);
    const core::TensorType& type = graph.nodes[graph.outputs[i]].out;
    const size_t nbytes = core::NumBytes(type);
    std::optional<std::string> host;
    if (result.has_data()) {
      if (result.data().size() != nbytes) {
        throw Error(ErrorCode::kInternal,
                    absl::StrCat("ferryd returned ", result.data().size(), " bytes for output ", i,
                                 " of type ", core::TypeToString(type)));
      }
      host = result.data();
      inline_bytes += static_cast<int64_t>(nbytes);
    }
    auto buffer = std::make_shared<RemoteBuffer>(type, session_, request.outputs(i).buffer_id(),
                                                 std::move(host));
    buffer->set_reads(reads, i);
    buffers.push_back(std::move(buffer));
  }
  session_->UpdateStats([&](DeviceStats& stats) { stats.inline_bytes += inline_bytes; });
  return buffers;
}

std::string RemoteDevice::AddressForPeers() const {
  const v1::OpenSessionResponse& opened = session_->opened();
  if (!session_->peer_address().empty()) return session_->peer_address();
  if (!session_->bulk_address().empty()) return session_->bulk_address();
  const std::optional<std::string> host = TargetHost(session_->address());
  if (!host.has_value()) return "";
  const std::string port = std::to_string(opened.bulk_channel().port());
  return host->find(':') == std::string::npos ? absl::StrCat(*host, ":", port)
                                              : absl::StrCat("[", *host, "]:", port);
}

std::string RemoteDevice::CopyAddress() const {
  return session_->peer_copies() && session_->Offers(kFeaturePeerCopy) ? AddressForPeers() : "";
}

void RemoteDevice::Offer(RemoteBuffer& buffer, const std::string& ticket) {
  std::lock_guard<std::mutex> lock(buffer.mu());
  if (buffer.id() == 0) Upload(buffer);
  ThrowIfLost(buffer);
  v1::PipelineRequest step;
  step.mutable_offer()->set_buffer_id(buffer.id());
  step.mutable_offer()->set_ticket(ticket);
  session_->pipeline()->Send(std::move(step));
}

std::vector<std::shared_ptr<Buffer>> RemoteDevice::ExecuteOnPipeline(
    std::shared_ptr<const core::Graph> shared_graph, const std::string& graph_id,
    v1::ExecuteRequest request, int64_t inline_bytes, size_t first_held) {
  const core::Graph& graph = *shared_graph;
  request.clear_session_id();
  const bool ships_graph = !session_->graphs().Holds(graph_id);
  std::shared_ptr<const core::Graph> kept;
  if (ships_graph) {
    core::GraphToProto(graph, request.mutable_graph());
    session_->graphs().Add(graph_id);  // the daemon asks for it again if it loses it
  } else {
    request.set_graph_id(graph_id);
    kept = shared_graph;  // no copy: the graph is not changed after lowering
  }
  std::vector<bool> read;
  const std::shared_ptr<OutputReads::Marks> reads =
      session_->output_reads().ForEval(graph_id, graph.outputs.size(), first_held, &read);
  SetOutputs(graph, read, first_held, request);
  for (uint64_t id : session_->TakeReleases()) request.add_release_buffer_ids(id);
  PipelineStream::AnswerHook on_answer;
  if (const std::shared_ptr<EvalRecord>& record = CurrentEval()) {
    request.set_profile(record->device_steps() ? v1::PROFILE_STEPS : v1::PROFILE_PHASES);
    record->Sent(ships_graph);
    on_answer = [record](const v1::PipelineResponse* answer) {
      if (answer == nullptr) {
        record->Failed(
            Error(ErrorCode::kUnavailable, "the pipeline stream broke before the answer came"));
      } else if (answer->has_failure()) {
        record->Failed(StepError(answer->failure()));
      } else {
        record->Answered(answer->execute().has_profile() ? &answer->execute().profile() : nullptr);
      }
    };
  }
  v1::PipelineRequest step;
  *step.mutable_execute() = std::move(request);
  step.set_want_reply(true);
  auto [step_id, reply] = session_->pipeline()->Send(step, std::move(kept), std::move(on_answer));
  session_->UpdateStats([&](DeviceStats& stats) {
    ++stats.executes;
    if (ships_graph) ++stats.graphs_sent;
    stats.inline_bytes += inline_bytes;
  });
  std::vector<std::shared_ptr<Buffer>> buffers;
  buffers.reserve(graph.outputs.size());
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    auto buffer =
        std::make_shared<RemoteBuffer>(graph.nodes[graph.outputs[i]].out, session_,
                                       step.execute().outputs(i).buffer_id(), std::nullopt);
    buffer->set_pending(*reply, static_cast<int>(i));
    buffer->set_reads(reads, static_cast<int>(i));
    buffers.push_back(std::move(buffer));
  }
  return buffers;
}

void RemoteDevice::ThrowIfLost(RemoteBuffer& buffer) {
  if (!buffer.lost() && buffer.pending().has_value() &&
      buffer.pending()->wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
    try {
      buffer.pending()->get();
    } catch (const Error& error) {
      MarkLost(buffer, error);
    }
  }
  if (buffer.lost()) throw StepError(*buffer.failure());
  if (buffer.donated()) {
    throw Error(ErrorCode::kFailedPrecondition,
                "[eval] an array was given to an earlier step to write over (donated) and "
                "cannot be used again; that step failed before computing what replaced it");
  }
}

void RemoteDevice::MarkLost(RemoteBuffer& buffer, const Error& error) {
  buffer.set_lost();
  buffer.failure().emplace();
  buffer.failure()->set_code(static_cast<int32_t>(error.code()));
  buffer.failure()->set_message(error.what());
}

void RemoteDevice::Resolve(RemoteBuffer& buffer) {
  if (buffer.failure().has_value()) throw StepError(*buffer.failure());
  if (!buffer.pending().has_value()) return;
  const StepReply reply = *std::exchange(buffer.pending(), std::nullopt);
  try {
    reply.get();
  } catch (const Error& error) {
    MarkLost(buffer, error);
    throw;
  }
  const v1::PipelineResponse& response = reply.get();
  const int output = buffer.output();
  PipelineStream& pipeline = *session_->pipeline();
  if (response.has_failure()) {
    buffer.failure() = response.failure();
    pipeline.MarkRaised(response.failure());
    throw StepError(response.failure());
  }
  if (std::optional<v1::StepFailure> earlier = pipeline.TakeFailureBefore(response.step_id())) {
    throw StepError(*earlier);
  }
  if (!response.has_execute()) return;  // an upload step: its buffer is resident now
  const core::TensorType& type = buffer.type();
  const size_t nbytes = core::NumBytes(type);
  if (output >= response.execute().outputs_size()) {
    throw Error(ErrorCode::kInternal,
                absl::StrCat("ferryd returned ", response.execute().outputs_size(),
                             " outputs; output ", output, " is missing"));
  }
  const v1::OutputResult& result = response.execute().outputs(output);
  if (!result.has_data()) return;
  if (result.data().size() != nbytes) {
    throw Error(ErrorCode::kInternal,
                absl::StrCat("ferryd returned ", result.data().size(), " bytes for output ", output,
                             " of type ", core::TypeToString(type)));
  }
  buffer.set_host(result.data());
  session_->UpdateStats([&](DeviceStats& stats) { stats.inline_bytes += nbytes; });
}

void RemoteDevice::SetOutputs(const core::Graph& graph, const std::vector<bool>& read,
                              size_t first_held, v1::ExecuteRequest& request) {
  request.clear_outputs();
  const int64_t inline_limit = std::max<int64_t>(
      std::min(session_->opened().limits().max_inline_bytes(), kInlineResultBytes), 0);
  int64_t unread_budget = kUnreadInlineBytes;
  for (size_t i = 0; i < graph.outputs.size(); ++i) {
    v1::OutputRequest* output = request.add_outputs();
    output->set_buffer_id(session_->NewBufferId());
    bool wanted = read[i];
    if (!wanted && i < first_held) {
      const int64_t nbytes =
          static_cast<int64_t>(core::NumBytes(graph.nodes[graph.outputs[i]].out));
      wanted = nbytes <= unread_budget;
      if (wanted) unread_budget -= nbytes;
    }
    output->set_inline_up_to_bytes(static_cast<uint64_t>(wanted ? inline_limit : 0));
  }
}

grpc::Status RemoteDevice::Call(const v1::ExecuteRequest& request, bool ships_graph,
                                v1::ExecuteResponse* response, std::string* missing_graph) {
  grpc::ClientContext context;
  session_->Prepare(context);
  const int64_t cancels = session_->cancels();
  session_->AddExecute(&context);
  grpc::Status status = session_->stub().Execute(&context, request, response);
  session_->RemoveExecute(&context);
  if (status.error_code() == grpc::StatusCode::CANCELLED && session_->cancels() != cancels) {
    status = grpc::Status(grpc::StatusCode::CANCELLED, "cancelled by ferry::cancel");
  }
  missing_graph->clear();
  const auto& trailers = context.GetServerTrailingMetadata();
  if (auto it = trailers.find(kMissingGraphMetadata); it != trailers.end()) {
    missing_graph->assign(it->second.data(), it->second.size());
  }
  session_->UpdateStats([&](DeviceStats& stats) {
    ++stats.round_trips;
    ++stats.executes;
    if (ships_graph) ++stats.graphs_sent;
    stats.bytes_sent += static_cast<int64_t>(request.ByteSizeLong());
    stats.bytes_received += static_cast<int64_t>(response->ByteSizeLong());
  });
  return status;
}

void RemoteDevice::UnaryCall(const char* method,
                             const std::function<grpc::Status(grpc::ClientContext*)>& call) {
  grpc::ClientContext context;
  session_->PrepareControl(context);
  grpc::Status status = call(&context);
  session_->UpdateStats([](DeviceStats& stats) { ++stats.round_trips; });
  // Our deadline passed (with none set, a DEADLINE_EXCEEDED is the daemon's own answer).
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      session_->control_timeout().count() > 0) {
    throw Error(ErrorCode::kDeadlineExceeded,
                absl::StrCat("ferryd at ", session_->address(), " did not answer ", method,
                             " within ", session_->control_timeout().count(),
                             " ms (ConnectOptions::control_timeout): ", status.error_message()));
  }
  if (!status.ok()) throw ToError(status, session_->address());
}

std::shared_ptr<DeviceImpl> ConnectRemoteDevice(const std::string& address,
                                                const ConnectOptions& options) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  if (options.keepalive.count() > 0) {
    // Pings go on through a long silent eval; an unanswered one fails the calls in flight
    // (UNAVAILABLE) rather than leave them waiting on a daemon that vanished.
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                static_cast<int>(std::min<int64_t>(options.keepalive.count(), 20000)));
    args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  // Bulk transfers: large HTTP/2 frames and a deep per-stream window, so a chunk is not cut
  // into 16 KiB frames nor waits for window updates on loopback; a connection of its own
  // (a local subchannel pool) so it never shares one with executes.
  grpc::ChannelArguments bulk_args = args;
  bulk_args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, kBulkFrameBytes);
  bulk_args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, kBulkWindowBytes);
  bulk_args.SetInt(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, kBulkWindowBytes);
  bulk_args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials = ChannelCredentials(options);
  auto session = std::make_shared<RemoteSession>(
      address, grpc::CreateCustomChannel(address, credentials, args),
      grpc::CreateCustomChannel(address, credentials, bulk_args), options.token);

  v1::OpenSessionRequest request;
  request.set_min_protocol_version(kProtocolVersion);
  request.set_max_protocol_version(kProtocolVersion);
  request.set_client_name(options.client_name);
  v1::OpenSessionResponse response;
  grpc::ClientContext context;
  session->Prepare(context);
  context.set_deadline(std::chrono::system_clock::now() + options.timeout);
  context.set_wait_for_ready(true);  // wait for the daemon up to the deadline
  grpc::Status status = session->stub().OpenSession(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    throw Error(ErrorCode::kUnavailable,
                absl::StrCat("cannot reach ferryd at ", address, " within ",
                             options.timeout.count(), " ms: ", status.error_message()));
  }
  if (!status.ok()) {
    throw Error(
        static_cast<ErrorCode>(status.error_code()),
        absl::StrCat("ferryd at ", address, " refused the session: ", status.error_message()));
  }
  if (response.protocol_version() != kProtocolVersion) {
    throw Error(
        ErrorCode::kFailedPrecondition,
        absl::StrCat("ferryd at ", address, " chose protocol version ", response.protocol_version(),
                     "; this client speaks only ", kProtocolVersion));
  }
  session->UpdateStats([&](DeviceStats& stats) {
    ++stats.round_trips;
    stats.bytes_sent += static_cast<int64_t>(request.ByteSizeLong());
    stats.bytes_received += static_cast<int64_t>(response.ByteSizeLong());
  });
  session->set_opened(std::move(response));
  session->set_peer_address(options.peer_address);
  session->set_peer_copies(options.peer_copies);
  session->set_upload_cache(options.upload_cache);
  session->set_control_timeout(options.control_timeout);
  if (options.pipeline) session->OpenPipeline();
  if (options.shared_memory) session->EnableSharedMemory();
  if (options.bulk_channel) {
    const std::chrono::milliseconds timeout = std::min(options.timeout, kBulkConnectTimeout);
    if (options.root_certs.empty() && options.client_cert.empty()) {
      session->OpenBulkChannel(options.bulk_address, timeout, options.keepalive, nullptr);
    } else if (absl::StatusOr<std::shared_ptr<core::TlsContext>> tls = core::TlsContext::ForClient(
                   options.root_certs, options.client_cert, options.client_key);
               tls.ok()) {
      session->OpenBulkChannel(options.bulk_address, timeout, options.keepalive, *tls);
    } else {
      std::fprintf(stderr, "ferry: no bulk channel to %s (transfers go over gRPC): %s\n",
                   address.c_str(), std::string(tls.status().message()).c_str());
    }
  }
  return std::make_shared<RemoteDevice>(std::move(session));
}

}  // namespace ferry::detail
