#include "server/peer_links.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ferry::server {

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
