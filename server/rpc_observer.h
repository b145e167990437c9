#ifndef FERRY_SERVER_RPC_OBSERVER_H_
#define FERRY_SERVER_RPC_OBSERVER_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <string>

#include "server/metrics.h"

namespace ferry::server {

// The metadata key a client names each call with; it appears on every log line of the call.
inline constexpr char kRequestIdKey[] = "x-request-id";

// The call's x-request-id, cut to 64 characters of [A-Za-z0-9._:-] (anything else
// becomes '_') so a client cannot forge log lines; "" when the client sent none.
std::string RequestId(const grpc::ServerContextBase& context);

// A server interceptor that sees every call end: it records the call in `metrics` (when not
// null) and logs one line with its method, status, duration, peer and request id (debug for
// OK, info for the caller's mistakes, warning for refused credentials, error for faults).
class RpcObserverFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RpcObserverFactory(Metrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

 private:
  Metrics* metrics_;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_RPC_OBSERVER_H_
