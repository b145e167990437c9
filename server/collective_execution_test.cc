// Graphs holding collectives, run by the executor with a session's ring (the daemon's path
// without gRPC): each rank's executor gives the sum; a rank waiting for its peer is not a
// stalled executor to the watchdog; a graph without a group, or built for another size,
// fails with the node named.
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/collectives.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/executor.h"
#include "server/ring_communicator.h"

namespace ferry::server {
namespace {

using ::testing::HasSubstr;

// One session's groups: group 1 only.
class OneGroup : public kernels::CommunicatorDirectory {
 public:
  explicit OneGroup(std::shared_ptr<kernels::Communicator> group) : group_(std::move(group)) {}
  absl::StatusOr<std::shared_ptr<kernels::Communicator>> FindGroup(int64_t handle) const override {
    if (handle != 1) return absl::NotFoundError("no such group");
    return group_;
  }

 private:
  std::shared_ptr<kernels::Communicator> group_;
};

// parameter (3 floats) -> all_sum over a group of `size`.
core::Graph AllSumGraph(int64_t size) {
  const core::TensorType type{core::DType::kFloat32, {3}};
  core::Graph graph;
  graph.nodes.push_back(
      {"parameter",
       {},
       {{"index", int64_t{0}}, {"dtype", type.dtype}, {"shape", std::vector<int64_t>{3}}},
       type});
  graph.nodes.push_back({"all_sum", {0}, {{"group", int64_t{1}}, {"size", size}}, type});
  graph.outputs = {1};
  return graph;
}

struct Rank {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{1} << 30);
  kernels::Executor executor{*backend};
};

absl::StatusOr<std::vector<float>> RunOn(Rank& rank, const kernels::CommunicatorDirectory* groups,
                                         int64_t size, std::vector<float> values) {
  absl::StatusOr<std::shared_ptr<const kernels::Plan>> plan =
      rank.executor.Prepare(AllSumGraph(size));
  if (!plan.ok()) return plan.status();
  absl::StatusOr<kernels::Tensor> x = rank.backend->Allocate({core::DType::kFloat32, {3}});
  if (!x.ok()) return x.status();
  std::memcpy(x->raw(), values.data(), 12);
  kernels::CommunicatorScope scope(groups);
  absl::StatusOr<std::vector<kernels::Tensor>> out = rank.executor.Run(**plan, {*x});
  if (!out.ok()) return out.status();
  const float* sum = (*out)[0].data<float>();
  return std::vector<float>(sum, sum + 3);
}

TEST(CollectiveExecution, EachRanksExecutorGivesTheSumAndWaitingIsNoStall) {
  int zero_to_one[2], one_to_zero[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, zero_to_one), 0);
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, one_to_zero), 0);
  auto link = [](int fd) {
    return PeerLink{std::make_unique<core::ByteStream>(fd), [fd] { close(fd); }};
  };
  OneGroup group0(std::make_shared<RingCommunicator>(0, 2, link(zero_to_one[0]),
                                                     link(one_to_zero[1]), absl::Seconds(20)));
  OneGroup group1(std::make_shared<RingCommunicator>(1, 2, link(one_to_zero[0]),
                                                     link(zero_to_one[1]), absl::Seconds(20)));
  Rank rank0, rank1;
  absl::StatusOr<std::vector<float>> sum0 = absl::UnknownError("not run");
  std::thread first([&] { sum0 = RunOn(rank0, &group0, 2, {1, 2, 3}); });
  absl::SleepFor(absl::Milliseconds(300));  // rank 0 waits for rank 1 meanwhile
  EXPECT_EQ(rank0.executor.StalledFor(), absl::ZeroDuration());
  absl::StatusOr<std::vector<float>> sum1 = RunOn(rank1, &group1, 2, {10, 20, 30});
  first.join();
  ASSERT_TRUE(sum0.ok()) << sum0.status();
  ASSERT_TRUE(sum1.ok()) << sum1.status();
  EXPECT_EQ(*sum0, (std::vector<float>{11, 22, 33}));
  EXPECT_EQ(*sum1, (std::vector<float>{11, 22, 33}));
}

TEST(CollectiveExecution, WithoutTheGroupOrForAnotherSizeTheNodeFails) {
  Rank rank;
  absl::StatusOr<std::vector<float>> alone = RunOn(rank, nullptr, 1, {1, 2, 3});
  EXPECT_EQ(alone.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(alone.status().message(), HasSubstr("node 1 (all_sum): [all_sum] needs the ranks"));
  OneGroup single(
      std::make_shared<RingCommunicator>(0, 1, PeerLink{}, PeerLink{}, absl::Seconds(1)));
  absl::StatusOr<std::vector<float>> mismatch = RunOn(rank, &single, 4, {1, 2, 3});
  EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      mismatch.status().message(),
      HasSubstr("[all_sum] was built for a group of 4 ranks; group 1 of this session has 1"));
  absl::StatusOr<std::vector<float>> itself = RunOn(rank, &single, 1, {1, 2, 3});
  ASSERT_TRUE(itself.ok()) << itself.status();
  EXPECT_EQ(*itself, (std::vector<float>{1, 2, 3}));
}

}  // namespace
}  // namespace ferry::server
