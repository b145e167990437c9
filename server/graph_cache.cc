#include "server/graph_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/fingerprint.h"

namespace ferry::server {

std::shared_ptr<const kernels::Plan> GraphCache::Find(const std::string& graph_id) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(graph_id);
  if (it == index_.end()) {
    ++stats_.misses;
    return nullptr;
  }
  ++stats_.hits;
  lru_.splice(lru_.begin(), lru_, it->second);
  return *it->second;
}

void GraphCache::Insert(std::shared_ptr<const kernels::Plan> plan) {
  absl::MutexLock lock(&mu_);
  auto it = index_.find(plan->graph_id);
  if (it != index_.end()) {  // sent again by a client that thought it evicted
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  ++stats_.inserts;
  lru_.push_front(std::move(plan));
  index_[lru_.front()->graph_id] = lru_.begin();
  while (lru_.size() > capacity_) {
    index_.erase(lru_.back()->graph_id);
    lru_.pop_back();
    ++stats_.evictions;
  }
}

GraphCacheStats GraphCache::stats() const {
  absl::MutexLock lock(&mu_);
  GraphCacheStats stats = stats_;
  stats.size = static_cast<int64_t>(lru_.size());
  stats.capacity = static_cast<int64_t>(capacity_);
  return stats;
}

absl::Status MissingGraphError(const std::string& graph_id) {
  absl::Status status = absl::NotFoundError(
      absl::StrCat("unknown graph_id ", core::FingerprintToHex(graph_id), ": send the graph"));
  status.SetPayload(kMissingGraphPayload, absl::Cord(graph_id));
  return status;
}

std::string MissingGraphId(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kMissingGraphPayload);
  return payload.has_value() ? std::string(*payload) : std::string();
}

}  // namespace ferry::server
