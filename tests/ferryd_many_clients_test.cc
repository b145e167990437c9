// Many clients against one ferryd at once, as a shared GPU node sees them: sessions of every
// transport (pipelined or unary, bulk channel, shared memory or gRPC) run the same work side
// by side, on data of their own: uploads of 16 B to 4 MiB, evals of graphs the sessions share
// through the daemon's graph cache, results read back whole, releases, an eval the daemon
// refuses, memory_info; while another session's long evals are cancelled. Each checks its
// results against the local device, so a result crossing sessions shows; afterwards the
// daemon holds nothing and stops cleanly.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;

// Each client's rounds: 10, or FERRY_MANY_CLIENTS_ROUNDS for a longer soak by hand.
int Rounds() {
  const char* rounds = std::getenv("FERRY_MANY_CLIENTS_ROUNDS");
  return rounds != nullptr ? std::atoi(rounds) : 10;
}
// Elements of the rounds' inputs, in turn: inline, a pipeline step, a gRPC stream or the
// bulk channel or shared memory, up to 4 MiB.
constexpr int64_t kSizes[] = {4, 256, 20000, 262144, 1 << 20};

struct Transport {
  const char* name;
  bool pipeline, bulk_channel, shared_memory;
};
constexpr Transport kTransports[] = {
    {"pipeline + bulk channel", true, true, false},  {"pipeline over gRPC", true, false, false},
    {"unary + bulk channel", false, true, false},    {"unary over gRPC", false, false, false},
    {"pipeline + shared memory", true, false, true}, {"unary + shared memory", false, false, true},
};

// Whether every element of `got` is within `relative` of `want`'s.
void ExpectNear(const std::vector<float>& got, const std::vector<float>& want, double relative,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::fabs(got[i] - want[i]) > relative * (1 + std::fabs(want[i]))) {
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", locally " << want[i];
      return;
    }
  }
}

// One client's rounds on `remote`, each checked against the same on the local device. The
// graphs depend only on the round's size, so the sessions share them.
void RunClient(int client, const Device& remote) {
  const std::string who = kTransports[client].name;
  const Device here = local();
  const std::vector<float> mix = {0.5f, -1, 2, 0, 1, 0.25f, -0.5f, 1, 0, 3, 1, -2, 1, 1, 1, 1};
  const int rounds = Rounds();
  for (int round = 0; round < rounds; ++round) {
    const int64_t n = kSizes[round % std::size(kSizes)];
    std::mt19937 random(static_cast<uint32_t>(client * 7919 + round));
    std::normal_distribution<float> normal(0, 2);
    std::vector<float> values(static_cast<size_t>(n));
    for (float& v : values) v = normal(random);
    const std::string what = absl::StrCat(who, ", round ", round, ", ", n, " elements");
    auto compute = [&](const Device& device) {
      Array x = from_host(values, {n / 4, 4}, device);
      Array w = from_host(mix, {4, 4}, device);
      Array mixed = sum(matmul(softmax(x, -1), w), 0) + max(x);
      Array scaled = x * 2.0f + 1.0f;
      eval({mixed, scaled});
      return std::make_pair(mixed.to_vector<float>(), scaled.to_vector<float>());
    };
    try {
      const auto [mixed, scaled] = compute(remote);
      const auto [mixed_here, scaled_here] = compute(here);
      ExpectNear(mixed, mixed_here, 1e-4, what);
      ExpectNear(scaled, scaled_here, 1e-6, what);
      if (round % 3 == 1) {  // the daemon refuses this one eval; the session goes on
        Array not_positive = from_host(std::vector<float>{-1, 0, 0, -1}, {2, 2}, remote);
        try {
          linalg::cholesky(not_positive).to_vector<float>();
          ADD_FAILURE() << what << ": the cholesky of -I evaluated";
        } catch (const Error& error) {
          EXPECT_EQ(error.code(), ErrorCode::kInvalidArgument) << what << ": " << error.what();
        }
      }
      if (round % 4 == 3) {
        EXPECT_GE(memory_info(remote).active_bytes, 0) << what;
      }
    } catch (const Error& error) {
      ADD_FAILURE() << what << ": " << error.what();
    }
  }
}

// x @ w @ w @ ...: 2000 matmuls of 512 x 512, far longer than its cancel waits.
void CancelLongEvals(const Device& device) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    Array x = full({512, 512}, 0.01, float32, device);
    Array y = x;
    for (int i = 0; i < 2000; ++i) y = matmul(y, x);
    std::future<std::string> outcome = std::async(std::launch::async, [&y]() -> std::string {
      try {
        y.to_vector<float>();
        return "no error";
      } catch (const Error& error) {
        return absl::StrCat(static_cast<int>(error.code()), " ", error.what());
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel(device);
    if (outcome.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
      ADD_FAILURE() << "a cancelled eval still runs after a minute";
      std::_Exit(1);  // its thread cannot be joined
    }
    EXPECT_THAT(outcome.get(),
                HasSubstr(absl::StrCat(static_cast<int>(ErrorCode::kCancelled), " ")));
    EXPECT_EQ((x + 1.0f).to_vector<float>()[0], 1.01f);  // the session goes on
  }
}

TEST(ManyClients, SessionsOfEveryTransportAtOnceGetTheirOwnResultsAndLeaveNothing) {
  auto daemon = testing::StartFerryd({"--shared_memory"});
  ASSERT_NE(daemon, nullptr);
  std::vector<std::future<DeviceStats>> clients;
  for (int client = 0; client < static_cast<int>(std::size(kTransports)); ++client) {
    clients.push_back(std::async(std::launch::async, [&daemon, client] {
      ConnectOptions options;
      options.client_name = kTransports[client].name;
      options.pipeline = kTransports[client].pipeline;
      options.bulk_channel = kTransports[client].bulk_channel;
      options.shared_memory = kTransports[client].shared_memory;
      try {
        Device remote = connect(daemon->address(), options);
        RunClient(client, remote);
        return remote.stats();
      } catch (const Error& error) {
        ADD_FAILURE() << kTransports[client].name << ": " << error.what();
        return DeviceStats();
      }
    }));
  }
  clients.push_back(std::async(std::launch::async, [&daemon] {
    try {
      CancelLongEvals(connect(daemon->address()));
    } catch (const Error& error) {
      ADD_FAILURE() << "the cancelled session: " << error.what();
    }
    return DeviceStats();
  }));
  std::vector<DeviceStats> stats;
  for (std::future<DeviceStats>& client : clients) {
    // 18 s a round at most (a round takes about 0.6 s here).
    if (client.wait_for(std::chrono::seconds(18 * std::max(10, Rounds()))) !=
        std::future_status::ready) {
      ADD_FAILURE() << "a client still runs after 18 s a round";
      std::_Exit(1);
    }
    stats.push_back(client.get());
  }
  // Each session took the routes its options name, and the sessions shared graphs.
  int64_t executes = 0, graphs_sent = 0;
  for (size_t client = 0; client < std::size(kTransports); ++client) {
    const Transport& transport = kTransports[client];
    const DeviceStats& done = stats[client];
    EXPECT_EQ(done.pipeline_steps > 0, transport.pipeline) << transport.name;
    EXPECT_EQ(done.bulk_channel_transfers > 0, transport.bulk_channel) << transport.name;
    EXPECT_EQ(done.shared_memory_transfers > 0, transport.shared_memory) << transport.name;
    executes += done.executes;
    graphs_sent += done.graphs_sent;
  }
  EXPECT_LT(graphs_sent, executes / 2);
  // Every session closed: nothing is left resident, and the daemon stops cleanly.
  auto stub = testing::Connect(daemon->address());
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub, "", &info).ok());
  EXPECT_EQ(info.sessions(), 0);
  EXPECT_EQ(info.resident_bytes(), 0);
  EXPECT_EQ(info.in_use_bytes(), 0);  // no eval's intermediates either, cancelled or failed
  EXPECT_EQ(daemon->Stop(), 0);
}

}  // namespace
}  // namespace ferry
