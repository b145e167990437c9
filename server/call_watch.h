#ifndef FERRY_SERVER_CALL_WATCH_H_
#define FERRY_SERVER_CALL_WATCH_H_

#include <functional>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ferry::server {

// Asks `gone` every `interval`, on a thread of its own, and runs `on_gone` once when it
// says so; stops when destroyed. For a streaming call whose own threads may all be busy (a
// step waiting in a collective asks no CancelCheck, and nobody reads the stream meanwhile),
// so that its client vanishing is still noticed.
class CallWatch {
 public:
  CallWatch(std::function<bool()> gone, std::function<void()> on_gone,
            absl::Duration interval = absl::Milliseconds(200));
  ~CallWatch();  // waits for an `on_gone` under way
  CallWatch(const CallWatch&) = delete;
  CallWatch& operator=(const CallWatch&) = delete;

 private:
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_CALL_WATCH_H_
