#include "server/peer_prefetch.h"

#include <utility>
#include <vector>

#include "core/codec.h"
#include "server/peer_copy.h"

namespace ferry::server {

PeerPrefetch::~PeerPrefetch() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    for (auto& [buffer_id, fetch] : fetches_) threads.push_back(std::move(fetch.thread));
  }
  for (std::thread& thread : threads) thread.join();
}

void PeerPrefetch::Start(const v1::PipelineRequest& step) {
  if (!step.has_upload() || !step.upload().has_peer_source()) return;
  const uint64_t buffer_id = step.upload().buffer_id();
  absl::StatusOr<core::TensorType> type = core::TypeFromProto(step.upload().tensor().spec());
  if (!type.ok()) return;  // the step says what is wrong when it runs
  absl::MutexLock lock(&mu_);
  if (stopping_ || fetches_.contains(buffer_id) ||
      fetches_.size() >= static_cast<size_t>(kMaxInFlight)) {
    return;
  }
  Fetch& fetch = fetches_[buffer_id];
  fetch.thread = std::thread([this, buffer_id, type = *type, source = step.upload().peer_source()] {
    auto stopped = [this] {
      absl::MutexLock lock(&mu_);
      return stopping_;
    };
    absl::StatusOr<kernels::Tensor> tensor =
        FetchFromPeer(links_, sessions_, backend_, session_id_, buffer_id, type, source, stopped);
    absl::MutexLock lock(&mu_);
    fetches_[buffer_id].result = std::move(tensor);
  });
}

std::optional<absl::StatusOr<kernels::Tensor>> PeerPrefetch::Take(uint64_t buffer_id) {
  std::thread thread;
  std::optional<absl::StatusOr<kernels::Tensor>> result;
  {
    absl::MutexLock lock(&mu_);
    auto it = fetches_.find(buffer_id);
    if (it == fetches_.end()) return std::nullopt;
    auto done = [this, buffer_id]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return fetches_.at(buffer_id).result.has_value();
    };
    mu_.Await(absl::Condition(&done));
    it = fetches_.find(buffer_id);  // the map may have grown meanwhile
    thread = std::move(it->second.thread);
    result = std::move(it->second.result);
    fetches_.erase(it);
  }
  thread.join();
  return result;
}

}  // namespace ferry::server
