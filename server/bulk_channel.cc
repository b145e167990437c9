#include "server/bulk_channel.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "core/codec.h"
#include "core/stream_socket.h"
#include "server/download.h"
#include "server/log.h"
#include "server/peer_copy.h"
#include "server/raw_transfer.h"
#include "server/tcp_listener.h"
#include "server/upload.h"

namespace ferry::server {
namespace {

// A client that connects and says nothing is dropped after this long.
constexpr int kHelloTimeoutSeconds = 10;
// An idle connection checks this often that its session is still open (a client that
// vanished without closing its socket leaves no thread behind once its lease runs out),
// and a transfer that receives nothing for this long is dropped.
constexpr int kIdleSeconds = 30;

void SetTimeouts(int fd, int seconds) {
  timeval timeout{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
}

// Compares in time independent of where the bytes differ, so a ticket cannot be guessed a
// byte at a time.
bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char differ = 0;
  for (size_t i = 0; i < a.size(); ++i) differ |= static_cast<unsigned char>(a[i] ^ b[i]);
  return differ == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<BulkChannelServer>> BulkChannelServer::Start(
    const std::string& address, SessionManager& sessions, kernels::Backend& backend,
    Observer observer, std::shared_ptr<const core::TlsContext> tls, PeerLinks* peers,
    absl::Duration keepalive) {
  absl::StatusOr<TcpListener> listener = ListenTcp(address, "the bulk channel");
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<BulkChannelServer>(
      new BulkChannelServer(listener->fd, listener->port, sessions, backend, std::move(observer),
                            std::move(tls), peers, keepalive));
}

BulkChannelServer::BulkChannelServer(int listen_fd, int port, SessionManager& sessions,
                                     kernels::Backend& backend, Observer observer,
                                     std::shared_ptr<const core::TlsContext> tls, PeerLinks* peers,
                                     absl::Duration keepalive)
    : listen_fd_(listen_fd),
      port_(port),
      sessions_(sessions),
      backend_(backend),
      observer_(std::move(observer)),
      tls_(std::move(tls)),
      peers_(peers),
      keepalive_(keepalive) {
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

BulkChannelServer::~BulkChannelServer() {
  stopping_ = true;
  acceptor_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& connection : connections_) shutdown(connection->fd, SHUT_RDWR);
  for (auto& connection : connections_) {
    connection->thread.join();
    close(connection->fd);
  }
}

void BulkChannelServer::AcceptLoop() {
  while (!stopping_) {
    pollfd ready{listen_fd_, POLLIN, 0};
    if (poll(&ready, 1, 200) <= 0) continue;  // wakes to notice stopping_
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    core::KeepAlive(fd, keepalive_);  // a vanished client's connection ends
    std::lock_guard<std::mutex> lock(mu_);
    // Threads that finished are joined here, so they never pile up.
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (!(*it)->done) {
        ++it;
        continue;
      }
      (*it)->thread.join();
      close((*it)->fd);
      it = connections_.erase(it);
    }
    if (connections_.size() >= kMaxConnections) {
      Log(LogLevel::kWarning,
          absl::StrCat("bulk channel: ", kMaxConnections, " connections open; refusing another"));
      close(fd);
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    Connection* raw = connection.get();
    connection->thread = std::thread([this, raw] {
      Serve(raw->fd);
      shutdown(raw->fd, SHUT_RDWR);  // the peer sees the end now; the fd closes when reaped
      raw->done = true;
    });
    connections_.push_back(std::move(connection));
  }
}

absl::StatusOr<v1::BulkHello> BulkChannelServer::ReceiveHello(core::ByteStream& stream) {
  char magic[sizeof(core::kBulkMagic)];
  if (absl::Status got = stream.Receive(magic, sizeof(magic)); !got.ok()) return got;
  if (!std::equal(magic, magic + sizeof(magic), core::kBulkMagic)) {
    return absl::InvalidArgumentError("bulk channel: the peer is not a ferry client");
  }
  v1::BulkHello hello;
  if (absl::Status status = core::ReceiveMessage(stream, &hello); !status.ok()) return status;
  return hello;
}

absl::StatusOr<std::string> BulkChannelServer::Admit(core::ByteStream& stream,
                                                     const v1::BulkHello& hello) {
  absl::Status status;
  absl::StatusOr<SessionRef> session = sessions_.Acquire(hello.session_id());
  if (!session.ok()) {
    status = session.status();
  } else if ((*session)->bulk_ticket().empty() ||
             !SameSecret((*session)->bulk_ticket(), hello.ticket())) {
    status = absl::PermissionDeniedError(absl::StrCat("bulk channel: wrong ticket for session ",
                                                      hello.session_id().substr(0, 8), "..."));
  }
  // Counted before the answer: a pipeline step sent after it finds the connection open.
  if (status.ok()) (*session)->BulkConnected();
  core::SendMessage(stream, BulkAnswer(status)).IgnoreError();
  if (!status.ok()) return status;
  return hello.session_id();
}

void BulkChannelServer::ServePeer(std::unique_ptr<core::ByteStream> stream,
                                  const v1::PeerHello& peer) {
  absl::Status status;
  if (peers_ == nullptr) {
    status = absl::FailedPreconditionError("bulk channel: this daemon joins no groups");
  } else if (absl::Status allowed = peers_->CheckRemote(stream->fd()); !allowed.ok()) {
    status =
        absl::PermissionDeniedError(absl::StrCat("bulk channel: a link from ", allowed.message()));
    Log(LogLevel::kWarning, status.message());
  } else if (!peers_->Expecting(peer.key(), peer.to_rank())) {
    // Also while the rank's JoinGroup has not begun: the dialing daemon tries again.
    status = absl::NotFoundError(absl::StrCat("bulk channel: no session here is joining rank ",
                                              peer.to_rank(), " of that group"));
  }
  if (!core::SendMessage(*stream, BulkAnswer(status)).ok() || !status.ok()) return;
  auto released = std::make_shared<absl::Notification>();
  PeerLink link{std::move(stream), [released] { released->Notify(); }};
  if (!peers_->Deliver(peer.key(), peer.to_rank(), std::move(link)).ok()) return;
  Log(LogLevel::kDebug, absl::StrCat("bulk channel: rank ", peer.from_rank(), " linked to rank ",
                                     peer.to_rank(), " of a group"));
  while (!stopping_ && !released->WaitForNotificationWithTimeout(absl::Milliseconds(200))) {
  }
}

void BulkChannelServer::Serve(int fd) {
  SetTimeouts(fd, kHelloTimeoutSeconds);
  // Beside a TLS gRPC port the bulk channel speaks TLS too, with the same certificates.
  absl::StatusOr<std::unique_ptr<core::ByteStream>> stream =
      tls_ != nullptr ? tls_->Accept(fd)
                      : absl::StatusOr<std::unique_ptr<core::ByteStream>>(
                            std::make_unique<core::ByteStream>(fd));
  if (!stream.ok()) {
    Log(LogLevel::kInfo,
        absl::StrCat("bulk channel: refused a connection: ", stream.status().message()));
    return;
  }
  absl::StatusOr<v1::BulkHello> hello = ReceiveHello(**stream);
  if (!hello.ok()) {
    Log(LogLevel::kInfo,
        absl::StrCat("bulk channel: refused a connection: ", hello.status().message()));
    return;
  }
  if (hello->has_peer()) {
    ServePeer(*std::move(stream), hello->peer());
    return;
  }
  if (hello->has_fetch()) {
    SetTimeouts(fd, kIdleSeconds);
    ServeFetches(
        **stream, sessions_, backend_, peers_, hello->fetch(), [this] { return stopping_.load(); },
        [this](const absl::Status& served, absl::Time start, uint64_t sent) {
          Observe("bulk/Fetch", served, start, 0, static_cast<int64_t>(sent));
          if (!served.ok()) {
            Log(LogLevel::kInfo,
                absl::StrCat("bulk channel: a fetch by another daemon failed: ", served.message()));
          }
        });
    return;
  }
  absl::StatusOr<std::string> session_id = Admit(**stream, *hello);
  if (!session_id.ok()) {
    Log(LogLevel::kInfo,
        absl::StrCat("bulk channel: refused a connection: ", session_id.status().message()));
    return;
  }
  absl::Cleanup disconnected = [&] {
    if (absl::StatusOr<SessionRef> session = sessions_.Acquire(*session_id); session.ok()) {
      (*session)->BulkDisconnected();
    }
  };
  SetTimeouts(fd, kIdleSeconds);
  Log(LogLevel::kDebug,
      absl::StrCat("bulk channel: session ", session_id->substr(0, 8), "... connected"));
  while (!stopping_) {
    pollfd readable{fd, POLLIN, 0};
    const int ready = (*stream)->Buffered() ? 1 : poll(&readable, 1, kIdleSeconds * 1000);
    if (ready < 0 && errno != EINTR) return;
    if (ready <= 0) {
      if (!sessions_.IsOpen(*session_id)) return;  // closed or expired: nothing more to carry
      continue;
    }
    v1::BulkRequest request;
    absl::Status received = core::ReceiveMessage(**stream, &request);
    if (!received.ok()) {
      // A message that does not parse leaves nothing to resynchronize on: say why and close.
      if (received.code() == absl::StatusCode::kInvalidArgument) {
        core::SendMessage(**stream, BulkAnswer(received)).IgnoreError();
      }
      return;
    }
    bool open = true;
    switch (request.kind_case()) {
      case v1::BulkRequest::kUpload:
        Release(*session_id, request.release_buffer_ids());
        open = Upload(**stream, *session_id, request.upload(), request.for_pipeline());
        break;
      case v1::BulkRequest::kDownload:
        open = Download(**stream, *session_id, request.download());
        break;
      default:
        open = core::SendMessage(**stream, BulkAnswer(absl::InvalidArgumentError(
                                               "bulk channel: a request with neither upload nor "
                                               "download")))
                   .ok();
    }
    if (!open) return;
  }
}

void BulkChannelServer::Release(const std::string& session_id,
                                const google::protobuf::RepeatedField<uint64_t>& buffer_ids) {
  if (buffer_ids.empty()) return;
  // An unknown session is the upload's to report.
  if (absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id); session.ok()) {
    (*session)->Release(absl::MakeConstSpan(buffer_ids.data(), buffer_ids.size()));
  }
}

bool BulkChannelServer::Upload(core::ByteStream& stream, const std::string& session_id,
                               const v1::UploadRequest& request, bool for_pipeline) {
  const absl::Time start = absl::Now();
  const uint64_t buffer_id = request.buffer_id();
  const bool query = request.resume_query() || request.cache_query();
  for_pipeline = for_pipeline && !query;  // a query is always answered
  // For a pipeline step: the step that names the buffer waits for what arrives here.
  std::optional<SessionRef> waiting;
  if (for_pipeline) {
    if (absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id); session.ok()) {
      waiting.emplace(*std::move(session));
      (*waiting)->StartArrival(buffer_id);
    }
  }
  v1::UploadRequest first;
  first.set_session_id(session_id);
  first.set_buffer_id(buffer_id);
  *first.mutable_spec() = request.spec();
  first.set_total_bytes(request.total_bytes());
  first.set_resume_query(request.resume_query());
  first.set_resume_offset(request.resume_offset());
  first.set_content_digest(request.content_digest());
  first.set_cache_query(request.cache_query());
  UploadReceiver receiver(sessions_, backend_);
  const int fd = stream.fd();
  receiver.set_interrupt([fd] { shutdown(fd, SHUT_RDWR); });  // this thread closes fd later
  absl::Status status = receiver.Begin(first);
  // The bytes are on the wire whatever the verdict: an accepted upload reads them into its
  // tensor, a refused one reads past them so the next request is where it should be. Runs
  // of kRawRunBytes, so a connection that breaks leaves all but the last run counted.
  const uint64_t expected = query || request.resume_offset() >= request.total_bytes()
                                ? 0
                                : request.total_bytes() - request.resume_offset();
  uint64_t left = 0;
  const absl::Status received = ReceiveTensorBytes(stream, receiver, status, expected, &left);
  if (!received.ok()) {
    // The failed arrival first: a resume waits for KeepForResume, and then clears it.
    if (waiting.has_value()) (*waiting)->PutArrival(buffer_id, received);
    if (status.ok()) receiver.KeepForResume();
    Observe("bulk/Upload", received, start, static_cast<int64_t>(expected - left), 0);
    return false;
  }
  Observe("bulk/Upload", status, start, static_cast<int64_t>(expected), 0);
  if (for_pipeline) {
    if (waiting.has_value()) {
      (*waiting)->PutArrival(buffer_id, status.ok() ? receiver.FinishTensor()
                                                    : absl::StatusOr<kernels::Tensor>(status));
    }
    return true;
  }
  absl::StatusOr<v1::UploadResponse> done =
      status.ok() ? receiver.Finish() : absl::StatusOr<v1::UploadResponse>(status);
  v1::BulkResponse answer = BulkAnswer(done.status());
  if (done.ok()) *answer.mutable_upload() = *done;
  return core::SendMessage(stream, answer).ok();
}

bool BulkChannelServer::Download(core::ByteStream& stream, const std::string& session_id,
                                 const v1::DownloadRequest& request) {
  const absl::Time start = absl::Now();
  absl::StatusOr<SessionRef> session = sessions_.Acquire(session_id);
  absl::StatusOr<kernels::Tensor> tensor =
      session.ok() ? (*session)->Get(request.buffer_id()) : session.status();
  if (tensor.ok()) {
    absl::Status in_range = CheckDownloadOffset(request.buffer_id(), request.offset(), *tensor);
    if (!in_range.ok()) tensor = in_range;
  }
  v1::BulkResponse answer = BulkAnswer(tensor.status());
  if (tensor.ok()) {
    core::TypeToProto(tensor->type, answer.mutable_download()->mutable_spec());
    answer.mutable_download()->set_total_bytes(tensor->nbytes());
    answer.mutable_download()->set_offset(request.offset());
  }
  if (!core::SendMessage(stream, answer).ok()) return false;
  if (!tensor.ok()) {
    Observe("bulk/Download", tensor.status(), start, 0, 0);
    return true;
  }
  // The tensor held here keeps its storage: no release or in-place step reuses it meanwhile.
  const uint64_t total_bytes = tensor->nbytes();
  const absl::Status sent =
      SendTensorBytes(stream, backend_, (*session)->queue(), *tensor, request.offset());
  Observe("bulk/Download", sent, start, 0, static_cast<int64_t>(total_bytes - request.offset()));
  if (!sent.ok()) {
    // The answer promised the bytes; a short stream is all that can say it failed.
    Log(LogLevel::kWarning, absl::StrCat("bulk channel: download of buffer ", request.buffer_id(),
                                         " stopped: ", sent.message()));
    return false;
  }
  return true;
}

void BulkChannelServer::Observe(absl::string_view method, const absl::Status& status,
                                absl::Time start, int64_t received, int64_t sent) {
  if (observer_) observer_(method, status.code(), absl::Now() - start, received, sent);
}

}  // namespace ferry::server
