#include "server/peer_copy.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
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
// A source keeps a fetching daemon's connection this long for its next copy: longer than
// the fetching side keeps it idle (PeerLinks::kFetchIdle), so that side closes it first.
constexpr absl::Duration kSourceIdle = absl::Seconds(60);

void SetReceiveTimeout(int fd, absl::Duration timeout) {
  const timeval limit = absl::ToTimeval(timeout);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
}

// Waits until bytes arrive on `stream`, asking `stop` every 200 ms: CANCELLED once it says
// so, DEADLINE_EXCEEDED at `deadline`, UNAVAILABLE when the connection fails.
absl::Status AwaitReadable(core::ByteStream& stream, const std::function<bool()>& stop,
                           absl::Time deadline = absl::InfiniteFuture()) {
  while (!stream.Buffered()) {
    if (stop && stop()) return absl::CancelledError("the step was stopped");
    if (absl::Now() >= deadline) return absl::DeadlineExceededError("nothing came");
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
  if (absl::Status waited = AwaitReadable(stream, cancelled); !waited.ok()) return waited;
  SetReceiveTimeout(stream.fd(), kSilenceTimeout);
  v1::BulkResponse answer;
  if (absl::Status got = core::ReceiveMessage(stream, &answer); !got.ok()) return got;
  if (answer.code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(answer.code()), answer.message());
  }
  absl::StatusOr<core::TensorType> offered = core::TypeFromProto(answer.download().spec());
  if (!offered.ok()) return offered.status();
  // (total_bytes against the spec: UploadReceiver::Begin checks it.)
  if (!(*offered == type)) {
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

// The source's side of one fetch: its admission answer, then (admitted) the offer's download
// answer and bytes. `*status` says how it went; false once the connection is out of step
// (a send failed, or the bytes stopped part way).
bool ServeFetch(core::ByteStream& stream, SessionManager& sessions, kernels::Backend& backend,
                const PeerLinks* links, const v1::PeerFetch& fetch,
                const std::function<bool()>& stop, absl::Status* status, uint64_t* sent_bytes) {
  std::optional<SessionRef> session;
  if (links == nullptr) {
    *status =
        absl::FailedPreconditionError("bulk channel: this daemon copies no buffers to others");
  } else if (absl::Status allowed = links->CheckRemote(stream.fd()); !allowed.ok()) {
    *status =
        absl::PermissionDeniedError(absl::StrCat("bulk channel: a fetch from ", allowed.message()));
  } else if (absl::Status ticket = PeerOffers::CheckTicket(fetch.ticket()); !ticket.ok()) {
    *status = absl::InvalidArgumentError(absl::StrCat("bulk channel: ", ticket.message()));
  } else if (absl::StatusOr<SessionRef> found = sessions.Acquire(fetch.session_id()); !found.ok()) {
    *status = found.status();
  } else {
    session.emplace(*std::move(found));
  }
  if (absl::Status sent = core::SendMessage(stream, BulkAnswer(*status)); !sent.ok()) {
    *status = sent;
    return false;
  }
  if (!status->ok()) return true;
  absl::StatusOr<kernels::Tensor> offered = (*session)->offers().Take(
      fetch.ticket(), kOfferAnnounceTimeout, stop, [&session] { return (*session)->computing(); });
  v1::BulkResponse answer = BulkAnswer(offered.status());
  if (offered.ok()) {
    core::TypeToProto(offered->type, answer.mutable_download()->mutable_spec());
    answer.mutable_download()->set_total_bytes(offered->nbytes());
  }
  *status = core::SendMessage(stream, answer);
  if (!status->ok()) return false;
  if (!offered.ok()) {
    *status = offered.status();
    return true;
  }
  *status = SendTensorBytes(stream, backend, (*session)->queue(), *offered, 0);
  if (!status->ok()) return false;
  *sent_bytes = offered->nbytes();
  return true;
}

// A connection to the source that has admitted `fetch`: an idle one from an earlier copy,
// else a new one. A kept connection the source closed meanwhile is replaced.
absl::StatusOr<PeerLink> Connect(PeerLinks& links, const std::string& address,
                                 const v1::PeerFetch& fetch) {
  if (std::optional<PeerLink> kept = links.TakeFetchLink(address)) {
    v1::BulkResponse admitted;
    absl::Status asked = core::SendMessage(*kept->stream, fetch);
    if (asked.ok()) asked = core::ReceiveMessage(*kept->stream, &admitted);
    if (asked.ok()) {
      const absl::Status status(static_cast<absl::StatusCode>(admitted.code()), admitted.message());
      if (status.ok()) return *std::move(kept);
      links.PutFetchLink(address, *std::move(kept));  // refused, but still in step
      return status;
    }
    kept->close();
  }
  v1::BulkHello hello;
  *hello.mutable_fetch() = fetch;
  return links.Dial(address, hello, kDialTimeout);
}

}  // namespace

absl::StatusOr<kernels::Tensor> FetchFromPeer(PeerLinks& links, SessionManager& sessions,
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
  v1::PeerFetch fetch;
  fetch.set_session_id(source.session_id());
  fetch.set_ticket(source.ticket());
  absl::StatusOr<PeerLink> link = Connect(links, source.address(), fetch);
  if (!link.ok()) {
    return absl::Status(link.status().code(), absl::StrCat(what, link.status().message()));
  }
  absl::StatusOr<kernels::Tensor> tensor =
      Receive(*link, sessions, backend, session_id, buffer_id, type, cancelled);
  if (!tensor.ok()) {
    shutdown(link->stream->fd(), SHUT_RDWR);
    link->close();
    return absl::Status(tensor.status().code(), absl::StrCat(what, tensor.status().message()));
  }
  links.PutFetchLink(source.address(), *std::move(link));  // for the next copy from there
  return tensor;
}

void ServeFetches(core::ByteStream& stream, SessionManager& sessions, kernels::Backend& backend,
                  const PeerLinks* links, v1::PeerFetch fetch, const std::function<bool()>& stop,
                  const FetchObserver& observe) {
  while (true) {
    const absl::Time start = absl::Now();
    uint64_t sent = 0;
    absl::Status served;
    const bool in_step = ServeFetch(stream, sessions, backend, links, fetch, stop, &served, &sent);
    observe(served, start, sent);
    if (!in_step || links == nullptr) return;
    // The fetching daemon keeps the connection for its next copy from here, or closes it.
    fetch.Clear();
    if (!AwaitReadable(stream, stop, absl::Now() + kSourceIdle).ok() ||
        !core::ReceiveMessage(stream, &fetch).ok()) {
      return;
    }
  }
}

}  // namespace ferry::server
