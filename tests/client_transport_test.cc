// The client's transport against a real ferryd over loopback: the daemon's graph cache
// (shared by sessions, bounded, safe to lose) and the pipeline (many steps in flight, one
// round trip for a chain of dependent evals, failures kept and reported).

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

using testing::StartFerryd;

// sum(x * scale) + offset for a 4-element x: one graph structure per `scale`.
float SumScaled(const Device& device, float scale) {
  Array x = from_host(std::vector<float>{1, 2, 3, 4}, {4}, device);
  return (sum(x * scale) + 1.0f).item<float>();
}

TEST(GraphCacheTest, ASecondSessionNamesAKnownGraphById) {
  auto daemon = StartFerryd();
  ASSERT_NE(daemon, nullptr);
  Device first = connect(daemon->address());
  EXPECT_EQ(SumScaled(first, 2.0f), 21.0f);
  EXPECT_EQ(first.stats().graphs_sent, 1);
  Device second = connect(daemon->address());
  EXPECT_EQ(SumScaled(second, 2.0f), 21.0f);
  EXPECT_EQ(second.stats().graphs_sent, 0);  // the daemon's cache is shared by sessions
  EXPECT_EQ(second.stats().graphs_resent, 0);
}

TEST(GraphCacheTest, AnEvictedGraphIsSentAgainOnce) {
  auto daemon = StartFerryd({"--graph_cache_size=2"});
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  for (float scale : {1.0f, 2.0f, 3.0f}) SumScaled(remote, scale);  // evicts scale 1's graph
  const DeviceStats before = remote.stats();
  EXPECT_EQ(SumScaled(remote, 1.0f), 11.0f);
  const DeviceStats after = remote.stats();
  EXPECT_EQ(after.graphs_resent - before.graphs_resent, 1);
  EXPECT_EQ(after.graphs_sent - before.graphs_sent, 1);
  EXPECT_EQ(SumScaled(remote, 1.0f), 11.0f);  // held again now: by id
  EXPECT_EQ(remote.stats().graphs_sent, after.graphs_sent);
  EXPECT_EQ(remote.stats().graphs_resent, after.graphs_resent);
}

TEST(GraphCacheTest, ARestartedDaemonGetsTheGraphAgain) {
  auto daemon = StartFerryd({"--drain_seconds=0"});
  ASSERT_NE(daemon, nullptr);
  const std::string listen = "--listen=" + daemon->address();
  {
    Device remote = connect(daemon->address());
    EXPECT_EQ(SumScaled(remote, 5.0f), 51.0f);
  }
  ASSERT_EQ(daemon->Stop(), 0);
  // Same address, empty cache. The freed port may be another socket's for a moment (a
  // connection of a test running beside this one may take it as its local port): a few tries.
  absl::StatusOr<std::unique_ptr<server::FerrydProcess>> restarted;
  for (int attempt = 0; attempt < 20; ++attempt) {
    restarted =
        server::FerrydProcess::Start(server::FindFerryd(nullptr), {listen, "--drain_seconds=0"});
    if (restarted.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(restarted.ok()) << restarted.status();
  ASSERT_EQ((*restarted)->address(), daemon->address());
  Device remote = connect((*restarted)->address());
  EXPECT_EQ(SumScaled(remote, 5.0f), 51.0f);
  EXPECT_EQ(remote.stats().graphs_resent, 1);
  EXPECT_EQ(remote.stats().graphs_sent, 1);
}

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { daemon_ = StartFerryd().release(); }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(daemon_, nullptr);
    remote_ = std::make_unique<Device>(connect(daemon_->address()));
  }

  static server::FerrydProcess* daemon_;
  std::unique_ptr<Device> remote_;
};

server::FerrydProcess* PipelineTest::daemon_ = nullptr;

TEST_F(PipelineTest, DependentEvalsEndingInOneReadAreOneRoundTrip) {
  auto chain = [](const Device& device, DeviceStats* before) {
    Array x = from_host(std::vector<float>{1, 2, 3}, {3}, device);
    x.eval();  // on a daemon, a small upload step: no wait
    *before = device.stats();
    for (int i = 0; i < 50; ++i) {
      x = x * 0.5f + 1.0f;
      x.eval();  // every step is computed, each on the result of the one before
    }
    return x.to_vector<float>();
  };
  DeviceStats before;
  std::vector<float> got = chain(*remote_, &before);
  const DeviceStats after = remote_->stats();
  EXPECT_EQ(after.round_trips - before.round_trips, 1);
  EXPECT_EQ(after.executes - before.executes, 50);
  EXPECT_EQ(after.pipeline_steps - before.pipeline_steps, 50);
  DeviceStats unused;
  EXPECT_EQ(got, chain(local(), &unused));
}

// A training loop's shape: each step's weights only feed the next step; its loss is read.
// After the first step the weights stay on the daemon (no bytes back) while the loss keeps
// coming back with the step's answer. A weight read is downloaded; while the program reads it
// after every step it comes back inline; once it stops, the weights stay behind again.
void ExpectOnlyReadResultsComeBackInline(const Device& device) {
  Array w = from_host(std::vector<float>(4096, 1.0f), {4096}, device);  // 16 KiB
  std::vector<float> losses;
  auto step = [&] {
    w = w * 0.5f + 1.0f;
    Array loss = sum(w);
    eval({w, loss});
    losses.push_back(loss.item<float>());
  };
  step();
  step();
  DeviceStats before = device.stats();
  for (int i = 0; i < 3; ++i) step();
  DeviceStats after = device.stats();
  EXPECT_LT(after.bytes_received - before.bytes_received, 3 * 4096)
      << "the weights came back with the steps";
  EXPECT_EQ(after.downloads, before.downloads);  // the loss came with each answer
  EXPECT_EQ(w.to_vector<float>(), std::vector<float>(4096, losses.back() / 4096));
  EXPECT_EQ(device.stats().downloads, after.downloads + 1);

  before = device.stats();
  for (int i = 0; i < 3; ++i) {
    step();
    EXPECT_EQ(w.to_vector<float>().front(), losses.back() / 4096);
  }
  after = device.stats();
  EXPECT_EQ(after.downloads, before.downloads) << "read after every step, w came inline";
  EXPECT_GT(after.bytes_received - before.bytes_received, 3 * 16384);

  step();  // w was read since the last step: still inline here
  before = device.stats();
  step();
  step();
  after = device.stats();
  EXPECT_LT(after.bytes_received - before.bytes_received, 2 * 4096)
      << "no longer read, w stays on the daemon";
}

TEST_F(PipelineTest, ResultsNeverReadStopComingBackInline) {
  ExpectOnlyReadResultsComeBackInline(*remote_);
}

TEST(UnaryTest, ResultsNeverReadStopComingBackInline) {
  auto daemon = StartFerryd();
  ASSERT_NE(daemon, nullptr);
  ConnectOptions options;
  options.pipeline = false;
  ExpectOnlyReadResultsComeBackInline(connect(daemon->address(), options));
}

TEST(UnaryTest, WithoutThePipelineEveryEvalIsARoundTrip) {
  auto daemon = StartFerryd();
  ASSERT_NE(daemon, nullptr);
  ConnectOptions options;
  options.pipeline = false;
  Device unary = connect(daemon->address(), options);
  Device pipelined = connect(daemon->address());
  auto chain = [](const Device& device, int n) {
    Array x = from_host(std::vector<float>{1, 2, 3}, {3}, device);
    for (int i = 0; i < n; ++i) {
      x = x * 0.5f + 1.0f;
      x.eval();
    }
    return x.to_vector<float>();
  };
  const DeviceStats before = unary.stats();
  EXPECT_EQ(chain(unary, 20), chain(pipelined, 20));
  EXPECT_EQ(unary.stats().round_trips - before.round_trips, 20);
  EXPECT_EQ(unary.stats().pipeline_steps, 0);
  // For the report only (no assertion on time): 500 dependent evals, each way.
  for (const Device* device : {&unary, &pipelined}) {
    const auto start = std::chrono::steady_clock::now();
    chain(*device, 500);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    std::printf("500 dependent evals and a read, %s: %.1f ms\n",
                device == &unary ? "unary" : "pipelined", took.count());
  }
}

TEST_F(PipelineTest, AsyncEvalReturnsAFuture) {
  Array a = from_host(std::vector<int32_t>{1, 2, 3}, {3}, *remote_);
  Array b = a * 10;
  Array c = sum(b);
  std::future<void> done = async_eval({b, c});
  done.get();
  const DeviceStats before = remote_->stats();
  EXPECT_THAT(b.to_vector<int32_t>(), ElementsAre(10, 20, 30));  // came back with the step
  EXPECT_EQ(c.item<int32_t>(), 60);
  EXPECT_EQ(remote_->stats().round_trips, before.round_trips);
}

TEST(LocalAsyncEvalTest, RunsOnTheLocalDevice) {
  Array a = arange(0, 4, 1, int32, local());
  Array b = a * a;
  async_eval({b}).get();
  EXPECT_TRUE(b.is_available());
  EXPECT_THAT(b.to_vector<int32_t>(), ElementsAre(0, 1, 4, 9));
}

TEST(PipelineErrorsTest, AFailureReachesTheArraysThatDependOnIt) {
  auto daemon = StartFerryd({"--max_memory=1M"});
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  Array big = zeros({1 << 20}, float32, remote);  // 4 MiB on a daemon with 1 MiB
  Array sum_of_big = sum(big + 1.0f);
  big.eval();
  sum_of_big.eval();  // sent on top of the failed step
  Array fine = ones({2}, float32, remote) + 1.0f;
  fine.eval();
  try {
    sum_of_big.item<float>();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
  }
  // Raised once: other arrays read fine, and the failed ones fail again when read.
  EXPECT_THAT(fine.to_vector<float>(), ElementsAre(2, 2));
  EXPECT_THROW(big.to_vector<float>(), Error);
  EXPECT_NO_THROW(synchronize(remote));
}

TEST(PipelineErrorsTest, AFailureNobodyReadsIsThrownBySynchronize) {
  auto daemon = StartFerryd({"--max_memory=1M"});
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  zeros({1 << 20}, float32, remote).eval();  // fails, and the array is dropped at once
  try {
    synchronize(remote);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
  }
  EXPECT_NO_THROW(synchronize(remote));  // reported once
  std::future<void> failing = async_eval({zeros({1 << 20}, float32, remote)});
  EXPECT_THROW(failing.get(), Error);
}

TEST(PipelineErrorsTest, StepsPastTheWindowWaitForTheDaemonWithoutDeadlock) {
  auto daemon = StartFerryd();
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  // 1000 small uploads, which the daemon does not answer: four times its window of 256.
  std::vector<Array> parts;
  for (int i = 0; i < 1000; ++i) {
    parts.push_back(from_host(std::vector<float>{1.0f * i}, {1}, remote));
    parts.back().eval();
  }
  const DeviceStats uploaded = remote.stats();
  EXPECT_EQ(uploaded.uploads, 1000);
  // The client waited once each time 256 steps were unacknowledged: after steps 256, 512
  // and 768 (each wait a sync step of its own).
  EXPECT_EQ(uploaded.pipeline_steps, 1003);
  EXPECT_EQ(uploaded.round_trips, 1 + 3);  // OpenSession and the three waits
  Array total = parts[0];
  for (int i = 1; i < 1000; ++i) total = total + parts[i];
  EXPECT_THAT(total.to_vector<float>(), ElementsAre(499500.0f));
}

TEST(PipelineErrorsTest, AnOpenPipelineDoesNotHoldUpADrainingDaemon) {
  auto daemon = StartFerryd({"--drain_seconds=60"});
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  EXPECT_EQ(SumScaled(remote, 1.0f), 11.0f);  // the stream is open now
  daemon->Signal(SIGTERM);
  // Well before the 60 s drain deadline: the stream ended once its steps had run.
  EXPECT_EQ(daemon->Wait(20), 0);
  try {
    SumScaled(remote, 1.0f);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(daemon->address()));
  }
}

// A large array goes up when it is made, straight from the caller's memory, in several
// messages; the caller may reuse that memory at once; a read streams it back into memory
// the caller owns. Byte-exact at a size that is no multiple of anything.
TEST(BulkTransferTest, LargeArraysRoundTripByteExactWithoutAHostCopy) {
  auto daemon = StartFerryd();
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  const size_t size = (size_t{40} << 20) + 3;  // eleven 4 MiB messages, the last one short
  std::vector<uint8_t> sent(size);
  uint32_t state = 12345;
  for (uint8_t& byte : sent)
    byte = static_cast<uint8_t>((state = state * 1103515245u + 12345u) >> 24);
  std::vector<uint8_t> scratch = sent;
  Array a = from_host_bytes(scratch.data(), size, uint8, {static_cast<int64_t>(size)}, remote);
  EXPECT_EQ(remote.stats().uploads, 1);          // already uploaded
  std::fill(scratch.begin(), scratch.end(), 0);  // the array does not see this
  std::vector<uint8_t> back(size, 7);
  a.copy_to(back.data(), back.size());
  EXPECT_TRUE(back == sent);
  // And through a computation: the daemon's result streams back the same way.
  std::vector<uint8_t> doubled = (a + a).to_vector<uint8_t>();
  ASSERT_EQ(doubled.size(), size);
  for (size_t i = 0; i < size; i += 4093) {
    ASSERT_EQ(doubled[i], static_cast<uint8_t>(2 * sent[i])) << "at byte " << i;
  }
  EXPECT_EQ(remote.stats().downloads, 2);
}

}  // namespace
}  // namespace ferry
