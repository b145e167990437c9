#include "server/peer_offers.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ferry::server {

absl::Status PeerOffers::CheckTicket(const std::string& ticket) {
  if (ticket.size() == kTicketBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("an offer's ticket must be ", kTicketBytes, " bytes, got ", ticket.size()));
}

void PeerOffers::Announce(const std::string& ticket) {
  absl::MutexLock lock(&mu_);
  if (!closed_) offers_.try_emplace(ticket);
}

absl::Status PeerOffers::Resolve(const std::string& ticket, uint64_t buffer_id,
                                 absl::StatusOr<kernels::Tensor> value) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::FailedPreconditionError("the session is closed");
  auto it = offers_.find(ticket);
  if (it != offers_.end() && it->second.value.has_value()) {
    return absl::AlreadyExistsError("another offer of this session holds that ticket");
  }
  int64_t resolved = 0;
  for (const auto& [unused, offer] : offers_) resolved += offer.value.has_value() ? 1 : 0;
  if (resolved >= kMaxOffers) {
    if (it != offers_.end()) offers_.erase(it);  // a fetch waiting for it fails at once
    return absl::ResourceExhaustedError(absl::StrCat(
        "the session has ", kMaxOffers, " offers no daemon fetched; no more until one is"));
  }
  Offer& offer = offers_[ticket];
  offer.value = std::move(value);
  offer.buffer_id = buffer_id;
  return absl::OkStatus();
}

void PeerOffers::Withdraw(const std::vector<std::string>& tickets, const absl::Status& why) {
  absl::MutexLock lock(&mu_);
  for (const std::string& ticket : tickets) {
    auto it = offers_.find(ticket);
    if (it != offers_.end() && !it->second.value.has_value()) it->second.value = why;
  }
}

absl::StatusOr<kernels::Tensor> PeerOffers::Take(const std::string& ticket,
                                                 absl::Duration announce_timeout,
                                                 const std::function<bool()>& stop,
                                                 const std::function<bool()>& busy) {
  absl::Time idle_since = absl::Now();
  absl::MutexLock lock(&mu_);
  if (fetched_set_.contains(ticket)) {
    return absl::NotFoundError("the offer under that ticket was fetched already");
  }
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = offers_.find(ticket);
    return closed_ || (it != offers_.end() && it->second.value.has_value());
  };
  while (!ready()) {
    if (stop && stop()) return absl::CancelledError("the fetch was stopped");
    const absl::Time now = absl::Now();
    if (busy && busy()) idle_since = now;
    if (!offers_.contains(ticket) && now - idle_since >= announce_timeout) {
      return absl::NotFoundError(absl::StrCat("no offer under that ticket came within ",
                                              absl::FormatDuration(announce_timeout)));
    }
    mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(200));
  }
  if (closed_) return absl::FailedPreconditionError("the source session closed");
  auto it = offers_.find(ticket);
  Uncount(it->second);
  absl::StatusOr<kernels::Tensor> value = *std::move(it->second.value);
  offers_.erase(it);
  fetched_.push_back(ticket);
  fetched_set_.insert(ticket);
  if (fetched_.size() > kRememberedFetches) {
    fetched_set_.erase(fetched_.front());
    fetched_.pop_front();
  }
  return value;
}

void PeerOffers::Released(uint64_t buffer_id) {
  absl::MutexLock lock(&mu_);
  for (auto& [unused, offer] : offers_) {
    if (offer.released || offer.buffer_id != buffer_id || !offer.value.has_value() ||
        !offer.value->ok()) {
      continue;
    }
    offer.released = true;
    held_bytes_ += static_cast<int64_t>((*offer.value)->nbytes());
  }
}

void PeerOffers::Uncount(Offer& offer) {
  if (!offer.released) return;
  offer.released = false;
  held_bytes_ -= static_cast<int64_t>((*offer.value)->nbytes());
}

void PeerOffers::Close() {
  absl::flat_hash_map<std::string, Offer> offers;  // freed after the lock is dropped
  absl::MutexLock lock(&mu_);
  closed_ = true;
  offers.swap(offers_);
  held_bytes_ = 0;
}

}  // namespace ferry::server
