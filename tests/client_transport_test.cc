// The client's transport against a real ferryd over loopback: the daemon's graph cache
// (shared by sessions, bounded, safe to lose) and the pipeline (many steps in flight, one
// round trip for a chain of dependent evals, failures kept and reported).

#include <memory>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ferryd_process.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<server::FerrydProcess> StartFerryd(std::vector<std::string> flags = {}) {
  const std::string path = server::FindFerryd(nullptr);
  EXPECT_FALSE(path.empty()) << "ferryd is not in this test's runfiles";
  auto process = server::FerrydProcess::Start(path, std::move(flags));
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? *std::move(process) : nullptr;
}

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
  auto restarted = StartFerryd({listen, "--drain_seconds=0"});  // same address, empty cache
  ASSERT_NE(restarted, nullptr);
  ASSERT_EQ(restarted->address(), daemon->address());
  Device remote = connect(restarted->address());
  EXPECT_EQ(SumScaled(remote, 5.0f), 51.0f);
  EXPECT_EQ(remote.stats().graphs_resent, 1);
  EXPECT_EQ(remote.stats().graphs_sent, 1);
}

}  // namespace
}  // namespace ferry
