#ifndef FERRY_BENCH_LATENCY_RELAY_H_
#define FERRY_BENCH_LATENCY_RELAY_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::bench {

// A TCP relay on loopback that adds latency, as toxiproxy does: each connection to it is
// forwarded to 127.0.0.1:`target_port`, and every chunk read from either side is held for
// `one_way_delay` before it is written to the other, in order. Bandwidth is not limited.
// The kernel here has no netem, so benchmarks and tests put this between client and daemon
// to see what a real network's round trips cost, or (Partition) what a silent peer does.
class LatencyRelay {
 public:
  // Listens on a free loopback port.
  static absl::StatusOr<std::unique_ptr<LatencyRelay>> Start(
      int target_port, std::chrono::microseconds one_way_delay);

  ~LatencyRelay();  // closes every connection and joins its threads
  LatencyRelay(const LatencyRelay&) = delete;
  LatencyRelay& operator=(const LatencyRelay&) = delete;

  // From now on bytes from either side are dropped, not passed on, and every connection
  // stays open: to each end the other went silent, as when its host vanished without a
  // reset or the network partitioned (toxiproxy's "timeout" toxic). Heal ends it: bytes
  // read from then on pass again (those dropped are lost).
  void Partition() { partitioned_->store(true); }
  void Heal() { partitioned_->store(false); }
  // Closes every connection now, as a NAT timing out, a VPN reconnecting or a laptop
  // changing networks does; new connections are relayed as before.
  void ResetConnections();
  // Once `bytes` more bytes have passed (either way, all connections together), cuts the
  // connection carrying the last of them as a laptop changing networks does: the client's
  // end is closed, while the daemon's stays open and hears nothing more (no FIN), as a
  // server's does until its keepalive gives up (toxiproxy's "limit_data", one-sided).
  // Once: later bytes and connections pass as before.
  void CutAfter(int64_t bytes) { cut_budget_->store(bytes); }

  // From now on each direction carries at most `bytes_per_second`, all connections
  // together, as one link of that speed (toxiproxy's "bandwidth"); 0: no limit.
  void LimitBandwidth(int64_t bytes_per_second);

  int port() const { return port_; }
  // "127.0.0.1:PORT".
  std::string address() const;

 private:
  struct Connection;
  class Pacer;
  LatencyRelay(int listen_fd, int port, int target_port, std::chrono::microseconds delay);
  void AcceptLoop();

  const int listen_fd_;
  const int port_;
  const int target_port_;
  const std::chrono::microseconds delay_;
  std::atomic<bool> stopping_{false};
  // Shared with the connections' readers.
  const std::shared_ptr<std::atomic<bool>> partitioned_ =
      std::make_shared<std::atomic<bool>>(false);
  // Bytes left before CutAfter's cut; -1: none asked for.
  const std::shared_ptr<std::atomic<int64_t>> cut_budget_ =
      std::make_shared<std::atomic<int64_t>>(-1);
  const std::shared_ptr<Pacer> upward_, downward_;  // shared with the connections' writers
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Connection>> connections_;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_LATENCY_RELAY_H_
