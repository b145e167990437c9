#ifndef FERRY_SERVER_PEER_LINKS_H_
#define FERRY_SERVER_PEER_LINKS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/tls_stream.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/collective_stats.h"
#include "server/peer_networks.h"
#include "server/ring_communicator.h"

namespace ferry::server {

// The links of groups' rings that other daemons open on this daemon's bulk channel, held
// until the JoinGroup call of the rank each is for takes it. A link is admitted only for a
// (key, rank) some JoinGroup here expects, so only the client that chose the group's key
// can join sessions to it. One per daemon; thread-safe.
class PeerLinks {
 public:
  // `dial_tls`: how links to other daemons open where the bulk channel speaks TLS (null:
  // plain TCP); `networks`: the addresses links may go to and come from.
  explicit PeerLinks(std::shared_ptr<const core::TlsContext> dial_tls = nullptr,
                     PeerNetworks networks = {})
      : dial_tls_(std::move(dial_tls)), networks_(std::move(networks)) {}
  ~PeerLinks();  // closes the idle fetch connections
  PeerLinks(const PeerLinks&) = delete;
  PeerLinks& operator=(const PeerLinks&) = delete;
  const core::TlsContext* dial_tls() const { return dial_tls_.get(); }
  // What the groups joined here have done, for the daemon's metrics.
  const std::shared_ptr<CollectiveStats>& stats() const { return stats_; }
  // PERMISSION_DENIED naming the address when the connected socket `fd`'s other end is
  // outside the networks links may use.
  absl::Status CheckRemote(int fd) const;

  // INVALID_ARGUMENT unless `address` is "host:port" or "[v6]:port".
  static absl::Status CheckAddress(const std::string& address);
  // Connects to another daemon's bulk channel at `address` (checked against the networks
  // where it connected, in TLS where links speak it) and opens with `hello` (a group's link,
  // or a fetch of an offered buffer): the stream once that daemon admits it, its socket
  // timeouts left at `within`. UNAVAILABLE while the address cannot be reached,
  // PERMISSION_DENIED outside the networks or for a refused certificate, otherwise the
  // other daemon's refusal.
  absl::StatusOr<PeerLink> Dial(const std::string& address, const v1::BulkHello& hello,
                                absl::Duration within) const;

  // Connections to other daemons' bulk channels that fetched an offered buffer and may fetch
  // the next (server/peer_copy.h), kept a while so a copy need not dial again: one idle for
  // `address` no longer than kFetchIdle (nullopt when none), and one handed back after a
  // fetch that went well (beyond kMaxIdleFetches for an address, it is closed).
  static constexpr int kMaxIdleFetches = 2;
  static constexpr absl::Duration kFetchIdle = absl::Seconds(20);
  std::optional<PeerLink> TakeFetchLink(const std::string& address);
  void PutFetchLink(const std::string& address, PeerLink link);

  // From now until Take, a link for rank `to_rank` of the group with `key` is admitted.
  void Expect(const std::string& key, uint32_t to_rank);
  // Stops expecting it (a JoinGroup that gave up before taking it); a link already
  // delivered is let go.
  void Forget(const std::string& key, uint32_t to_rank);
  // Whether such a link is expected and not yet delivered.
  bool Expecting(const std::string& key, uint32_t to_rank);
  // Hands over an arrived link; NOT_FOUND when nothing expects it (any more).
  absl::Status Deliver(const std::string& key, uint32_t to_rank, PeerLink link);
  // The link for (key, to_rank), waiting until `deadline` (DEADLINE_EXCEEDED naming
  // `from_rank`) or until `cancelled` says so (CANCELLED; asked every 50 ms); stops
  // expecting it either way.
  absl::StatusOr<PeerLink> Take(const std::string& key, uint32_t to_rank, uint32_t from_rank,
                                absl::Time deadline, const std::function<bool()>& cancelled);

 private:
  const std::shared_ptr<const core::TlsContext> dial_tls_;
  const PeerNetworks networks_;
  const std::shared_ptr<CollectiveStats> stats_ = std::make_shared<CollectiveStats>();
  absl::Mutex mu_;
  std::map<std::pair<std::string, uint32_t>, std::optional<PeerLink>> links_ ABSL_GUARDED_BY(mu_);
  // By address: idle fetch connections, each with the time it went idle.
  std::map<std::string, std::vector<std::pair<absl::Time, PeerLink>>> idle_fetches_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_PEER_LINKS_H_
