#include "client/known_graphs.h"

#include <unordered_map>

namespace ferry::detail {

std::shared_ptr<KnownGraphs> KnownGraphs::ForDaemon(const std::string& address) {
  static std::mutex* mu = new std::mutex;
  // Never destroyed: devices in static storage may outlive main().
  static auto* daemons = new std::unordered_map<std::string, std::shared_ptr<KnownGraphs>>;
  std::lock_guard<std::mutex> lock(*mu);
  std::shared_ptr<KnownGraphs>& known = (*daemons)[address];
  if (known == nullptr) known = std::make_shared<KnownGraphs>();
  return known;
}

bool KnownGraphs::Holds(const std::string& graph_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return ids_.count(graph_id) > 0;
}

void KnownGraphs::Add(const std::string& graph_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ids_.insert(graph_id).second) return;
  order_.push_back(graph_id);
  while (order_.size() > kMaxIds) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
}

void KnownGraphs::Forget(const std::string& graph_id) {
  std::lock_guard<std::mutex> lock(mu_);
  // The id stays in order_ until it ages out; erasing an absent id then is harmless.
  ids_.erase(graph_id);
}

void KnownGraphs::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  ids_.clear();
  order_.clear();
}

}  // namespace ferry::detail
