#ifndef FERRY_SERVER_FERRY_SERVICE_H_
#define FERRY_SERVER_FERRY_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kernels/executor.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "server/auth.h"
#include "server/graph_cache.h"
#include "server/peer_links.h"
#include "server/pipeline.h"
#include "server/server_options.h"
#include "server/session_manager.h"

namespace ferry::server {

// Upload and Download take and give raw messages (gRPC's callback API), so a payload moves
// between the socket's buffers and the tensor without a parsed copy in between.
using FerryServiceBase = v1::Ferry::WithRawCallbackMethod_Upload<
    v1::Ferry::WithRawCallbackMethod_Download<v1::Ferry::Service>>;

// The ferry.v1.Ferry service. Each handler decodes its request, calls a plain function
// returning absl::Status(Or) (execute.h, upload.h, download.h, or the small ones here), and
// maps the result to a grpc::Status with the same code and message.
class FerryService final : public FerryServiceBase {
 public:
  // All must outlive the service. With `auth`, every call must carry one of its tokens.
  FerryService(kernels::Executor& executor, SessionManager& sessions, const ServerOptions& options,
               const TokenAuth* auth = nullptr)
      : executor_(executor),
        sessions_(sessions),
        options_(options),
        auth_(auth),
        graphs_(options.graph_cache_size) {}

  // Call when the daemon starts draining: open Pipeline streams run the steps they hold and
  // then end with UNAVAILABLE, so they do not keep the daemon up until the drain deadline.
  void Drain();

  // Called with the duration of every execute step run on a Pipeline stream (unary
  // Execute calls are timed by the RPC interceptor). Set before serving.
  void set_execute_observer(std::function<void(absl::Duration)> observer) {
    execute_observer_ = std::move(observer);
  }

  // Offers the bulk channel listening on `port` (feature "bulk_tcp"). Set before serving.
  void set_bulk_port(int port) { bulk_port_ = port; }

  // Offers groups (feature "collectives"), whose rings' links arrive on the plaintext bulk
  // channel and wait in `peers`. Set before serving.
  void set_peer_links(PeerLinks* peers) { peer_links_ = peers; }

  // The graphs held for every session, with hit/miss/eviction counts (for metrics).
  const GraphCache& graph_cache() const { return graphs_; }

  grpc::Status OpenSession(grpc::ServerContext* context, const v1::OpenSessionRequest* request,
                           v1::OpenSessionResponse* response) override;
  grpc::Status CloseSession(grpc::ServerContext* context, const v1::CloseSessionRequest* request,
                            v1::CloseSessionResponse* response) override;
  grpc::ServerReadReactor<grpc::ByteBuffer>* Upload(grpc::CallbackServerContext* context,
                                                    grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Download(grpc::CallbackServerContext* context,
                                                       const grpc::ByteBuffer* request) override;
  grpc::Status Execute(grpc::ServerContext* context, const v1::ExecuteRequest* request,
                       v1::ExecuteResponse* response) override;
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest* request,
                       v1::ReleaseResponse* response) override;
  grpc::Status GetInfo(grpc::ServerContext* context, const v1::GetInfoRequest* request,
                       v1::GetInfoResponse* response) override;
  // Runs a stream's steps in order (server/pipeline.h): a reader thread queues them, this
  // thread runs them and writes the answers.
  grpc::Status Pipeline(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<v1::PipelineResponse, v1::PipelineRequest>* stream) override;
  grpc::Status RegisterSharedMemory(grpc::ServerContext* context,
                                    const v1::RegisterSharedMemoryRequest* request,
                                    v1::RegisterSharedMemoryResponse* response) override;
  grpc::Status UnregisterSharedMemory(grpc::ServerContext* context,
                                      const v1::UnregisterSharedMemoryRequest* request,
                                      v1::UnregisterSharedMemoryResponse* response) override;
  grpc::Status JoinGroup(grpc::ServerContext* context, const v1::JoinGroupRequest* request,
                         v1::JoinGroupResponse* response) override;

 private:
  void DescribeDaemon(v1::DeviceInfo* device, v1::Limits* limits) const;
  // The optional features this daemon offers, as OpenSession and GetInfo list them.
  // Whether groups may run their collectives on the backend's own (--device_collectives).
  bool OffersDeviceCollectives() const;
  void AddFeatures(google::protobuf::RepeatedPtrField<std::string>* features) const;
  grpc::Status Authorize(const grpc::ServerContextBase& context) const {
    return auth_ == nullptr ? grpc::Status::OK : auth_->Check(context);
  }

  kernels::Executor& executor_;
  SessionManager& sessions_;
  const ServerOptions& options_;
  const TokenAuth* const auth_;
  const absl::Time started_ = absl::Now();
  GraphCache graphs_;
  std::function<void(absl::Duration)> execute_observer_;
  int bulk_port_ = 0;                // 0: no bulk channel
  PeerLinks* peer_links_ = nullptr;  // null: no groups
  absl::Mutex pipelines_mu_;
  bool draining_ ABSL_GUARDED_BY(pipelines_mu_) = false;
  absl::flat_hash_set<PipelineInbox*> pipelines_ ABSL_GUARDED_BY(pipelines_mu_);
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_FERRY_SERVICE_H_
