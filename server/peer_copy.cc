#include "server/peer_copy.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "server/raw_transfer.h"

namespace ferry::server {
namespace {

// Connecting to the source and its answer to the hello, which comes at once.
constexpr absl::Duration kDialTimeout = absl::Seconds(10);
// Once the bytes flow, a source silent this long is gone; while the offer is awaited,
// keepalive probes at this idle time notice a vanished host.
constexpr absl::Duration kSilenceTimeout = absl::Seconds(30);

void SetReceiveTimeout(int fd, absl::Duration timeout) {
  const timeval limit = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
}

// Waits until the source's answer starts to arrive, asking `cancelled` every 200 ms.
absl::Status AwaitAnswer(core::ByteStream& stream, const std::function<bool()>& cancelled) {
  while (!stream.Buffered()) {
    if (cancelled && cancelled()) return absl::CancelledError("the step was stopped");
    pollfd readable{stream.fd(), POLLIN, 0};
    const int ready = poll(&readable, 1, 200);
    if (ready > 0) return absl::OkStatus();
    if (ready < 0 && errno != EINTR) return absl::UnavailableError("the connection failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<kernels::Tensor> Receive(PeerLink& link, SessionManager& sessions,
                                        kernels::Backend& backend, const std::string& session_id,
                                        uint64_t buffer_id, const core::TensorType& type,
                                        const std::function<bool()>& cancelled) {
  core::ByteStream& stream = *link.stream;
  core::KeepAlive(stream.fd(), kSilenceTimeout);
  if (absl::Status waited = AwaitAnswer(stream, cancelled); !waited.ok()) return waited;
  SetReceiveTimeout(stream.fd(), kSilenceTimeout);
  v1::BulkResponse answer;
  if (absl::Status got = core::ReceiveMessage(stream, &answer); !got.ok()) return got;
  if (answer.code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(answer.code()), answer.message());
  }
  absl::StatusOr<core::TensorType> offered = core::TypeFromProto(answer.download().spec());
  if (!offered.ok()) return offered.status();
  const uint64_t expected =
      static_cast<uint64_t>(core::NumElements(type.shape)) * core::SizeOf(type.dtype);
  if (!(*offered == type) || answer.download().total_bytes() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("the source holds ", core::TypeToString(*offered), " but the step declares ",
                     core::TypeToString(type)));
  }
  v1::UploadRequest first;
  first.set_session_id(session_id);
  first.set_buffer_id(buffer_id);
  *first.mutable_spec() = answer.download().spec();
  first.set_total_bytes(answer.download().total_bytes());
  UploadReceiver receiver(sessions, backend);
  absl::Status accepted = receiver.Begin(first);
  if (!accepted.ok()) return accepted;  // the connection closes: the rest is not read
  uint64_t left = 0;
  const absl::Status received =
      ReceiveTensorBytes(stream, receiver, accepted, first.total_bytes(), &left);
  if (!received.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the connection broke after ", first.total_bytes() - left, " of ",
                     first.total_bytes(), " bytes: ", received.message()));
  }
  if (!accepted.ok()) return accepted;
  return receiver.FinishTensor();
}

}  // namespace

absl::StatusOr<kernels::Tensor> FetchFromPeer(const PeerLinks& links, SessionManager& sessions,
                                              kernels::Backend& backend,
                                              const std::string& session_id, uint64_t buffer_id,
                                              const core::TensorType& type,
                                              const v1::PeerSource& source,
                                              const std::function<bool()>& cancelled) {
  const std::string what =
      absl::StrCat("[copy] buffer ", buffer_id, " from ferryd at ", source.address(), ": ");
  absl::Status valid = PeerOffers::CheckTicket(source.ticket());
  if (valid.ok()) valid = PeerLinks::CheckAddress(source.address());
  if (valid.ok() && source.session_id().empty()) {
    valid = absl::InvalidArgumentError("peer_source names no session");
  }
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(what, valid.message()));
  v1::BulkHello hello;
  hello.mutable_fetch()->set_session_id(source.session_id());
  hello.mutable_fetch()->set_ticket(source.ticket());
  absl::StatusOr<PeerLink> link = links.Dial(source.address(), hello, kDialTimeout);
  if (!link.ok()) {
    return absl::Status(link.status().code(), absl::StrCat(what, link.status().message()));
  }
  absl::StatusOr<kernels::Tensor> tensor =
      Receive(*link, sessions, backend, session_id, buffer_id, type, cancelled);
  shutdown(link->stream->fd(), SHUT_RDWR);
  link->close();
  if (!tensor.ok()) {
    return absl::Status(tensor.status().code(), absl::StrCat(what, tensor.status().message()));
  }
  return tensor;
}

absl::Status ServeFetch(core::ByteStream& stream, SessionManager& sessions,
                        kernels::Backend& backend, const PeerLinks* links,
                        const v1::PeerFetch& fetch, const std::function<bool()>& stop,
                        uint64_t* sent_bytes) {
  *sent_bytes = 0;
  absl::Status status;
  std::optional<SessionRef> session;
  if (links == nullptr) {
    status = absl::FailedPreconditionError("bulk channel: this daemon copies no buffers to others");
  } else if (absl::Status allowed = links->CheckRemote(stream.fd()); !allowed.ok()) {
    status =
        absl::PermissionDeniedError(absl::StrCat("bulk channel: a fetch from ", allowed.message()));
  } else if (absl::Status ticket = PeerOffers::CheckTicket(fetch.ticket()); !ticket.ok()) {
    status = absl::InvalidArgumentError(absl::StrCat("bulk channel: ", ticket.message()));
  } else if (absl::StatusOr<SessionRef> found = sessions.Acquire(fetch.session_id()); !found.ok()) {
    status = found.status();
  } else {
    session.emplace(*std::move(found));
  }
  if (absl::Status sent = core::SendMessage(stream, BulkAnswer(status)); !sent.ok()) return sent;
  if (!status.ok()) return status;
  absl::StatusOr<kernels::Tensor> offered =
      (*session)->offers().Take(fetch.ticket(), kOfferAnnounceTimeout, stop);
  v1::BulkResponse answer = BulkAnswer(offered.status());
  if (offered.ok()) {
    core::TypeToProto(offered->type, answer.mutable_download()->mutable_spec());
    answer.mutable_download()->set_total_bytes(offered->nbytes());
  }
  if (absl::Status sent = core::SendMessage(stream, answer); !sent.ok()) return sent;
  if (!offered.ok()) return offered.status();
  absl::Status sent = SendTensorBytes(stream, backend, (*session)->queue(), *offered, 0);
  if (sent.ok()) *sent_bytes = offered->nbytes();
  return sent;
}

}  // namespace ferry::server
