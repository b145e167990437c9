#include "server/call_watch.h"

#include <utility>

namespace ferry::server {

CallWatch::CallWatch(std::function<bool()> gone, std::function<void()> on_gone,
                     absl::Duration interval) {
  thread_ = std::thread([this, gone = std::move(gone), on_gone = std::move(on_gone), interval] {
    absl::MutexLock lock(&mu_);
    while (!stopped_) {
      if (gone()) {
        on_gone();
        return;
      }
      mu_.AwaitWithTimeout(absl::Condition(&stopped_), interval);
    }
  });
}

CallWatch::~CallWatch() {
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
  }
  thread_.join();
}

}  // namespace ferry::server
