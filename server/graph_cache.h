#ifndef FERRY_SERVER_GRAPH_CACHE_H_
#define FERRY_SERVER_GRAPH_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "kernels/executor.h"

namespace ferry::server {

// What the graph cache has done since the daemon started, for GetInfo and metrics.
struct GraphCacheStats {
  int64_t size = 0;       // graphs held now
  int64_t capacity = 0;   // --graph_cache_size
  int64_t hits = 0;       // executes by graph_id that found their graph
  int64_t misses = 0;     // executes by graph_id that did not (the client resends)
  int64_t inserts = 0;    // graphs received, validated and stored
  int64_t evictions = 0;  // graphs dropped to stay within capacity
};

// The validated graphs the daemon holds by fingerprint, shared by every session: a client
// ships a graph once and then names it by graph_id. Bounded, least recently used out.
// Thread-safe.
class GraphCache {
 public:
  explicit GraphCache(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}
  GraphCache(const GraphCache&) = delete;
  GraphCache& operator=(const GraphCache&) = delete;

  // The graph with this fingerprint, made most recent; nullptr (counted as a miss) when
  // it was never sent or has been evicted.
  std::shared_ptr<const kernels::Plan> Find(const std::string& graph_id);

  // Stores `plan` under plan->graph_id, evicting the least recently used beyond capacity.
  void Insert(std::shared_ptr<const kernels::Plan> plan);

  GraphCacheStats stats() const;

 private:
  using Lru = std::list<std::shared_ptr<const kernels::Plan>>;  // most recent first
  const size_t capacity_;
  mutable absl::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, Lru::iterator> index_ ABSL_GUARDED_BY(mu_);
  GraphCacheStats stats_ ABSL_GUARDED_BY(mu_);
};

// The status an execute by graph_id gets when the daemon does not hold that graph:
// NOT_FOUND "unknown graph_id <hex>: send the graph", carrying the id as the payload
// kMissingGraphPayload so the service can tell clients exactly which graph to resend.
inline constexpr char kMissingGraphPayload[] = "type.ferry.dev/missing_graph_id";
absl::Status MissingGraphError(const std::string& graph_id);

// The trailing metadata key (binary) under which the service returns that graph_id.
inline constexpr char kMissingGraphMetadata[] = "ferry-missing-graph-id-bin";

// The graph_id a status made by MissingGraphError names, or "" for any other status.
std::string MissingGraphId(const absl::Status& status);

}  // namespace ferry::server

#endif  // FERRY_SERVER_GRAPH_CACHE_H_
