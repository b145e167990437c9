// Arrays moving between devices (Array::to) on real ferryd daemons over loopback: between
// two daemons the bytes go daemon to daemon, never through the client, without a round
// trip; values arrive whole, a source's failure reaches the copy's reader with its own
// code, gradients flow back to the source's device, and copies that daemons cannot make
// between themselves (a local device, an unpipelined session) pass through the client.

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

class CopyTest : public ::testing::Test {
 protected:
  Device Start(std::vector<std::string> flags = {}, const ConnectOptions& options = {}) {
    daemons_.push_back(testing::StartFerryd(std::move(flags)));
    EXPECT_NE(daemons_.back(), nullptr);
    return connect(daemons_.back()->address(), options);
  }

  std::vector<std::unique_ptr<server::FerrydProcess>> daemons_;
};

TEST_F(CopyTest, ACopyBetweenDaemonsGoesDaemonToDaemonWithoutARoundTrip) {
  Device a = Start();
  Device b = Start();
  const std::vector<float> host = testing::NormalFloats(int64_t{1} << 22, 3);  // 16 MiB
  Array x = from_host(host, {1024, 4096}, a);
  Array y = x * 2.0f + 1.0f;  // computed on a
  const DeviceStats a_before = a.stats();
  const DeviceStats b_before = b.stats();
  Array z = sum(y.to(b) - 1.0f, 1);  // the copy and the sum, on b
  EXPECT_EQ(z.device(), b);
  eval({z});
  // Sent without waiting for either daemon.
  EXPECT_EQ(a.stats().round_trips, a_before.round_trips);
  EXPECT_EQ(b.stats().round_trips, b_before.round_trips);
  const std::vector<float> sums = z.to_vector<float>();
  ASSERT_EQ(sums.size(), 1024u);
  for (int64_t row = 0; row < 1024; row += 97) {
    float expected = 0;
    for (int64_t col = 0; col < 4096; ++col) expected += host[row * 4096 + col] * 2.0f;
    EXPECT_NEAR(sums[row], expected, 1e-2f + 1e-4f * std::abs(expected)) << "row " << row;
  }
  // The 16 MiB went daemon to daemon: the client neither downloaded them nor uploaded them.
  EXPECT_EQ(a.stats().download_bytes, a_before.download_bytes);
  EXPECT_EQ(b.stats().upload_bytes, b_before.upload_bytes);
  EXPECT_EQ(b.stats().peer_copies, b_before.peer_copies + 1);
}

TEST_F(CopyTest, CopiesChainAndComeBackWhole) {
  Device a = Start();
  Device b = Start();
  Device c = Start();
  const std::vector<float> host = testing::NormalFloats(1000, 4);
  Array x = from_host(host, {10, 100}, a);
  Array back = (exp(x).to(b) * 3.0f).to(c).to(a) / 3.0f;
  std::vector<float> got = back.to_vector<float>();
  ASSERT_EQ(got.size(), host.size());
  for (size_t i = 0; i < host.size(); ++i) EXPECT_FLOAT_EQ(got[i], std::exp(host[i])) << i;
  EXPECT_EQ(a.stats().peer_copies, 1);
  EXPECT_EQ(b.stats().peer_copies, 1);
  EXPECT_EQ(c.stats().peer_copies, 1);
}

// Later copies from a daemon reuse the connection the first one opened (and a refused one
// leaves it usable): each arrives whole, whatever came before.
TEST_F(CopyTest, ManyCopiesFromOneDaemonEachArriveWhole) {
  Device a = Start();
  Device b = Start();
  Device b_again = connect(daemons_.back()->address());
  for (int i = 0; i < 12; ++i) {
    const Device& to = i % 3 == 2 ? b_again : b;
    Array y = full({1000 + i}, static_cast<double>(i), float32, a) + 0.5f;
    const std::vector<float> got = y.to(to).to_vector<float>();
    ASSERT_EQ(got.size(), static_cast<size_t>(1000 + i));
    EXPECT_EQ(got.front(), i + 0.5f) << i;
    EXPECT_EQ(got.back(), i + 0.5f) << i;
  }
  EXPECT_EQ(b.stats().peer_copies + b_again.stats().peer_copies, 12);
}

// Arrays dropped on the destination are freed before the next copy lands there, as before
// a large upload: a loop of copies does not pile up (it would also run ever slower, each
// copy in fresh memory).
TEST_F(CopyTest, ALoopOfCopiesFreesTheDroppedOnesAsItGoes) {
  const int metrics = server::FreeLoopbackPort();
  const int source_metrics = server::FreeLoopbackPort();
  Device a = Start({"--metrics_port=" + std::to_string(source_metrics)});
  Device b = Start({"--metrics_port=" + std::to_string(metrics)});
  Array x = full({1 << 20}, 1.0, float32, a);  // 4 MiB
  for (int i = 0; i < 10; ++i) {
    Array copy = x.to(b);
    copy.eval();
  }
  synchronize(b);
  const double resident = testing::ScrapeMetric(metrics, "ferry_resident_bytes{device=\"cpu:0\"}");
  EXPECT_GE(resident, 0);
  EXPECT_LE(resident, 8 << 20) << "the dropped copies were kept";
  // The source counts what it served among its calls, each once its last byte is sent (a
  // moment after the destination has it).
  EXPECT_TRUE(testing::WaitUntil([&] {
    return testing::ScrapeMetric(
               source_metrics, "ferry_rpc_requests_total{code=\"OK\",method=\"bulk/Fetch\"}") == 10;
  }));
  EXPECT_EQ(
      testing::ScrapeMetric(source_metrics, "ferry_rpc_sent_bytes_total{method=\"bulk/Fetch\"}"),
      10 * (4 << 20));
}

// The destination's fetch comes before the source has computed the array (its stream reads
// the offer only once the work before it has run): the fetch waits for it, and it arrives
// whole.
TEST_F(CopyTest, ACopyOfAnArrayStillBeingComputedWaitsForIt) {
  Device a = Start();
  Device b = Start();
  Array m = random::normal({768, 768}, float32, a);
  Array busy = m;
  for (int i = 0; i < 8; ++i) busy = matmul(busy, m) * 0.01f;
  Array y = arange(200000.0, float32, a) * 2.0f + sum(busy) * 0.0f;
  Array copy = y.to(b);
  EXPECT_EQ(copy.to_vector<float>()[123456], 246912.0f);
  EXPECT_EQ(b.stats().peer_copies, 1);
}

// One eval needs two copies to c, and making the second (whose source on b reads the first,
// moved on from c) makes the first on the way: each is made once, and the sum is right.
TEST_F(CopyTest, ACopyMadeWhileMakingAnotherIsMadeOnce) {
  Device a = Start();
  Device b = Start();
  Device c = Start();
  Array x = arange(5.0, float32, a);
  Array on_c = x.to(c);
  Array back_on_c = (on_c.to(b) * 3.0f).to(c);
  EXPECT_EQ((on_c + back_on_c).to_vector<float>(), std::vector<float>({0, 4, 8, 12, 16}));
  EXPECT_EQ(c.stats().peer_copies, 2);
}

TEST_F(CopyTest, TwoSessionsOfOneDaemonCopyBetweenThemselves) {
  Device a = Start();
  Device a_again = connect(daemons_.back()->address());
  Array x = arange(12.0, float32, a);
  EXPECT_EQ((x.to(a_again) + 1.0f).to_vector<float>(),
            std::vector<float>({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(a_again.stats().peer_copies, 1);
  // A small array the client still holds (not uploaded yet) goes from the client's bytes.
  Array small = from_host(std::vector<float>{7, 8, 9}, {3}, a);
  EXPECT_EQ(small.to(a_again).to_vector<float>(), std::vector<float>({7, 8, 9}));
  EXPECT_EQ(a_again.stats().peer_copies, 1);
}

TEST_F(CopyTest, ASourceDroppedRightAfterItsCopyStillArrives) {
  Device a = Start();
  Device b = Start();
  Array z = zeros({1}, float32, b);
  {
    Array y = full({1 << 20}, 2.5f, float32, a) * 2.0f;
    z = y.to(b);
    eval({z});
  }  // y released on a, likely before b has fetched it
  synchronize(a);
  const std::vector<float> got = z.to_vector<float>();
  ASSERT_EQ(got.size(), size_t{1} << 20);
  EXPECT_EQ(got.front(), 5.0f);
  EXPECT_EQ(got.back(), 5.0f);
}

TEST_F(CopyTest, ASourceThatFailedFailsItsCopyWithItsOwnError) {
  // a's session may hold 1 MiB: a 4 MiB result there fails when run, not when built.
  Device a = Start({"--max_session_memory=1MiB"});
  Device b = Start();
  Array y = ones({1 << 20}, float32, a) * 3.0f;
  Array z = y.to(b) + 1.0f;
  eval({z});
  try {
    z.to_vector<float>();
    FAIL() << "the copy of a failed array was read";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kResourceExhausted) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("--max_session_memory"));
    EXPECT_THAT(error.what(), HasSubstr("[copy]"));
  }
  // Both daemons go on serving.
  EXPECT_EQ((arange(3.0, float32, a).to(b) * 2.0f).to_vector<float>(),
            std::vector<float>({0, 2, 4}));
}

TEST_F(CopyTest, GradientsFlowBackToTheSourceDevice) {
  Device a = Start();
  Device b = Start();
  const std::vector<float> w_host = testing::NormalFloats(4 * 3, 5);
  const std::vector<float> x_host = testing::NormalFloats(8 * 4, 6);
  // Stage one on a, the loss on b; the same on one local device as the reference.
  auto loss_on = [](const Device& second) {
    return [second](const std::vector<Array>& p) {
      Array h = tanh(matmul(p[1], p[0])).to(second);
      return sum(h * h);
    };
  };
  auto [loss, grads] =
      value_and_grad(loss_on(b))({from_host(w_host, {4, 3}, a), from_host(x_host, {8, 4}, a)});
  auto [local_loss, local_grads] = value_and_grad(loss_on(local()))(
      {from_host(w_host, {4, 3}, local()), from_host(x_host, {8, 4}, local())});
  EXPECT_EQ(loss.device(), b);
  EXPECT_EQ(grads[0].device(), a);
  EXPECT_NEAR(loss.item<float>(), local_loss.item<float>(), 1e-4f);
  const std::vector<float> got = grads[0].to_vector<float>();
  const std::vector<float> want = local_grads[0].to_vector<float>();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5f) << i;
  // Forward mode too: the tangent goes along with the value.
  auto [out, tangent] = jvp([&](const Array& v) { return square(v.to(b)); },
                            from_host(std::vector<float>{1, 2, 3}, {3}, a),
                            from_host(std::vector<float>{1, 1, 2}, {3}, a));
  EXPECT_EQ(tangent.device(), b);
  EXPECT_EQ(tangent.to_vector<float>(), std::vector<float>({2, 4, 12}));
}

TEST_F(CopyTest, CopiesToAndFromTheLocalDevicePassThroughTheClient) {
  Device a = Start();
  const std::vector<float> host = testing::NormalFloats(3000, 7);
  Array here = from_host(host, {3000}, local());
  Array there = (here * 2.0f).to(a);
  Array back = (there + 1.0f).to(local());
  EXPECT_EQ(back.device(), local());
  const std::vector<float> got = back.to_vector<float>();
  for (size_t i = 0; i < host.size(); ++i) EXPECT_FLOAT_EQ(got[i], host[i] * 2.0f + 1.0f) << i;
  EXPECT_EQ(a.stats().peer_copies, 0);
  EXPECT_EQ(here.to(local()).node(), here.node());  // its own device: the same array
}

TEST_F(CopyTest, AnUnpipelinedSessionCopiesThroughTheClient) {
  ConnectOptions unary;
  unary.pipeline = false;
  Device a = Start();
  Device b = Start({}, unary);
  Array y = arange(100000.0, float32, a) * 0.5f;
  const std::vector<float> got = (y.to(b) + 0.25f).to_vector<float>();
  ASSERT_EQ(got.size(), 100000u);
  EXPECT_FLOAT_EQ(got[99999], 99999 * 0.5f + 0.25f);
  EXPECT_EQ(b.stats().peer_copies, 0);
  EXPECT_GT(b.stats().upload_bytes, 0);
}

TEST_F(CopyTest, PeerCopiesOffCopiesThroughTheClient) {
  ConnectOptions apart;
  apart.peer_copies = false;
  Device a = Start();
  Device b = Start({}, apart);
  EXPECT_EQ((arange(100000.0, float32, a) + 1.0f).to(b).to_vector<float>()[99999], 100000.0f);
  EXPECT_EQ((arange(3.0, float32, b) + 1.0f).to(a).to_vector<float>(),
            std::vector<float>({1, 2, 3}));
  EXPECT_EQ(a.stats().peer_copies + b.stats().peer_copies, 0);
  EXPECT_GT(b.stats().upload_bytes, 0);
}

TEST_F(CopyTest, ASourceDaemonRefusesFetchesFromOutsideItsPeerNetworks) {
  Device a = Start({"--peer_networks=10.0.0.0/8"});
  Device b = Start();
  Array z = (arange(1000.0, float32, a) + 1.0f).to(b);
  try {
    z.to_vector<float>();
    FAIL() << "a refused copy was read";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kPermissionDenied) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("is outside --peer_networks (10.0.0.0/8)"));
  }
}

TEST_F(CopyTest, VmapMovesTheWholeBatch) {
  Device a = Start();
  Device b = Start();
  auto per_row = vmap([&](const Array& row) { return sum(row.to(b) * 2.0f); });
  Array rows = reshape(arange(6.0, float32, a), {2, 3});
  Array sums = per_row(rows);
  EXPECT_EQ(sums.device(), b);
  EXPECT_EQ(sums.to_vector<float>(), std::vector<float>({6, 24}));
  EXPECT_EQ(b.stats().peer_copies, 1);  // one copy of the batch, not one per row
}

TEST_F(CopyTest, AFunctionThatCopiesBetweenDevicesIsNotExported) {
  Device a = Start();
  const std::string path = ::testing::TempDir() + "/copies.ferryfn";
  try {
    export_function(
        path, [&](const std::vector<Array>& in) { return std::vector<Array>{in[0].to(a) + 1.0f}; },
        {zeros({4}, float32, local())});
    FAIL() << "a function copying between devices was exported";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("[to] an array copied from another device"));
  }
}

}  // namespace
}  // namespace ferry
