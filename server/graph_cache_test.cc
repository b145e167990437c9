#include "server/graph_cache.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace ferry::server {
namespace {

std::shared_ptr<const kernels::Plan> PlanWithId(const std::string& id) {
  auto plan = std::make_shared<kernels::Plan>();
  plan->graph_id = id;
  return plan;
}

TEST(GraphCacheTest, KeepsTheMostRecentlyUsedAndCountsWhatHappens) {
  GraphCache cache(2);
  cache.Insert(PlanWithId("a"));
  cache.Insert(PlanWithId("b"));
  ASSERT_NE(cache.Find("a"), nullptr);  // a is now more recent than b
  cache.Insert(PlanWithId("c"));        // evicts b
  EXPECT_EQ(cache.Find("b"), nullptr);
  EXPECT_NE(cache.Find("a"), nullptr);
  EXPECT_NE(cache.Find("c"), nullptr);
  cache.Insert(PlanWithId("c"));  // resent: neither a new entry nor an eviction
  GraphCacheStats stats = cache.stats();
  EXPECT_EQ(stats.size, 2);
  EXPECT_EQ(stats.capacity, 2);
  EXPECT_EQ(stats.hits, 3);
  EXPECT_EQ(stats.misses, 1);
  EXPECT_EQ(stats.inserts, 3);
  EXPECT_EQ(stats.evictions, 1);
}

TEST(GraphCacheTest, AMissingGraphErrorNamesTheGraph) {
  absl::Status status = MissingGraphError(std::string(16, '\x01'));
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "unknown graph_id 01010101010101010101010101010101: send the graph");
  EXPECT_EQ(MissingGraphId(status), std::string(16, '\x01'));
  EXPECT_EQ(MissingGraphId(absl::NotFoundError("unknown buffer")), "");
}

}  // namespace
}  // namespace ferry::server
