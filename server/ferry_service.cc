#include "server/ferry_service.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/download.h"
#include "server/execute.h"
#include "server/log.h"
#include "server/upload.h"

namespace ferry::server {
namespace {

constexpr char kFeatureGraphCache[] = "graph_cache";

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
  limits->set_chunk_bytes(options_.chunk_bytes);
  limits->set_max_inline_bytes(options_.max_inline_bytes);
  limits->set_max_graph_nodes(options_.max_graph_nodes);
  limits->set_lease_seconds(absl::ToInt64Seconds(options_.lease));
  limits->set_max_message_bytes(options_.max_message_bytes);
}

grpc::Status FerryService::OpenSession(grpc::ServerContext* context,
                                       const v1::OpenSessionRequest* request,
                                       v1::OpenSessionResponse* response) {
  absl::StatusOr<uint32_t> version =
      NegotiateVersion(request->min_protocol_version(), request->max_protocol_version());
  if (!version.ok()) return ToGrpc(version.status());
  SessionRef session = sessions_.Open(request->client_name());
  LogEvent(absl::StrCat("session ", session->id(), " opened for \"", ForLog(request->client_name()),
                        "\" at ", ForLog(context->peer()), " (protocol ", *version, ")"));
  response->set_session_id(session->id());
  response->set_protocol_version(*version);
  DescribeDaemon(response->mutable_device(), response->mutable_limits());
  response->add_features(kFeatureGraphCache);
  response->set_server_version(kServerVersion);
  return grpc::Status::OK;
}

grpc::Status FerryService::CloseSession(grpc::ServerContext*,
                                        const v1::CloseSessionRequest* request,
                                        v1::CloseSessionResponse*) {
  return ToGrpc(sessions_.Close(request->session_id()));
}

grpc::Status FerryService::Upload(grpc::ServerContext*,
                                  grpc::ServerReader<v1::UploadRequest>* reader,
                                  v1::UploadResponse* response) {
  return ToGrpc(
      ReceiveUpload(sessions_, executor_.backend(),
                    [reader](v1::UploadRequest* message) { return reader->Read(message); }),
      response);
}

grpc::Status FerryService::Download(grpc::ServerContext*, const v1::DownloadRequest* request,
                                    grpc::ServerWriter<v1::DownloadResponse>* writer) {
  // Leave room in each message for its header fields under the receive limit clients
  // are told about.
  const int64_t max_chunk = std::max<int64_t>(options_.max_message_bytes - 4096, 1);
  return ToGrpc(SendDownload(
      sessions_, executor_.backend(), *request, options_.chunk_bytes, max_chunk,
      [writer](const v1::DownloadResponse& message) { return writer->Write(message); }));
}

grpc::Status FerryService::Execute(grpc::ServerContext*, const v1::ExecuteRequest* request,
                                   v1::ExecuteResponse* response) {
  absl::StatusOr<SessionRef> session = sessions_.Acquire(request->session_id());
  if (!session.ok()) return ToGrpc(session.status());
  kernels::QueueScope queue((*session)->queue());
  return ToGrpc(server::Execute(**session, executor_, options_, *request), response);
}

grpc::Status FerryService::Release(grpc::ServerContext*, const v1::ReleaseRequest* request,
                                   v1::ReleaseResponse*) {
  absl::StatusOr<SessionRef> session = sessions_.Acquire(request->session_id());
  if (!session.ok()) return ToGrpc(session.status());
  (*session)->Release(request->buffer_ids());
  return grpc::Status::OK;
}

grpc::Status FerryService::GetInfo(grpc::ServerContext*, const v1::GetInfoRequest* request,
                                   v1::GetInfoResponse* response) {
  if (!request->session_id().empty()) {
    absl::StatusOr<SessionRef> session = sessions_.Acquire(request->session_id());
    if (!session.ok()) return ToGrpc(session.status());
    response->set_session_buffers((*session)->num_buffers());
    response->set_session_resident_bytes((*session)->resident_bytes());
  }
  response->set_server_version(kServerVersion);
  response->set_min_protocol_version(kMinProtocolVersion);
  response->set_max_protocol_version(kMaxProtocolVersion);
  DescribeDaemon(response->mutable_device(), response->mutable_limits());
  response->set_sessions(sessions_.num_sessions());
  response->set_resident_bytes(sessions_.resident_bytes());
  response->set_cached_graphs(static_cast<int64_t>(executor_.cached_plans()));
  response->add_features(kFeatureGraphCache);
  return grpc::Status::OK;
}

}  // namespace ferry::server
