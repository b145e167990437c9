#include "server/peer_links.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/stream_socket.h"

namespace ferry::server {
namespace {

// host and port of "host:port" or "[v6]:port".
absl::StatusOr<std::pair<std::string, std::string>> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("peer address \"", address, "\" is not host:port"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::make_pair(host, address.substr(colon + 1));
}

}  // namespace

PeerLinks::~PeerLinks() {
  absl::MutexLock lock(&mu_);
  for (auto& [address, idle] : idle_fetches_) {
    for (auto& [since, link] : idle) link.close();
  }
}

std::optional<PeerLink> PeerLinks::TakeFetchLink(const std::string& address) {
  std::vector<PeerLink> stale;  // closed after the lock is dropped
  std::optional<PeerLink> taken;
  {
    absl::MutexLock lock(&mu_);
    auto it = idle_fetches_.find(address);
    if (it == idle_fetches_.end()) return std::nullopt;
    const absl::Time now = absl::Now();
    while (!it->second.empty() && !taken.has_value()) {
      auto [since, link] = std::move(it->second.back());
      it->second.pop_back();
      if (now - since <= kFetchIdle) {
        taken = std::move(link);
      } else {
        stale.push_back(std::move(link));
      }
    }
    if (it->second.empty()) idle_fetches_.erase(it);
  }
  for (PeerLink& link : stale) link.close();
  return taken;
}

void PeerLinks::PutFetchLink(const std::string& address, PeerLink link) {
  {
    absl::MutexLock lock(&mu_);
    auto& idle = idle_fetches_[address];
    if (idle.size() < static_cast<size_t>(kMaxIdleFetches)) {
      idle.emplace_back(absl::Now(), std::move(link));
      return;
    }
  }
  link.close();
}

absl::Status PeerLinks::CheckAddress(const std::string& address) {
  return SplitAddress(address).status();
}

absl::StatusOr<PeerLink> PeerLinks::Dial(const std::string& address, const v1::BulkHello& hello,
                                         absl::Duration within) const {
  absl::StatusOr<std::pair<std::string, std::string>> host_port = SplitAddress(address);
  if (!host_port.ok()) return host_port.status();
  const std::string& host = host_port->first;
  absl::StatusOr<int> fd = core::ConnectTcp(host, host_port->second, within);
  if (!fd.ok()) return fd.status();
  // Checked where it connected (a name may resolve anywhere), before a byte is sent.
  if (absl::Status allowed = CheckRemote(*fd); !allowed.ok()) {
    close(*fd);
    return allowed;
  }
  const timeval limit = absl::ToTimeval(within);
  setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  absl::StatusOr<std::unique_ptr<core::ByteStream>> opened =
      dial_tls_ != nullptr ? dial_tls_->Connect(*fd, host)
                           : absl::StatusOr<std::unique_ptr<core::ByteStream>>(
                                 std::make_unique<core::ByteStream>(*fd));
  if (!opened.ok()) {
    close(*fd);
    // A refused certificate will not change on a retry.
    return absl::PermissionDeniedError(opened.status().message());
  }
  std::unique_ptr<core::ByteStream> stream = *std::move(opened);
  v1::BulkResponse answer;
  absl::Status status = stream->Send(core::kBulkMagic, sizeof(core::kBulkMagic));
  if (status.ok()) status = core::SendMessage(*stream, hello);
  if (status.ok()) status = core::ReceiveMessage(*stream, &answer);
  if (status.ok())
    status = absl::Status(static_cast<absl::StatusCode>(answer.code()), answer.message());
  if (!status.ok()) {
    close(*fd);
    return status;
  }
  const int owned = *fd;
  return PeerLink{std::move(stream), [owned] { close(owned); }};
}

absl::Status PeerLinks::CheckRemote(int fd) const {
  if (networks_.AllowsAll()) return absl::OkStatus();
  absl::StatusOr<sockaddr_storage> remote = RemoteAddress(fd);
  if (!remote.ok()) return remote.status();
  if (networks_.Allows(*remote)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      AddressToString(*remote), " is outside --peer_networks (", networks_.description(), ")"));
}

void PeerLinks::Expect(const std::string& key, uint32_t to_rank) {
  absl::MutexLock lock(&mu_);
  links_[{key, to_rank}].reset();
}

void PeerLinks::Forget(const std::string& key, uint32_t to_rank) {
  std::optional<PeerLink> dropped;
  {
    absl::MutexLock lock(&mu_);
    auto it = links_.find({key, to_rank});
    if (it == links_.end()) return;
    dropped = std::move(it->second);
    links_.erase(it);
  }
  if (dropped.has_value() && dropped->close) dropped->close();  // its connection ends
}

bool PeerLinks::Expecting(const std::string& key, uint32_t to_rank) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find({key, to_rank});
  return it != links_.end() && !it->second.has_value();
}

absl::Status PeerLinks::Deliver(const std::string& key, uint32_t to_rank, PeerLink link) {
  absl::MutexLock lock(&mu_);
  auto it = links_.find({key, to_rank});
  if (it == links_.end() || it->second.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no session here is joining rank ", to_rank, " of that group"));
  }
  it->second = std::move(link);
  return absl::OkStatus();
}

absl::StatusOr<PeerLink> PeerLinks::Take(const std::string& key, uint32_t to_rank,
                                         uint32_t from_rank, absl::Time deadline,
                                         const std::function<bool()>& cancelled) {
  absl::MutexLock lock(&mu_);
  const std::pair<std::string, uint32_t> id{key, to_rank};
  auto arrived = [&] {
    mu_.AssertHeld();
    auto it = links_.find(id);
    return it == links_.end() || it->second.has_value();
  };
  bool gave_up = false;
  while (!mu_.AwaitWithDeadline(absl::Condition(&arrived),
                                std::min(deadline, absl::Now() + absl::Milliseconds(50)))) {
    if (absl::Now() >= deadline) break;
    if (cancelled()) {
      gave_up = true;
      break;
    }
  }
  auto it = links_.find(id);
  if (it == links_.end() || !it->second.has_value()) {
    if (it != links_.end()) links_.erase(it);
    if (gave_up) {
      return absl::CancelledError(
          absl::StrCat("[join_group] rank ", to_rank, ": the client gave up on the group"));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("[join_group] rank ", to_rank, " heard nothing from rank ", from_rank,
                     " in time: every rank's JoinGroup must run at once, and each daemon must "
                     "reach the next rank's bulk channel"));
  }
  PeerLink link = std::move(*it->second);
  links_.erase(it);
  return link;
}

}  // namespace ferry::server
