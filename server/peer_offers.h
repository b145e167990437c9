#ifndef FERRY_SERVER_PEER_OFFERS_H_
#define FERRY_SERVER_PEER_OFFERS_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "kernels/tensor.h"

namespace ferry::server {

// One session's buffers offered to other daemons under tickets (feature "peer_copy"; the
// protocol is in ferry.proto, "Copies between daemons"). The pipeline's reader announces an
// offer as it arrives, so a fetch from another daemon that comes before the offer step has
// run waits for it rather than failing; the step then resolves it with the buffer, or with
// the failure of the step that was to compute it. Thread-safe.
class PeerOffers {
 public:
  static constexpr int kMaxOffers = 64;
  static constexpr size_t kTicketBytes = 16;
  static constexpr size_t kRememberedFetches = 256;

  // INVALID_ARGUMENT unless `ticket` is kTicketBytes long.
  static absl::Status CheckTicket(const std::string& ticket);

  // An offer step under `ticket` is queued: fetches wait for its result from now on.
  void Announce(const std::string& ticket);
  // The offer step ran: `value` is the buffer `buffer_id`'s tensor, or why there is none.
  // RESOURCE_EXHAUSTED past kMaxOffers unfetched, ALREADY_EXISTS for a ticket that holds a
  // result already, FAILED_PRECONDITION once closed.
  absl::Status Resolve(const std::string& ticket, uint64_t buffer_id,
                       absl::StatusOr<kernels::Tensor> value);
  // Offers announced and never resolved get `why`: the stream that carried them ended first.
  void Withdraw(const std::vector<std::string>& tickets, const absl::Status& why);
  // A fetch: waits for the offer to be announced, then until it is resolved; hands it over
  // once (the offer is gone after; a fetch of one of the last kRememberedFetches taken is
  // NOT_FOUND at once). NOT_FOUND when none was announced in `announce_timeout`
  // of the session's idle time (`busy` says when it computes: the step computing the
  // buffer may take long, and the stream reads the offer only after it), FAILED_PRECONDITION
  // once closed, CANCELLED once `stop` says so. Both are asked every 200 ms.
  absl::StatusOr<kernels::Tensor> Take(const std::string& ticket, absl::Duration announce_timeout,
                                       const std::function<bool()>& stop,
                                       const std::function<bool()>& busy = nullptr);
  // `buffer_id` was released: offers holding it count their bytes as the session's own.
  void Released(uint64_t buffer_id);
  // Bytes held only by offers (their buffers released), counted against the session's quota.
  int64_t held_bytes() const { return held_bytes_.load(); }
  // Frees every offer; fetches waiting and to come fail.
  void Close();

 private:
  struct Offer {
    std::optional<absl::StatusOr<kernels::Tensor>> value;  // nullopt: announced only
    uint64_t buffer_id = 0;
    bool released = false;  // counted in held_bytes_
  };
  // Takes `offer` off the count of released bytes.
  void Uncount(Offer& offer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, Offer> offers_ ABSL_GUARDED_BY(mu_);
  // Tickets fetched lately, oldest first.
  std::deque<std::string> fetched_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> fetched_set_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> held_bytes_{0};
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_PEER_OFFERS_H_
