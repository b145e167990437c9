#ifndef FERRY_SERVER_COLLECTIVE_STATS_H_
#define FERRY_SERVER_COLLECTIVE_STATS_H_

// What a daemon's groups have done, for its metrics (ferry_collective_*): counters that only
// grow, summed over every group any session joined. Thread-safe.

#include <atomic>
#include <cstdint>

namespace ferry::server {

struct CollectiveStats {
  // By kind: the calls each rank of this daemon made, succeeded or not.
  enum Kind { kAllReduce, kAllGather, kReduceScatter, kAllToAll, kSend, kRecv, kKinds };
  static const char* KindName(int kind);

  std::atomic<int64_t> calls[kKinds] = {};
  std::atomic<int64_t> nanoseconds[kKinds] = {};  // in those calls, waiting for peers included
  std::atomic<int64_t> device_calls{0};           // of those, the ones run on device memory (NCCL)
  std::atomic<int64_t> groups_failed{0};          // groups a call left failed
  std::atomic<int64_t> bytes_sent{0};             // over the groups' links, headers included
  std::atomic<int64_t> bytes_received{0};
};

inline const char* CollectiveStats::KindName(int kind) {
  static const char* const kNames[kKinds] = {"all_reduce", "all_gather", "reduce_scatter",
                                             "all_to_all", "send",       "recv"};
  return kNames[kind];
}

}  // namespace ferry::server

#endif  // FERRY_SERVER_COLLECTIVE_STATS_H_
