#ifndef FERRY_SERVER_PEER_PREFETCH_H_
#define FERRY_SERVER_PEER_PREFETCH_H_

#include <cstdint>
#include <optional>
#include <string>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "kernels/backend.h"
#include "kernels/tensor.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/peer_links.h"
#include "server/session_manager.h"

namespace ferry::server {

// Uploads from other daemons (PipelineUpload.peer_source) fetched as their steps arrive on
// a Pipeline stream rather than when they run, so the bytes cross while the steps before
// them compute (a pipeline stage's next activation while it works on this one). At most
// kMaxInFlight at once per stream; a step beyond that fetches when it runs. One per stream;
// thread-safe.
class PeerPrefetch {
 public:
  static constexpr int kMaxInFlight = 4;

  PeerPrefetch(PeerLinks& links, SessionManager& sessions, kernels::Backend& backend,
               std::string session_id)
      : links_(links), sessions_(sessions), backend_(backend), session_id_(std::move(session_id)) {}
  // Stops the fetches still waiting for their source and waits for every one to end.
  ~PeerPrefetch();
  PeerPrefetch(const PeerPrefetch&) = delete;
  PeerPrefetch& operator=(const PeerPrefetch&) = delete;

  // Starts fetching `step`'s upload when it is one from another daemon and there is room.
  void Start(const v1::PipelineRequest& step);
  // What the fetch Start began for `buffer_id` brought (waiting for it), or nullopt when
  // none was begun.
  std::optional<absl::StatusOr<kernels::Tensor>> Take(uint64_t buffer_id);

 private:
  struct Fetch {
    std::thread thread;
    std::optional<absl::StatusOr<kernels::Tensor>> result;
  };

  PeerLinks& links_;
  SessionManager& sessions_;
  kernels::Backend& backend_;
  const std::string session_id_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<uint64_t, Fetch> fetches_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_PEER_PREFETCH_H_
