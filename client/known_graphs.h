#ifndef FERRY_CLIENT_KNOWN_GRAPHS_H_
#define FERRY_CLIENT_KNOWN_GRAPHS_H_

// Internal to the client library: which graph fingerprints each daemon holds, as far as
// this process knows.

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>

namespace ferry::detail {

// The graph ids one daemon has acknowledged. Shared by every session to the same address,
// since the daemon's graph cache is shared by its sessions: a graph one session shipped is
// named by id from the next. Only a hint: the daemon may have evicted an id or restarted,
// and then answers with the id it lacks, and the client ships the graph again. Bounded:
// the oldest ids are forgotten first. Thread-safe.
class KnownGraphs {
 public:
  // The set for the daemon at `address`, created on first use and kept for the process.
  static std::shared_ptr<KnownGraphs> ForDaemon(const std::string& address);

  bool Holds(const std::string& graph_id) const;
  void Add(const std::string& graph_id);
  void Forget(const std::string& graph_id);
  // Forgets every id: a fuzz target's fake daemon starts each input knowing none.
  void Clear();

 private:
  static constexpr size_t kMaxIds = 1 << 16;
  mutable std::mutex mu_;
  std::unordered_set<std::string> ids_;
  std::deque<std::string> order_;  // insertion order, for forgetting the oldest
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_KNOWN_GRAPHS_H_
