#include "server/rpc_observer.h"

#include <google/protobuf/message_lite.h>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/log.h"

namespace ferry::server {
namespace {

using grpc::experimental::InterceptionHookPoints;

// Only Ferry's own messages are known to be protobuf objects here; the health service
// passes raw byte buffers through interceptors.
constexpr absl::string_view kFerryMethodPrefix = "/ferry.v1.Ferry/";
// Ferry's methods served with raw messages (grpc::ByteBuffer; see ferry_service.h).
bool IsRawMethod(absl::string_view method) {
  return method == "/ferry.v1.Ferry/Upload" || method == "/ferry.v1.Ferry/Download";
}

LogLevel LevelFor(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return LogLevel::kDebug;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return LogLevel::kWarning;
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::DATA_LOSS:
      return LogLevel::kError;
    default:
      return LogLevel::kInfo;
  }
}

class RpcObserver : public grpc::experimental::Interceptor {
 public:
  RpcObserver(grpc::experimental::ServerRpcInfo* info, Metrics* metrics)
      : info_(info),
        metrics_(metrics),
        method_(info->method()),
        counts_bytes_(absl::StartsWith(method_, kFerryMethodPrefix)),
        raw_(IsRawMethod(method_)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        counts_bytes_) {
      if (const void* message = methods->GetRecvMessage()) received_ += Bytes(message);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE) &&
        counts_bytes_) {
      if (const void* message = methods->GetSendMessage()) sent_ += Bytes(message);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Finish(methods->GetSendStatus());
    }
    methods->Proceed();
  }

 private:
  int64_t Bytes(const void* message) const {
    if (raw_) return static_cast<int64_t>(static_cast<const grpc::ByteBuffer*>(message)->Length());
    return static_cast<int64_t>(
        static_cast<const google::protobuf::MessageLite*>(message)->ByteSizeLong());
  }

  void Finish(const grpc::Status& status) {
    const absl::Duration latency = absl::Now() - start_;
    if (metrics_ != nullptr) {
      metrics_->RecordCall(method_, status.error_code(), latency, received_, sent_);
    }
    const LogLevel level = LevelFor(status.error_code());
    if (!LogEnabled(level)) return;
    std::string line = absl::StrFormat(
        "rpc %s %s in %.3fms from %s", method_, StatusCodeName(status.error_code()),
        absl::ToDoubleMilliseconds(latency), absl::CHexEscape(info_->server_context()->peer()));
    if (!status.ok()) {
      absl::StrAppend(&line, ": ", absl::CHexEscape(status.error_message().substr(0, 300)));
    }
    Log(level, line, RequestId(*info_->server_context()));
  }

  grpc::experimental::ServerRpcInfo* info_;
  Metrics* metrics_;
  const std::string method_;
  const bool counts_bytes_;
  const bool raw_;
  const absl::Time start_ = absl::Now();
  int64_t received_ = 0;
  int64_t sent_ = 0;
};

}  // namespace

std::string RequestId(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kRequestIdKey);
  if (it == metadata.end()) return "";
  std::string id(it->second.data(), std::min<size_t>(it->second.size(), 64));
  for (char& c : id) {
    const bool safe = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                      c == ':' || c == '-';
    if (!safe) c = '_';
  }
  return id;
}

grpc::experimental::Interceptor* RpcObserverFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RpcObserver(info, metrics_);
}

}  // namespace ferry::server
