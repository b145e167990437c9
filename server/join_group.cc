#include "server/join_group.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/stream_socket.h"
#include "server/log.h"

namespace ferry::server {
namespace {

constexpr uint32_t kMaxRanks = 4096;
constexpr absl::Duration kDefaultTimeout = absl::Seconds(60);
constexpr absl::Duration kMaxLinkWait = absl::Minutes(5);
// A peer whose JoinGroup has not started yet answers NOT_FOUND; the link is tried again.
constexpr absl::Duration kRetryInterval = absl::Milliseconds(20);

absl::Status Invalid(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("[join_group] ", why));
}

// The rank's end of the ring of a request JoinGroup has checked, once its links are made.
absl::StatusOr<std::shared_ptr<RingCommunicator>> Link(PeerLinks& links,
                                                       const v1::JoinGroupRequest& request,
                                                       absl::Duration timeout,
                                                       const std::function<bool()>& cancelled) {
  const uint32_t rank = request.rank();
  const uint32_t size = request.size();
  if (size == 1) {
    return std::make_shared<RingCommunicator>(0, 1, PeerLink{}, PeerLink{}, timeout, links.stats());
  }
  const uint32_t next = (rank + 1) % size;
  const uint32_t previous = (rank + size - 1) % size;
  const std::string& next_address = request.peer_addresses(static_cast<int>(next));
  if (absl::Status valid = PeerLinks::CheckAddress(next_address); !valid.ok()) {
    return Invalid(valid.message());
  }

  // Linking waits for the other ranks' JoinGroup, sent at the same time: minutes at most,
  // whatever the collectives' timeout.
  const absl::Duration link_wait = std::min(timeout, kMaxLinkWait);
  const absl::Time deadline = absl::Now() + link_wait;
  links.Expect(request.key(), rank);
  v1::BulkHello hello;
  hello.mutable_peer()->set_key(request.key());
  hello.mutable_peer()->set_from_rank(rank);
  hello.mutable_peer()->set_to_rank(next);
  absl::StatusOr<PeerLink> to_next = absl::UnavailableError("not tried");
  while (absl::Now() < deadline && !cancelled()) {
    const absl::Duration within = std::min(deadline - absl::Now(), absl::Seconds(5));
    to_next = links.Dial(next_address, hello, within);
    if (to_next.ok() ||
        (!absl::IsNotFound(to_next.status()) && !absl::IsUnavailable(to_next.status()))) {
      break;
    }
    absl::SleepFor(kRetryInterval);
  }
  if (!to_next.ok() && cancelled()) {
    to_next = absl::CancelledError(
        absl::StrCat("[join_group] rank ", rank, ": the client gave up on the group"));
  }
  if (!to_next.ok()) {
    links.Forget(request.key(), rank);
    if (absl::IsCancelled(to_next.status())) return to_next.status();
    return absl::Status(
        absl::IsNotFound(to_next.status()) || absl::IsUnavailable(to_next.status())
            ? absl::StatusCode::kDeadlineExceeded
            : to_next.status().code(),
        absl::StrCat("[join_group] rank ", rank, " could not link to rank ", next, " at ",
                     next_address, " within ", absl::FormatDuration(link_wait), ": ",
                     to_next.status().message()));
  }
  absl::StatusOr<PeerLink> from_previous =
      links.Take(request.key(), rank, previous, deadline, cancelled);
  if (!from_previous.ok()) {
    shutdown(to_next->stream->fd(), SHUT_RDWR);
    to_next->close();
    return from_previous.status();
  }
  return std::make_shared<RingCommunicator>(static_cast<int>(rank), static_cast<int>(size),
                                            *std::move(to_next), *std::move(from_previous), timeout,
                                            links.stats());
}

}  // namespace

absl::Status JoinDevices(RingCommunicator& ring, kernels::Backend* backend,
                         absl::Duration join_within, absl::Duration call_timeout,
                         const std::string& group) {
  constexpr size_t kIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
  std::string mine(1 + kIdBytes, '\0');
  std::string why;
  if (backend == nullptr) {
    why = "this daemon runs with --device_collectives=false";
  } else if (ring.rank() == 0) {
    absl::StatusOr<std::string> id = backend->NewDeviceGroupId();
    if (id.ok() && id->size() == kIdBytes) {
      mine[0] = 1;
      mine.replace(1, kIdBytes, *id);
    } else {
      why = id.ok() ? "a device group id of another size" : std::string(id.status().message());
    }
  } else if (backend->HasDeviceCollectives()) {
    mine[0] = 1;
  } else {
    why = absl::StrCat("its ", backend->facts().backend, " backend has no collectives of its own");
  }
  std::string all(mine.size() * static_cast<size_t>(ring.size()), '\0');
  if (absl::Status s = ring.AllGather(mine.data(), mine.size(), all.data()); !s.ok()) return s;
  for (int r = 0; r < ring.size(); ++r) {
    if (all[static_cast<size_t>(r) * mine.size()] == 0 && r != ring.rank()) {
      why = absl::StrCat("rank ", r, " cannot");
    }
  }
  std::unique_ptr<kernels::DeviceCollectives> device;
  if (why.empty()) {
    absl::StatusOr<std::unique_ptr<kernels::DeviceCollectives>> joined = backend->JoinDeviceGroup(
        all.substr(1, kIdBytes), ring.rank(), ring.size(), join_within, call_timeout);
    if (joined.ok()) {
      device = *std::move(joined);
    } else {
      why = std::string(joined.status().message());
    }
  }
  uint8_t joined_all = device != nullptr ? 1 : 0;
  if (absl::Status s = ring.AllReduce(kernels::ReduceOp::kMin, core::DType::kUInt8, &joined_all, 1);
      !s.ok()) {
    return s;
  }
  if (joined_all == 0) {
    if (why.empty()) why = "another rank could not join them";
    Log(LogLevel::kInfo, absl::StrCat("group ", group, " rank ", ring.rank(),
                                      ": collectives stage through host memory (", why, ")"));
    return absl::OkStatus();
  }
  ring.SetDevice(std::move(device));
  Log(LogLevel::kInfo, absl::StrCat("group ", group, " rank ", ring.rank(),
                                    ": collectives run between device memories (",
                                    backend->facts().backend, "'s own: NCCL between GPUs)"));
  return absl::OkStatus();
}

absl::StatusOr<std::string> JoinGroup(Session& session, PeerLinks& links, kernels::Backend* backend,
                                      const v1::JoinGroupRequest& request,
                                      const std::function<bool()>& cancelled) {
  const uint32_t rank = request.rank();
  const uint32_t size = request.size();
  if (request.group() < 1 || request.group() > static_cast<uint64_t>(INT64_MAX)) {
    return Invalid(absl::StrCat("group must be from 1 to 2^63 - 1, got ", request.group()));
  }
  if (size < 1 || size > kMaxRanks) {
    return Invalid(absl::StrCat("size must be from 1 to ", kMaxRanks, ", got ", size));
  }
  if (rank >= size) return Invalid(absl::StrCat("rank ", rank, " is not below size ", size));
  if (request.peer_addresses_size() != static_cast<int>(size)) {
    return Invalid(absl::StrCat("needs one peer address per rank: got ",
                                request.peer_addresses_size(), " for ", size, " ranks"));
  }
  if (request.key().size() != 16) {
    return Invalid(absl::StrCat("key must be 16 bytes, got ", request.key().size()));
  }
  const int64_t handle = static_cast<int64_t>(request.group());
  if (absl::Status reserved = session.ReserveGroup(handle); !reserved.ok()) return reserved;
  const absl::Duration timeout =
      request.timeout_ms() == 0 ? kDefaultTimeout : absl::Milliseconds(request.timeout_ms());
  const absl::Time started = absl::Now();
  absl::StatusOr<std::shared_ptr<RingCommunicator>> ring = Link(links, request, timeout, cancelled);
  if (!ring.ok()) {
    session.CancelGroup(handle);
    return ring.status();
  }
  if (request.device_collectives() && request.size() > 1) {
    // The client waits for the whole join about `timeout` (and 10 s more): the devices get
    // what linking left of it.
    const absl::Duration left = std::max(timeout - (absl::Now() - started), absl::Seconds(1));
    if (absl::Status s = JoinDevices(**ring, backend, left, timeout, absl::StrCat(request.group()));
        !s.ok()) {
      session.CancelGroup(handle);
      return s;
    }
  }
  const std::string collectives = (*ring)->device() != nullptr ? (*ring)->device()->name() : "ring";
  if (absl::Status added = session.AddGroup(handle, *std::move(ring)); !added.ok()) return added;
  return collectives;
}

}  // namespace ferry::server
