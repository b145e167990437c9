// CallWatch runs its action once, soon after the call is gone, and never after it stopped.
#include "server/call_watch.h"

#include <atomic>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ferry::server {
namespace {

TEST(CallWatch, RunsItsActionOnceSoonAfterTheCallIsGone) {
  std::atomic<bool> gone{false};
  std::atomic<int> ran{0};
  {
    CallWatch watch([&] { return gone.load(); }, [&] { ++ran; }, absl::Milliseconds(10));
    absl::SleepFor(absl::Milliseconds(50));
    EXPECT_EQ(ran.load(), 0);
    gone = true;
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (ran.load() == 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(ran.load(), 1);
}

TEST(CallWatch, DoesNothingOnceStoppedAndStopsWithoutWaitingOutItsInterval) {
  std::atomic<int> ran{0};
  const absl::Time start = absl::Now();
  {
    CallWatch watch([] { return false; }, [&] { ++ran; }, absl::Seconds(60));
  }
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(ran.load(), 0);
}

}  // namespace
}  // namespace ferry::server
