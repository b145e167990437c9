// ferry::cancel stops a long eval from another thread, on the local device, on a daemon
// over the Pipeline stream, and on a daemon over unary calls: the eval fails with
// CANCELLED, the daemon stops running it, arrays computed before are kept, and the next
// eval goes on as usual.

#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/latency_relay.h"
#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

// x @ w @ w @ ... : 2000 matmuls of 1024 x 1024, about 40 s on two cores, far longer than
// the test waits.
Array LongChain(const Array& x, const Array& w) {
  Array y = x;
  for (int i = 0; i < 2000; ++i) y = matmul(y, w);
  return y;
}

// Runs `work` on another thread, cancels `device` half a second in, and checks the work
// fails with CANCELLED soon after.
void CancelMidWay(const Device& device, const std::function<void()>& work) {
  std::future<std::string> outcome = std::async(std::launch::async, [&work]() -> std::string {
    try {
      work();
      return "no error";
    } catch (const Error& error) {
      return absl::StrCat(static_cast<int>(error.code()), " ", error.what());
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const auto cancelled = std::chrono::steady_clock::now();
  cancel(device);
  if (outcome.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "the work still runs a minute after cancel";
    std::_Exit(1);  // its thread cannot be joined
  }
  const std::string failure = outcome.get();
  EXPECT_THAT(failure, HasSubstr(absl::StrCat(static_cast<int>(ErrorCode::kCancelled), " ")));
  EXPECT_THAT(failure, HasSubstr("cancelled by ferry::cancel"));
  EXPECT_LT(std::chrono::steady_clock::now() - cancelled, std::chrono::seconds(10));
}

// Evaluates `chain`, cancelling it half a second in.
void CancelMidEval(const Device& device, Array chain) {
  CancelMidWay(device, [&chain] { chain.to_vector<float>(); });
}

// The runs the daemon serving metrics on `port` stopped part-way, once it has noticed
// (at its next kernel), waiting up to 5 s.
double CancelledRuns(int port) {
  testing::WaitUntil(
      [port] { return testing::ScrapeMetric(port, "ferry_executes_cancelled_total") > 0; },
      std::chrono::seconds(5));
  return testing::ScrapeMetric(port, "ferry_executes_cancelled_total");
}

struct Inputs {
  Array x, w;
};

// x and w (scaled so that the chain stays finite), computed and resident on `device`.
Inputs MakeInputs(const Device& device) {
  Array x = random::normal({1024, 1024}, float32, 0.0, 1.0, random::key(1), device);
  Array w = random::normal({1024, 1024}, float32, 0.0, 1.0 / 32, random::key(2), device);
  eval({x, w});
  synchronize(device);
  return {x, w};
}

// What was computed before the cancel is still there, and new evals run.
void CarriesOn(Inputs inputs) {
  Array row = sum(inputs.x - inputs.x, {1});
  EXPECT_EQ(row.to_vector<float>(), std::vector<float>(1024, 0.0f));
  EXPECT_EQ(matmul(inputs.x, inputs.w).shape(), (Shape{1024, 1024}));
}

TEST(Cancel, StopsAnEvalOnTheLocalDevice) {
  const Device device = local();
  Inputs inputs = MakeInputs(device);
  CancelMidEval(device, LongChain(inputs.x, inputs.w));
  CarriesOn(inputs);
  cancel(device);  // with nothing in flight: nothing happens
  CarriesOn(inputs);
}

TEST(Cancel, StopsAnEvalOnADaemonsPipelineAndTheDaemonStopsRunningIt) {
  const int metrics = server::FreeLoopbackPort();
  auto daemon = testing::StartFerryd({absl::StrCat("--metrics_port=", metrics)});
  ASSERT_NE(daemon, nullptr);
  const Device device = connect(daemon->address());
  Inputs inputs = MakeInputs(device);
  CancelMidEval(device, LongChain(inputs.x, inputs.w));
  EXPECT_EQ(CancelledRuns(metrics), 1);
  CarriesOn(inputs);
  EXPECT_EQ(device.stats().reconnects, 1);  // a new stream on the same session
  cancel(device);                           // with nothing in flight: nothing happens
  CarriesOn(inputs);
  EXPECT_EQ(device.stats().reconnects, 1);
}

TEST(Cancel, StopsAnEvalOnADaemonOverUnaryCalls) {
  const int metrics = server::FreeLoopbackPort();
  auto daemon = testing::StartFerryd({absl::StrCat("--metrics_port=", metrics)});
  ASSERT_NE(daemon, nullptr);
  ConnectOptions options;
  options.pipeline = false;
  const Device device = connect(daemon->address(), options);
  Inputs inputs = MakeInputs(device);
  CancelMidEval(device, LongChain(inputs.x, inputs.w));
  EXPECT_EQ(CancelledRuns(metrics), 1);
  CarriesOn(inputs);
}

// Runs `transfer` while the bulk channel's relay is partitioned (its bytes go nowhere, as
// on a network that went away), cancelling it half a second in: it fails with CANCELLED
// rather than resume or wait.
void CancelStalledTransfer(const Device& device, bench::LatencyRelay& relay,
                           const std::function<void()>& transfer) {
  relay.Partition();
  CancelMidWay(device, transfer);
  relay.Heal();
}

// A large upload or download waiting on a stalled bulk channel stops at ferry::cancel, as
// an eval does; the session goes on, and what the cancelled upload left on the daemon is
// freed.
TEST(Cancel, StopsALargeUploadOrDownloadInFlight) {
  const int bulk_port = server::FreeLoopbackPort();
  const int metrics = server::FreeLoopbackPort();
  auto daemon = testing::StartFerryd(
      {absl::StrCat("--bulk_port=", bulk_port), absl::StrCat("--metrics_port=", metrics)});
  ASSERT_NE(daemon, nullptr);
  auto relay = bench::LatencyRelay::Start(bulk_port, std::chrono::microseconds(0));
  ASSERT_TRUE(relay.ok()) << relay.status();
  // Without a pipeline an upload waits for the daemon's answer (with one it would return
  // once its bytes are handed to the socket, which a partition never blocks).
  ConnectOptions options;
  options.bulk_address = (*relay)->address();
  options.pipeline = false;
  const Device device = connect(daemon->address(), options);
  const std::vector<char> bytes(size_t{256} << 20, 1);
  CancelStalledTransfer(device, **relay, [&] {
    from_host_bytes(bytes.data(), bytes.size(), uint8, {static_cast<int64_t>(bytes.size())},
                    device);
  });
  Array big = full({64 << 20}, 2.0, float32, device);  // 256 MiB
  big.eval();
  synchronize(device);
  std::vector<float> sink(size_t{64} << 20);
  CancelStalledTransfer(device, **relay, [&] { big.copy_to(sink.data(), sink.size() * 4); });
  // The session goes on: transfers work again (the bulk channel dialled anew).
  EXPECT_EQ((arange(3.0, float32, device) + 1.0f).to_vector<float>(),
            std::vector<float>({1, 2, 3}));
  big.copy_to(sink.data(), sink.size() * 4);
  EXPECT_EQ(sink[12345], 2.0f);
  // The bytes the cancelled upload left with the daemon for a resume are freed.
  synchronize(device);
  EXPECT_TRUE(testing::WaitUntil([&] {
    return testing::ScrapeMetric(metrics, "ferry_kept_upload_bytes{device=\"cpu:0\"}") == 0;
  }));
}

}  // namespace
}  // namespace ferry
