#include "client/bulk_socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/status.h"
#include "core/stream_socket.h"

namespace ferry::detail {
namespace {

// A download is read in runs this long; a break loses at most one.
constexpr size_t kReceiveRunBytes = size_t{4} << 20;

// The daemon's answer as a status; one with no message, or with a code gRPC does not have,
// still says what came.
absl::Status FromAnswer(const v1::BulkResponse& answer) {
  if (answer.code() == 0) return absl::OkStatus();
  return ReportedFailure(answer.code(), answer.message(), "bulk channel: the daemon");
}

// A bulk upload request naming `request`'s buffer, spec and size (the rest is the
// channel's: no session, no data).
v1::BulkRequest UploadRequestOf(const v1::UploadRequest& request) {
  v1::BulkRequest bulk;
  v1::UploadRequest* header = bulk.mutable_upload();
  header->set_buffer_id(request.buffer_id());
  *header->mutable_spec() = request.spec();
  header->set_total_bytes(request.total_bytes());
  header->set_content_digest(request.content_digest());
  return bulk;
}

}  // namespace

std::optional<std::string> TargetHost(const std::string& target) {
  absl::string_view rest = target;
  if (absl::StartsWith(rest, "unix:") || absl::StartsWith(rest, "unix-abstract:")) {
    return std::nullopt;
  }
  for (absl::string_view scheme : {"dns:///", "dns:", "ipv4:", "ipv6:"}) {
    if (absl::ConsumePrefix(&rest, scheme)) break;
  }
  if (absl::StartsWith(rest, "[")) {
    const size_t close = rest.find(']');
    if (close == absl::string_view::npos) return std::nullopt;
    return std::string(rest.substr(1, close - 1));
  }
  const size_t colon = rest.rfind(':');
  const absl::string_view host = colon == absl::string_view::npos ? rest : rest.substr(0, colon);
  if (host.empty() || host.find(':') != absl::string_view::npos) return std::nullopt;
  return std::string(host);
}

std::unique_ptr<BulkSocket> BulkSocket::Connect(
    const std::string& target, const std::string& address, const v1::BulkChannel& channel,
    const std::string& session_id, std::chrono::milliseconds timeout,
    std::chrono::milliseconds keepalive, const core::TlsContext* tls, std::string* why) {
  std::optional<std::string> host = TargetHost(address.empty() ? target : address);
  std::string port = std::to_string(channel.port());
  if (!address.empty()) {
    const size_t colon = address.rfind(':');
    if (colon != std::string::npos) port = address.substr(colon + 1);
  } else if (channel.port() == 0 || channel.port() > 65535) {
    host.reset();
  }
  if (!host.has_value()) {
    *why = absl::StrCat("no bulk channel address for ", address.empty() ? target : address);
    return nullptr;
  }
  absl::StatusOr<int> connected = core::ConnectTcp(*host, port, absl::FromChrono(timeout));
  if (!connected.ok()) {
    *why = std::string(connected.status().message());
    return nullptr;
  }
  const int fd = *connected;
  core::KeepAlive(fd, absl::FromChrono(keepalive));
  // The handshake and the hello's answer must come within `timeout` too; transfers then
  // wait as long as they take.
  timeval limit{static_cast<time_t>(timeout.count() / 1000),
                static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  absl::StatusOr<std::unique_ptr<core::ByteStream>> stream = std::make_unique<core::ByteStream>(fd);
  if (tls != nullptr) {
    const std::optional<std::string> named = TargetHost(target);
    stream = named.has_value() ? tls->Connect(fd, *named)
                               : absl::InvalidArgumentError("no host to check the certificate");
  }
  if (!stream.ok()) {
    close(fd);
    *why = std::string(stream.status().message());
    return nullptr;
  }
  std::unique_ptr<BulkSocket> socket(new BulkSocket(fd, *std::move(stream)));
  v1::BulkHello hello;
  hello.set_session_id(session_id);
  hello.set_ticket(channel.ticket());
  v1::BulkResponse answer;
  core::ByteStream& out = *socket->stream_;
  absl::Status status = out.Send(core::kBulkMagic, sizeof(core::kBulkMagic));
  if (status.ok()) status = core::SendMessage(out, hello);
  if (status.ok()) status = core::ReceiveMessage(out, &answer);
  if (status.ok()) status = FromAnswer(answer);
  if (!status.ok()) {
    *why = std::string(status.message());
    return nullptr;
  }
  timeval forever{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof(forever));
  return socket;
}

BulkSocket::~BulkSocket() {
  stream_.reset();  // TLS says goodbye before the socket closes
  close(fd_);
}

bool BulkSocket::broken() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!broken_) {
    // No transfer holds mu_ and the daemon sends nothing unasked, so an end of stream or an
    // error here means the connection is gone. (Bytes waiting, a TLS ticket, are not.)
    char byte;
    const ssize_t n = recv(fd_, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
      Broke(absl::UnavailableError("bulk channel: the daemon's end closed")).IgnoreError();
    }
  }
  return broken_;
}

void BulkSocket::Interrupt() { shutdown(fd_, SHUT_RDWR); }

absl::Status BulkSocket::Broke(absl::Status status) {
  broken_ = true;
  shutdown(fd_, SHUT_RDWR);
  return status;
}

absl::Status BulkSocket::ReadAnswer(v1::BulkResponse* answer) {
  if (absl::Status received = core::ReceiveMessage(*stream_, answer); !received.ok()) {
    return Broke(received);
  }
  return FromAnswer(*answer);
}

absl::Status BulkSocket::Upload(const v1::UploadRequest& request, const char* data,
                                const std::vector<uint64_t>& releases, bool for_pipeline) {
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_) return absl::UnavailableError("bulk channel: the connection broke earlier");
  v1::BulkRequest bulk = UploadRequestOf(request);
  bulk.mutable_upload()->set_resume_offset(request.resume_offset());
  for (uint64_t id : releases) bulk.add_release_buffer_ids(id);
  bulk.set_for_pipeline(for_pipeline);
  const uint64_t from = std::min(request.resume_offset(), request.total_bytes());
  absl::Status sent = core::SendMessage(*stream_, bulk);
  if (sent.ok()) sent = stream_->Send(data + from, request.total_bytes() - from);
  if (!sent.ok()) return Broke(sent);
  if (for_pipeline) return absl::OkStatus();
  v1::BulkResponse answer;
  return ReadAnswer(&answer);
}

absl::StatusOr<uint64_t> BulkSocket::HeldBytes(const v1::UploadRequest& request) {
  std::vector<absl::StatusOr<uint64_t>> held = HeldBytes(std::vector<v1::UploadRequest>{request});
  return held.front();
}

std::vector<absl::StatusOr<uint64_t>> BulkSocket::HeldBytes(
    const std::vector<v1::UploadRequest>& queries) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<absl::StatusOr<uint64_t>> held(
      queries.size(), absl::UnavailableError("bulk channel: the connection broke earlier"));
  if (broken_) return held;
  for (const v1::UploadRequest& query : queries) {
    v1::BulkRequest bulk = UploadRequestOf(query);
    bulk.mutable_upload()->set_resume_query(query.resume_query());
    bulk.mutable_upload()->set_cache_query(query.cache_query());
    if (absl::Status sent = core::SendMessage(*stream_, bulk); !sent.ok()) {
      held.assign(queries.size(), Broke(sent));
      return held;
    }
  }
  // Every answer is read, refusals too, so the stream stays in step.
  for (absl::StatusOr<uint64_t>& answered : held) {
    v1::BulkResponse answer;
    absl::Status status = ReadAnswer(&answer);
    if (broken_) {  // this one and the rest: UNAVAILABLE
      answered = status;
      return held;
    }
    answered = status.ok() ? absl::StatusOr<uint64_t>(answer.upload().bytes_received()) : status;
  }
  return held;
}

absl::Status BulkSocket::Download(uint64_t buffer_id, char* dst, size_t bytes, size_t* done) {
  std::lock_guard<std::mutex> lock(mu_);
  if (broken_) return absl::UnavailableError("bulk channel: the connection broke earlier");
  v1::BulkRequest bulk;
  bulk.mutable_download()->set_buffer_id(buffer_id);
  bulk.mutable_download()->set_offset(*done);
  if (absl::Status sent = core::SendMessage(*stream_, bulk); !sent.ok()) return Broke(sent);
  v1::BulkResponse answer;
  if (absl::Status answered = ReadAnswer(&answer); !answered.ok()) return answered;
  const uint64_t total_bytes = answer.download().total_bytes();
  if (total_bytes != bytes) {
    // The bytes that follow cannot be placed; the stream is out of step from here.
    return Broke(absl::DataLossError(absl::StrCat("bulk channel: buffer ", buffer_id, " has ",
                                                  total_bytes, " bytes; expected ", bytes)));
  }
  // In runs, so a connection that breaks leaves all but the last one counted.
  while (*done < bytes) {
    const size_t run = std::min(bytes - *done, kReceiveRunBytes);
    if (absl::Status received = stream_->Receive(dst + *done, run); !received.ok()) {
      return Broke(received);
    }
    *done += run;
  }
  return absl::OkStatus();
}

}  // namespace ferry::detail
