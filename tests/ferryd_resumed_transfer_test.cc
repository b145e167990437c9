// Large transfers whose connection breaks part way, against a real ferryd over loopback
// relays (bench::LatencyRelay::CutAfter cuts a connection as a laptop changing networks
// does: the client's end closes, the daemon's stays open and silent). Each transfer goes on
// where it stopped, on a new connection: the daemon kept what arrived of an upload, and a
// download starts part way. The arrays are whole and right, and fewer bytes went twice
// than a restart would send.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/latency_relay.h"
#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using testing::ScrapeMetric;

constexpr int64_t kElements = int64_t{16} << 20;  // 64 MiB of float32
constexpr int64_t kBytes = kElements * 4;
constexpr int64_t kCutAt = int64_t{24} << 20;

std::vector<float> Pattern() {
  std::vector<float> values(kElements);
  for (int64_t i = 0; i < kElements; ++i) values[i] = static_cast<float>(i % 100003) - 50000.0f;
  return values;
}

// A ferryd whose gRPC port and bulk channel are each reached through a relay.
class ResumedTransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const int bulk_port = server::FreeLoopbackPort();
    daemon_ = testing::StartFerryd(
        {absl::StrCat("--bulk_port=", bulk_port), absl::StrCat("--metrics_port=", metrics_port_)});
    ASSERT_NE(daemon_, nullptr);
    auto relay = bench::LatencyRelay::Start(daemon_->port(), std::chrono::microseconds(0));
    ASSERT_TRUE(relay.ok()) << relay.status();
    relay_ = *std::move(relay);
    auto bulk_relay = bench::LatencyRelay::Start(bulk_port, std::chrono::microseconds(0));
    ASSERT_TRUE(bulk_relay.ok()) << bulk_relay.status();
    bulk_relay_ = *std::move(bulk_relay);
  }

  Device Connect(bool bulk_channel) {
    ConnectOptions options;
    options.bulk_channel = bulk_channel;
    options.bulk_address = bulk_relay_->address();
    Device device = connect(relay_->address(), options);
    EXPECT_EQ(device.info().bulk_channel, bulk_channel);
    return device;
  }

  // The bytes the daemon received for uploads (gRPC and bulk channel) so far.
  double UploadBytesReceived() {
    return ScrapeMetric(metrics_port_, "ferry_rpc_received_bytes_total{method=\"bulk/Upload\"}") +
           ScrapeMetric(metrics_port_,
                        "ferry_rpc_received_bytes_total{method=\"/ferry.v1.Ferry/Upload\"}");
  }

  // Uploads the pattern with the relay `cut` cut part way; checks it arrived whole.
  void UploadIsResumed(bool bulk_channel, bench::LatencyRelay& cut) {
    Device device = Connect(bulk_channel);
    const std::vector<float> values = Pattern();
    const double before = UploadBytesReceived();
    cut.CutAfter(kCutAt);
    Array x = from_host(values.data(), {kElements}, device);
    const DeviceStats stats = device.stats();
    EXPECT_EQ(stats.resumed_transfers, 1);
    EXPECT_EQ(stats.uploads, 1);
    synchronize(device);  // a pipeline step takes a bulk upload: it has arrived after this
    // What arrived before the cut was not sent again (a restart would send 88 MiB and more).
    const double received = UploadBytesReceived() - before;
    EXPECT_GE(received, static_cast<double>(kBytes));
    EXPECT_LT(received, static_cast<double>(kBytes + (kBytes - kCutAt) / 2)) << received;
    EXPECT_EQ(ScrapeMetric(metrics_port_, "ferry_uploads_resumed_total"), 1);
    EXPECT_EQ(ScrapeMetric(metrics_port_, "ferry_kept_upload_bytes{device=\"cpu:0\"}"), 0);
    // Whole and in place: compared on the device, and read back.
    Array reference = from_host(values.data(), {kElements}, device);
    EXPECT_TRUE(array_equal(x, reference).item<bool>());
    std::vector<float> back = x.to_vector<float>();
    EXPECT_EQ(back, values);
  }

  // Reads a 64 MiB result with the relay `cut` cut part way; checks it came back whole.
  void DownloadIsResumed(bool bulk_channel, bench::LatencyRelay& cut) {
    Device device = Connect(bulk_channel);
    Array x = arange(0.0, static_cast<double>(kElements), 1.0, float32, device);
    eval({x});
    synchronize(device);
    cut.CutAfter(kCutAt);
    std::vector<float> back = x.to_vector<float>();
    ASSERT_EQ(back.size(), static_cast<size_t>(kElements));
    for (int64_t i = 0; i < kElements; i += 4099) ASSERT_EQ(back[i], static_cast<float>(i)) << i;
    EXPECT_EQ(back.back(), static_cast<float>(kElements - 1));
    EXPECT_EQ(device.stats().resumed_transfers, 1);
  }

  const int metrics_port_ = server::FreeLoopbackPort();
  std::unique_ptr<server::FerrydProcess> daemon_;
  std::unique_ptr<bench::LatencyRelay> relay_;
  std::unique_ptr<bench::LatencyRelay> bulk_relay_;
};

TEST_F(ResumedTransferTest, AnUploadOnTheBulkChannelGoesOnWhereItBroke) {
  UploadIsResumed(/*bulk_channel=*/true, *bulk_relay_);
}

TEST_F(ResumedTransferTest, AnUploadOverGrpcGoesOnWhereItBroke) {
  UploadIsResumed(/*bulk_channel=*/false, *relay_);
}

TEST_F(ResumedTransferTest, ADownloadOnTheBulkChannelGoesOnWhereItBroke) {
  DownloadIsResumed(/*bulk_channel=*/true, *bulk_relay_);
}

TEST_F(ResumedTransferTest, ADownloadOverGrpcGoesOnWhereItBroke) {
  DownloadIsResumed(/*bulk_channel=*/false, *relay_);
}

}  // namespace
}  // namespace ferry
