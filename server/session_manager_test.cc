#include "server/session_manager.h"

#include <memory>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/collectives.h"
#include "kernels/cpu/cpu_backend.h"

namespace ferry::server {
namespace {

using ::testing::HasSubstr;

class SessionManagerTest : public ::testing::Test {
 protected:
  kernels::Tensor Buffer(int64_t floats) {
    absl::StatusOr<kernels::Tensor> tensor = backend_->Allocate({core::DType::kFloat32, {floats}});
    EXPECT_TRUE(tensor.ok()) << tensor.status();
    return *tensor;
  }

  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend(1 << 20);
  SessionManager sessions_{absl::Seconds(10)};
};

TEST_F(SessionManagerTest, SessionIdsAre32RandomHexDigits) {
  std::string a = (*sessions_.Open("a"))->id();
  std::string b = (*sessions_.Open("b"))->id();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos) << a;
  EXPECT_NE(a, b);
  EXPECT_EQ(sessions_.num_sessions(), 2);
}

TEST_F(SessionManagerTest, BuffersAreFoundByHandleWithinTheirSessionOnly) {
  std::string a = (*sessions_.Open("a"))->id();
  std::string b = (*sessions_.Open("b"))->id();
  ASSERT_TRUE((*sessions_.Acquire(a))->Put({{17, Buffer(4)}}).ok());
  EXPECT_TRUE((*sessions_.Acquire(a))->Get(17).ok());
  absl::StatusOr<kernels::Tensor> other = (*sessions_.Acquire(b))->Get(17);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(other.status().message(),
            "session " + b + ": buffer 17 is not resident (never uploaded, or released)");
  EXPECT_EQ(sessions_.resident_bytes(), 16);
}

TEST_F(SessionManagerTest, HandlesAreNewNonzeroAndPutIsAllOrNone) {
  SessionRef session = *sessions_.Open("a");
  EXPECT_EQ(session->CheckNewId(0).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(session->Put({{1, Buffer(1)}}).ok());
  EXPECT_EQ(session->CheckNewId(1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(session->CheckNewId(2).ok());
  // 2 is new but 1 is not: neither is stored.
  absl::Status put = session->Put({{2, Buffer(1)}, {1, Buffer(1)}});
  EXPECT_EQ(put.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(put.message(), HasSubstr("buffer 1 is already resident"));
  EXPECT_FALSE(session->Get(2).ok());
  // The same handle twice in one Put.
  EXPECT_EQ(session->Put({{3, Buffer(1)}, {3, Buffer(1)}}).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(session->num_buffers(), 1);
  EXPECT_EQ(backend_->budget().in_use(), 4);
}

TEST_F(SessionManagerTest, ReleaseFreesMemoryAndIgnoresUnknownHandles) {
  SessionRef session = *sessions_.Open("a");
  ASSERT_TRUE(session->Put({{1, Buffer(100)}, {2, Buffer(50)}}).ok());
  EXPECT_EQ(backend_->budget().in_use(), 600);
  const uint64_t released[] = {1, 99, 1};
  session->Release(released);
  EXPECT_EQ(backend_->budget().in_use(), 200);
  EXPECT_EQ(session->resident_bytes(), 200);
  EXPECT_FALSE(session->Get(1).ok());
  EXPECT_TRUE(session->Get(2).ok());
}

TEST_F(SessionManagerTest, CloseFreesEverythingAndForgetsTheSession) {
  std::string id;
  {
    SessionRef session = *sessions_.Open("a");
    id = session->id();
    ASSERT_TRUE(session->Put({{1, Buffer(100)}}).ok());
  }
  ASSERT_TRUE(sessions_.Close(id).ok());
  EXPECT_EQ(backend_->budget().in_use(), 0);
  absl::StatusOr<SessionRef> gone = sessions_.Acquire(id);
  EXPECT_EQ(gone.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(gone.status().message(), HasSubstr("unknown session \"" + id + "\""));
  EXPECT_EQ(sessions_.Close(id).code(), absl::StatusCode::kNotFound);
}

// A group's handle is held while it links; a session holds at most kMaxGroups groups and
// joins, so a client cannot have its daemon hold sockets without end.
TEST_F(SessionManagerTest, GroupHandlesAreReservedWhileLinkingAndBounded) {
  SessionRef session = *sessions_.Open("a");
  ASSERT_TRUE(session->ReserveGroup(1).ok());
  EXPECT_EQ(session->ReserveGroup(1).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(session->AddGroup(1, kernels::MakeSingleRankCommunicator()).ok());
  EXPECT_EQ(session->ReserveGroup(1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(session->FindGroup(1).ok());
  for (int64_t handle = 2; handle <= Session::kMaxGroups; ++handle) {
    ASSERT_TRUE(session->ReserveGroup(handle).ok()) << handle;
  }
  absl::Status full = session->ReserveGroup(1000);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_THAT(full.message(), HasSubstr("at most 64 per session"));
  session->CancelGroup(2);  // a join that failed frees its place
  EXPECT_TRUE(session->ReserveGroup(1000).ok());
  EXPECT_EQ(session->FindGroup(2).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SessionManagerTest, IdleSessionsExpirePinnedOnesDoNot) {
  std::string idle = (*sessions_.Open("idle"))->id();
  ASSERT_TRUE((*sessions_.Acquire(idle))->Put({{1, Buffer(100)}}).ok());
  std::string busy = (*sessions_.Open("busy"))->id();
  absl::StatusOr<SessionRef> pinned = sessions_.Acquire(busy);  // a call in flight
  ASSERT_TRUE(pinned.ok());

  EXPECT_EQ(sessions_.ReapExpired(absl::Now() + absl::Seconds(5)), 0);  // within the lease
  EXPECT_EQ(sessions_.ReapExpired(absl::Now() + absl::Seconds(11)), 1);
  EXPECT_EQ(backend_->budget().in_use(), 0);
  EXPECT_FALSE(sessions_.Acquire(idle).ok());
  EXPECT_TRUE(sessions_.Acquire(busy).ok());
}

// A session whose client vanished mid-stream waits out its lease for the client; one that
// does not come back ends as abandoned, one that does is an ordinary session again.
TEST_F(SessionManagerTest, AnAbandonedSessionIsKeptForItsLeaseAndCountedApart) {
  const std::string gone = (*sessions_.Open("gone"))->id();
  const std::string back = (*sessions_.Open("back"))->id();
  ASSERT_TRUE(sessions_.Open("idle").ok());  // expires as any idle session
  for (const std::string& id : {gone, back}) {
    absl::StatusOr<SessionRef> stream = sessions_.Acquire(id);  // its Pipeline stream
    ASSERT_TRUE(stream.ok());
    sessions_.MarkAbandoned(id);
  }
  EXPECT_EQ(sessions_.ReapExpired(absl::Now() + absl::Seconds(5)), 0);  // within the lease
  ASSERT_TRUE(sessions_.Acquire(back).ok());                            // the client reconnects
  EXPECT_EQ(sessions_.ReapExpired(absl::Now() + absl::Seconds(11)), 3);
  EXPECT_EQ(sessions_.sessions_ended(SessionEnd::kAbandoned), 1);
  EXPECT_EQ(sessions_.sessions_ended(SessionEnd::kExpired), 2);

  // A second call of the session in flight (the new stream came first): not abandoned.
  const std::string racing = (*sessions_.Open("racing"))->id();
  {
    absl::StatusOr<SessionRef> old_stream = sessions_.Acquire(racing);
    absl::StatusOr<SessionRef> new_stream = sessions_.Acquire(racing);
    sessions_.MarkAbandoned(racing);
  }
  EXPECT_EQ(sessions_.ReapExpired(absl::Now() + absl::Seconds(11)), 1);
  EXPECT_EQ(sessions_.sessions_ended(SessionEnd::kAbandoned), 1);
  ASSERT_TRUE(sessions_.Close((*sessions_.Open("closed"))->id()).ok());
  EXPECT_EQ(sessions_.sessions_ended(SessionEnd::kClosed), 1);
}

// Past --max_sessions a new session is refused naming the flag, until one closes.
TEST(SessionLimit, OpenPastMaxSessionsIsRefusedUntilOneCloses) {
  SessionManager sessions(absl::Seconds(10));
  sessions.SetMaxSessions(2);
  const std::string a = (*sessions.Open("a"))->id();
  ASSERT_TRUE(sessions.Open("b").ok());
  absl::StatusOr<SessionRef> refused = sessions.Open("c");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("ferryd holds 2 sessions, its --max_sessions"));
  EXPECT_EQ(sessions.num_sessions(), 2);
  EXPECT_EQ(sessions.sessions_refused(), 1);
  ASSERT_TRUE(sessions.Close(a).ok());
  EXPECT_TRUE(sessions.Open("c").ok());
}

// A session idle past its lease has lost its place, reaped or not.
TEST(SessionLimit, ASessionPastItsLeaseDoesNotCount) {
  SessionManager sessions(absl::Milliseconds(1));
  sessions.SetMaxSessions(1);
  ASSERT_TRUE(sessions.Open("idle").ok());
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_TRUE(sessions.Open("next").ok());
}

// A session past its quota is refused, all or none, naming the flag; others are not.
TEST(SessionQuota, PutPastTheQuotaIsRefusedWholeAndOtherSessionsKeepTheirs) {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(1 << 20);
  SessionManager sessions(absl::Seconds(10), /*session_memory_quota=*/4000);
  auto buffer = [&](int64_t floats) {
    return *backend->Allocate({core::DType::kFloat32, {floats}});
  };
  SessionRef greedy = *sessions.Open("greedy");
  ASSERT_TRUE(greedy->Put({{1, buffer(600)}}).ok());  // 2400 bytes
  absl::Status refused = greedy->Put({{2, buffer(200)}, {3, buffer(300)}});
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("would hold 4400 resident, past the session's quota "
                                           "of 4000 (--max_session_memory)"));
  EXPECT_EQ(greedy->num_buffers(), 1);  // neither was kept
  EXPECT_TRUE(greedy->CheckRoom(1600).ok());
  EXPECT_EQ(greedy->CheckRoom(1601).code(), absl::StatusCode::kResourceExhausted);
  SessionRef other = *sessions.Open("other");
  EXPECT_TRUE(other->Put({{1, buffer(1000)}}).ok());
  greedy->Release({1});
  EXPECT_TRUE(greedy->Put({{2, buffer(1000)}}).ok());
}

// An offer to another daemon keeps its buffer's bytes after a release, so they still count:
// offering and releasing cannot take a session past its quota.
TEST(SessionQuota, ReleasedBuffersStillOfferedCountUntilFetched) {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(1 << 20);
  SessionManager sessions(absl::Seconds(10), /*session_memory_quota=*/4000);
  SessionRef session = *sessions.Open("copier");
  ASSERT_TRUE(session->Put({{1, *backend->Allocate({core::DType::kFloat32, {600}})}}).ok());
  const std::string ticket(16, 't');
  ASSERT_TRUE(session->offers().Resolve(ticket, 1, session->Get(1)).ok());
  session->Release({1});
  absl::Status refused = session->CheckRoom(1601);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("(2400 of released buffers offered to other daemons)"));
  ASSERT_TRUE(session->offers().Take(ticket, absl::ZeroDuration(), nullptr).ok());
  EXPECT_TRUE(session->CheckRoom(4000).ok());
}

TEST_F(SessionManagerTest, PutAfterCloseIsRefused) {
  SessionRef session = *sessions_.Open("a");
  std::string id = session->id();
  ASSERT_TRUE(sessions_.Close(id).ok());
  absl::Status put = session->Put({{1, Buffer(1)}});
  EXPECT_EQ(put.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(backend_->budget().in_use(), 0);
}

TEST(SessionManagerReaper, FreesExpiredSessionsInTheBackground) {
  SessionManager sessions(absl::Milliseconds(50));
  sessions.StartReaper();
  std::string id = (*sessions.Open("a"))->id();
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (sessions.num_sessions() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(sessions.num_sessions(), 0);
}

}  // namespace
}  // namespace ferry::server
