// JoinGroup's second step (JoinDevices) between ranks as threads, over socket pairs: a group
// runs on its backends' device collectives only when every rank joined them with rank 0's id;
// any rank that cannot, or whose daemon will not, leaves the whole group on the host path.

#include "server/join_group.h"

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace ferry::server {
namespace {

// What a rank's backend does when asked to join device collectives.
struct DeviceBehaviour {
  bool has = true;
  absl::Status id_fails;    // rank 0's NewDeviceGroupId
  absl::Status join_fails;  // JoinDeviceGroup
  std::string joined_with;  // the id it was given
};

class NamedDevice : public kernels::DeviceCollectives {
 public:
  std::string name() const override { return "fake"; }
  bool Reduces(kernels::ReduceOp, core::DType) const override { return true; }
  absl::Status AllReduce(kernels::ReduceOp, core::DType, const void*, void*, int64_t) override {
    return absl::OkStatus();
  }
  absl::Status AllGather(const void*, size_t, void*) override { return absl::OkStatus(); }
  absl::Status ReduceScatter(kernels::ReduceOp, core::DType, const void*, void*, int64_t) override {
    return absl::OkStatus();
  }
  absl::Status AllToAll(const void*, size_t, void*) override { return absl::OkStatus(); }
  void Abort() override {}
};

// The CPU backend, with device collectives that behave as told.
class DeviceGroupBackend : public kernels::Backend {
 public:
  explicit DeviceGroupBackend(DeviceBehaviour& behaviour)
      : cpu_(kernels::MakeCpuBackend(1 << 20)), behaviour_(behaviour) {}
  const kernels::DeviceFacts& facts() const override { return cpu_->facts(); }
  kernels::MemoryBudget& budget() override { return cpu_->budget(); }
  absl::StatusOr<kernels::Tensor> Allocate(const core::TensorType& type) override {
    return cpu_->Allocate(type);
  }
  absl::Status CopyFromHost(const void* src, size_t bytes, const kernels::Tensor& dst,
                            size_t offset) override {
    return cpu_->CopyFromHost(src, bytes, dst, offset);
  }
  absl::Status CopyToHost(const kernels::Tensor& src, size_t offset, size_t bytes,
                          void* dst) override {
    return cpu_->CopyToHost(src, offset, bytes, dst);
  }
  absl::Status Run(const core::Node& node, absl::Span<const kernels::Tensor> inputs,
                   const kernels::Tensor& out) override {
    return cpu_->Run(node, inputs, out);
  }
  bool HasDeviceCollectives() const override { return behaviour_.has; }
  absl::StatusOr<std::string> NewDeviceGroupId() override {
    if (!behaviour_.id_fails.ok()) return behaviour_.id_fails;
    return std::string(128, 'i');
  }
  absl::StatusOr<std::unique_ptr<kernels::DeviceCollectives>> JoinDeviceGroup(
      const std::string& id, int, int, absl::Duration, absl::Duration) override {
    behaviour_.joined_with = id;
    if (!behaviour_.join_fails.ok()) return behaviour_.join_fails;
    return std::make_unique<NamedDevice>();
  }

 private:
  std::unique_ptr<kernels::Backend> cpu_;
  DeviceBehaviour& behaviour_;
};

// Links `behaviours.size()` ranks in a ring and runs JoinDevices on each at once (a rank
// whose behaviour is null stands for a daemon with --device_collectives=false); whether each
// ended with device collectives.
std::vector<bool> JoinAll(std::vector<DeviceBehaviour*> behaviours) {
  const int size = static_cast<int>(behaviours.size());
  std::vector<std::array<int, 2>> pairs(size);
  for (auto& pair : pairs) EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair.data()), 0);
  auto link = [](int fd) {
    return PeerLink{std::make_unique<core::ByteStream>(fd), [fd] { close(fd); }};
  };
  std::vector<std::unique_ptr<RingCommunicator>> ranks;
  std::vector<std::unique_ptr<DeviceGroupBackend>> backends;
  for (int r = 0; r < size; ++r) {
    ranks.push_back(std::make_unique<RingCommunicator>(
        r, size, link(pairs[r][0]), link(pairs[(r + size - 1) % size][1]), absl::Seconds(20)));
    backends.push_back(
        behaviours[r] != nullptr ? std::make_unique<DeviceGroupBackend>(*behaviours[r]) : nullptr);
  }
  std::vector<absl::Status> statuses(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      statuses[r] =
          JoinDevices(*ranks[r], backends[r].get(), absl::Seconds(20), absl::Seconds(20), "7");
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::vector<bool> on_device;
  for (int r = 0; r < size; ++r) {
    EXPECT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
    on_device.push_back(ranks[r]->device() != nullptr);
    if (ranks[r]->device() != nullptr) {
      EXPECT_EQ(ranks[r]->device()->name(), "fake");
    }
  }
  // The ring still works for the host path afterwards, whichever way it went.
  std::vector<int32_t> ones(size, 1);
  threads.clear();
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      statuses[r] = ranks[r]->AllReduce(kernels::ReduceOp::kSum, core::DType::kInt32, &ones[r], 1);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int r = 0; r < size; ++r) {
    EXPECT_TRUE(statuses[r].ok()) << statuses[r];
    EXPECT_EQ(ones[r], size);
  }
  return on_device;
}

TEST(JoinDevices, EveryRankJoinsWithRankZerosId) {
  DeviceBehaviour ranks[3];
  EXPECT_EQ(JoinAll({&ranks[0], &ranks[1], &ranks[2]}), std::vector<bool>({true, true, true}));
  for (const DeviceBehaviour& rank : ranks) EXPECT_EQ(rank.joined_with, std::string(128, 'i'));
}

TEST(JoinDevices, ARankWithoutThemKeepsTheGroupOnTheHost) {
  DeviceBehaviour ranks[3];
  ranks[2].has = false;
  EXPECT_EQ(JoinAll({&ranks[0], &ranks[1], &ranks[2]}), std::vector<bool>(3, false));
  for (const DeviceBehaviour& rank : ranks) EXPECT_EQ(rank.joined_with, "") << "none joined";
}

TEST(JoinDevices, ADaemonThatWillNotKeepsTheGroupOnTheHost) {
  DeviceBehaviour ranks[2];
  EXPECT_EQ(JoinAll({&ranks[0], nullptr}), std::vector<bool>(2, false));
  EXPECT_EQ(ranks[0].joined_with, "");
}

TEST(JoinDevices, RankZeroWithoutAnIdKeepsTheGroupOnTheHost) {
  DeviceBehaviour ranks[2];
  ranks[0].id_fails = absl::UnavailableError("[nccl] no group id");
  EXPECT_EQ(JoinAll({&ranks[0], &ranks[1]}), std::vector<bool>(2, false));
}

// One rank's join fails after the others joined: they drop theirs, since a group half on
// the device would wait for ever.
TEST(JoinDevices, ARankThatFailsToJoinTakesTheOthersBackToTheHost) {
  DeviceBehaviour ranks[3];
  ranks[1].join_fails = absl::DeadlineExceededError("[nccl] the other ranks did not join");
  EXPECT_EQ(JoinAll({&ranks[0], &ranks[1], &ranks[2]}), std::vector<bool>(3, false));
  for (const DeviceBehaviour& rank : ranks) EXPECT_EQ(rank.joined_with, std::string(128, 'i'));
}

}  // namespace
}  // namespace ferry::server
