// PeerOffers: what another daemon's fetch of an offered buffer gets, and when.

#include "server/peer_offers.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace ferry::server {
namespace {

const std::string kTicket(16, 't');
const std::string kOtherTicket(16, 'u');

class PeerOffersTest : public ::testing::Test {
 protected:
  kernels::Tensor Floats(int64_t count) {
    absl::StatusOr<kernels::Tensor> tensor = backend_->Allocate({core::DType::kFloat32, {count}});
    EXPECT_TRUE(tensor.ok()) << tensor.status();
    return *std::move(tensor);
  }

  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend(int64_t{64} << 20);
  PeerOffers offers_;
};

TEST_F(PeerOffersTest, TicketsAreSixteenBytes) {
  EXPECT_TRUE(PeerOffers::CheckTicket(kTicket).ok());
  EXPECT_EQ(PeerOffers::CheckTicket("short").code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(PeerOffersTest, AFetchWaitsForAnAnnouncedOfferAndTakesItOnce) {
  offers_.Announce(kTicket);
  absl::StatusOr<kernels::Tensor> taken = absl::UnknownError("not yet");
  absl::Notification done;
  std::thread fetch([&] {
    taken = offers_.Take(kTicket, absl::Milliseconds(100), nullptr);
    done.Notify();
  });
  // Announced: the fetch waits past its announce timeout for the step to run.
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::Milliseconds(400)));
  ASSERT_TRUE(offers_.Resolve(kTicket, 7, Floats(10)).ok());
  fetch.join();
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->nbytes(), 40u);
  // Fetched once: a second fetch is told so at once, not after the announce timeout.
  absl::StatusOr<kernels::Tensor> again = offers_.Take(kTicket, absl::Seconds(30), nullptr);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(again.status().message(), "the offer under that ticket was fetched already");
}

TEST_F(PeerOffersTest, AnOfferNeverAnnouncedIsNotFoundAfterTheAnnounceTimeout) {
  const absl::Time start = absl::Now();
  absl::StatusOr<kernels::Tensor> taken = offers_.Take(kTicket, absl::Milliseconds(300), nullptr);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kNotFound);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(300));
}

// The source's stream reads the offer only once the steps before it have run: while the
// session works, the announce timeout does not run out.
TEST_F(PeerOffersTest, AFetchWaitsForTheOfferWhileTheSourceSessionWorks) {
  std::atomic<bool> busy{true};
  absl::StatusOr<kernels::Tensor> taken = absl::UnknownError("not yet");
  absl::Notification done;
  std::thread fetch([&] {
    taken = offers_.Take(kTicket, absl::Milliseconds(300), nullptr, [&] { return busy.load(); });
    done.Notify();
  });
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::Milliseconds(900)));
  busy = false;  // the session goes idle and no offer comes
  fetch.join();
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PeerOffersTest, AResolvedFailureIsWhatTheFetchGets) {
  ASSERT_TRUE(offers_.Resolve(kTicket, 7, absl::InvalidArgumentError("[matmul] shapes")).ok());
  absl::StatusOr<kernels::Tensor> taken = offers_.Take(kTicket, absl::ZeroDuration(), nullptr);
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(taken.status().message(), "[matmul] shapes");
}

TEST_F(PeerOffersTest, WithdrawnOffersFailTheirFetchesAndLeaveResolvedOnesAlone) {
  offers_.Announce(kTicket);
  ASSERT_TRUE(offers_.Resolve(kOtherTicket, 8, Floats(1)).ok());
  offers_.Withdraw({kTicket, kOtherTicket}, absl::UnavailableError("the stream ended"));
  EXPECT_EQ(offers_.Take(kTicket, absl::ZeroDuration(), nullptr).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_TRUE(offers_.Take(kOtherTicket, absl::ZeroDuration(), nullptr).ok());
}

TEST_F(PeerOffersTest, ATicketHoldsOneOfferAndASessionAtMostSixtyFourUnfetched) {
  ASSERT_TRUE(offers_.Resolve(kTicket, 1, Floats(1)).ok());
  EXPECT_EQ(offers_.Resolve(kTicket, 2, Floats(1)).code(), absl::StatusCode::kAlreadyExists);
  for (int i = 1; i < PeerOffers::kMaxOffers; ++i) {
    std::string ticket(16, 'a');
    ticket[0] = static_cast<char>(i);
    ASSERT_TRUE(offers_.Resolve(ticket, 10 + i, Floats(1)).ok()) << i;
  }
  EXPECT_EQ(offers_.Resolve(kOtherTicket, 99, Floats(1)).code(),
            absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(offers_.Take(kTicket, absl::ZeroDuration(), nullptr).ok());
  EXPECT_TRUE(offers_.Resolve(kOtherTicket, 99, Floats(1)).ok());  // room again
}

TEST_F(PeerOffersTest, AnOfferOfAReleasedBufferCountsItsBytesUntilFetched) {
  ASSERT_TRUE(offers_.Resolve(kTicket, 7, Floats(256)).ok());
  EXPECT_EQ(offers_.held_bytes(), 0);  // the buffer is resident: counted as such
  offers_.Released(7);
  offers_.Released(7);
  EXPECT_EQ(offers_.held_bytes(), 1024);
  ASSERT_TRUE(offers_.Take(kTicket, absl::ZeroDuration(), nullptr).ok());
  EXPECT_EQ(offers_.held_bytes(), 0);
}

TEST_F(PeerOffersTest, ClosingFailsAWaitingFetchAndStopEndsOne) {
  offers_.Announce(kTicket);
  absl::StatusOr<kernels::Tensor> taken = absl::UnknownError("not yet");
  std::thread fetch([&] { taken = offers_.Take(kTicket, absl::Seconds(30), nullptr); });
  absl::SleepFor(absl::Milliseconds(50));
  offers_.Close();
  fetch.join();
  EXPECT_EQ(taken.status().code(), absl::StatusCode::kFailedPrecondition);

  PeerOffers others;
  others.Announce(kTicket);
  EXPECT_EQ(others.Take(kTicket, absl::Seconds(30), [] { return true; }).status().code(),
            absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace ferry::server
