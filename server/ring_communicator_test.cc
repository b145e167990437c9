// The ring's collectives between threads over socket pairs: every rank ends with what the
// collective means, for every group size, uneven chunks and pieces past 1 MiB; sends and
// receives between neighbours, both ways at once; ranks that disagree, or a silent rank,
// fail the call instead of hanging or mixing data.
#include "server/ring_communicator.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/half.h"
#include "gtest/gtest.h"

namespace ferry::server {
namespace {

using kernels::ReduceOp;

// `size` ranks joined in a ring of socket pairs.
std::vector<std::unique_ptr<RingCommunicator>> Ring(int size,
                                                    absl::Duration timeout = absl::Seconds(20)) {
  std::vector<std::array<int, 2>> pairs(size);  // pairs[r]: rank r -> rank r + 1
  for (auto& pair : pairs) EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair.data()), 0);
  auto link = [](int fd) {
    return PeerLink{std::make_unique<core::ByteStream>(fd), [fd] { close(fd); }};
  };
  std::vector<std::unique_ptr<RingCommunicator>> ranks;
  for (int r = 0; r < size; ++r) {
    if (size == 1) {
      close(pairs[0][0]);
      close(pairs[0][1]);
      ranks.push_back(std::make_unique<RingCommunicator>(0, 1, PeerLink{}, PeerLink{}, timeout));
      break;
    }
    ranks.push_back(std::make_unique<RingCommunicator>(
        r, size, link(pairs[r][0]), link(pairs[(r + size - 1) % size][1]), timeout));
  }
  return ranks;
}

// Runs `call` on every rank at once; their statuses by rank.
std::vector<absl::Status> OnEveryRank(int size, const std::function<absl::Status(int)>& call) {
  std::vector<absl::Status> statuses(size);
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) threads.emplace_back([&, r] { statuses[r] = call(r); });
  for (std::thread& thread : threads) thread.join();
  return statuses;
}

TEST(RingCommunicator, AllReduceSumsMaxesAndMinsOverEveryRank) {
  std::mt19937 random(7);
  for (int size : {1, 2, 3, 5}) {
    // 700_001 float32 elements: uneven chunks, and pieces of 1 MiB within them.
    for (int64_t count : {int64_t{1}, int64_t{7}, int64_t{700001}}) {
      SCOPED_TRACE(testing::Message() << size << " ranks, " << count << " elements");
      auto ranks = Ring(size);
      std::vector<std::vector<int32_t>> data(size, std::vector<int32_t>(count));
      std::vector<int32_t> sum(count, 0), max(count, INT32_MIN), min(count, INT32_MAX);
      for (auto& values : data) {
        for (int64_t i = 0; i < count; ++i) {
          values[i] = static_cast<int32_t>(random() % 2001) - 1000;
          sum[i] += values[i];
          max[i] = std::max(max[i], values[i]);
          min[i] = std::min(min[i], values[i]);
        }
      }
      auto maxed = data;
      // Into another array: the input is read, never written.
      const auto inputs = data;
      std::vector<std::vector<int32_t>> mined(size, std::vector<int32_t>(count, -7));
      for (const absl::Status& s : OnEveryRank(size, [&](int r) {
             return ranks[r]->AllReduce(ReduceOp::kMin, core::DType::kInt32, inputs[r].data(),
                                        mined[r].data(), count);
           })) {
        ASSERT_TRUE(s.ok()) << s;
      }
      for (int r = 0; r < size; ++r) {
        EXPECT_EQ(mined[r], min) << "rank " << r;
        EXPECT_EQ(inputs[r], data[r]) << "rank " << r;
      }
      for (const absl::Status& s : OnEveryRank(size, [&](int r) {
             return ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kInt32, data[r].data(), count);
           })) {
        ASSERT_TRUE(s.ok()) << s;
      }
      for (const absl::Status& s : OnEveryRank(size, [&](int r) {
             return ranks[r]->AllReduce(ReduceOp::kMax, core::DType::kInt32, maxed[r].data(),
                                        count);
           })) {
        ASSERT_TRUE(s.ok()) << s;
      }
      for (int r = 0; r < size; ++r) {
        EXPECT_EQ(data[r], sum) << "rank " << r;
        EXPECT_EQ(maxed[r], max) << "rank " << r;
      }
    }
  }
}

// Small arrays go around whole and each rank reduces them itself: in rank order, so float
// sums (whose order matters) still come out the same on every rank, as large ones do.
TEST(RingCommunicator, EveryRankGetsTheSameBitsOfAFloatSum) {
  std::mt19937 random(11);
  std::normal_distribution<float> normal(0.0f, 1e4f);
  for (int64_t count : {int64_t{3}, int64_t{900}, int64_t{100000}}) {
    SCOPED_TRACE(testing::Message() << count << " elements");
    auto ranks = Ring(5);
    std::vector<std::vector<float>> data(5, std::vector<float>(count));
    for (auto& values : data) {
      for (float& v : values) v = normal(random);
    }
    for (const absl::Status& s : OnEveryRank(5, [&](int r) {
           return ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data[r].data(), count);
         })) {
      ASSERT_TRUE(s.ok()) << s;
    }
    for (int r = 1; r < 5; ++r) {
      EXPECT_EQ(std::memcmp(data[r].data(), data[0].data(), count * sizeof(float)), 0)
          << "rank " << r;
    }
  }
}

TEST(RingCommunicator, AllReduceOfFloat16RoundsEachCombine) {
  auto ranks = Ring(3);
  std::vector<std::vector<core::Float16>> data(3, std::vector<core::Float16>(5));
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 5; ++i) data[r][i] = core::Float16(0.5f * (r + 1) + i);
  }
  for (const absl::Status& s : OnEveryRank(3, [&](int r) {
         return ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat16, data[r].data(), 5);
       })) {
    ASSERT_TRUE(s.ok()) << s;
  }
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 5; ++i) EXPECT_EQ(static_cast<float>(data[r][i]), 3.0f + 3 * i);
  }
}

TEST(RingCommunicator, AllGatherPutsEachRanksBytesInRankOrder) {
  for (int size : {1, 2, 4}) {
    auto ranks = Ring(size);
    const size_t bytes = 3 << 20;  // three pieces per step
    std::vector<std::string> mine(size), all(size, std::string(bytes * size, '\0'));
    std::string expected;
    for (int r = 0; r < size; ++r) {
      mine[r].resize(bytes);
      for (size_t i = 0; i < bytes; ++i) mine[r][i] = static_cast<char>(i * 31 + r * 7);
      expected += mine[r];
    }
    for (const absl::Status& s : OnEveryRank(size, [&](int r) {
           return ranks[r]->AllGather(mine[r].data(), bytes, all[r].data());
         })) {
      ASSERT_TRUE(s.ok()) << s;
    }
    for (int r = 0; r < size; ++r) EXPECT_TRUE(all[r] == expected) << size << " ranks, rank " << r;
  }
}

TEST(RingCommunicator, ReduceScatterLeavesEachRankItsChunkOfTheSum) {
  const int size = 4;
  auto ranks = Ring(size);
  std::vector<std::vector<double>> data(size, std::vector<double>(8));
  for (int r = 0; r < size; ++r) {
    for (int i = 0; i < 8; ++i) data[r][i] = 100.0 * r + i;
  }
  for (const absl::Status& s : OnEveryRank(size, [&](int r) {
         return ranks[r]->ReduceScatter(ReduceOp::kSum, core::DType::kFloat64, data[r].data(), 8);
       })) {
    ASSERT_TRUE(s.ok()) << s;
  }
  for (int r = 0; r < size; ++r) {
    for (int i = 2 * r; i < 2 * r + 2; ++i) EXPECT_EQ(data[r][i], 600.0 + 4 * i) << r << " " << i;
  }
  // From an input into another array: the input is not written.
  auto more = Ring(size);
  std::vector<std::vector<double>> inputs(size, std::vector<double>(8)), chunks = inputs;
  for (int r = 0; r < size; ++r) {
    for (int i = 0; i < 8; ++i) inputs[r][i] = 10.0 * r - i;
  }
  const auto unchanged = inputs;
  for (const absl::Status& s : OnEveryRank(size, [&](int r) {
         return more[r]->ReduceScatter(ReduceOp::kSum, core::DType::kFloat64, inputs[r].data(),
                                       chunks[r].data(), 8);
       })) {
    ASSERT_TRUE(s.ok()) << s;
  }
  EXPECT_EQ(inputs, unchanged);
  for (int r = 0; r < size; ++r) {
    for (int i = 2 * r; i < 2 * r + 2; ++i) EXPECT_EQ(chunks[r][i], 60.0 - 4 * i) << r << " " << i;
  }
}

TEST(RingCommunicator, RanksThatRunDifferentCollectivesAllFailAndStayFailed) {
  auto ranks = Ring(3);
  std::vector<std::vector<float>> data(3, std::vector<float>(12, 1.0f));
  std::vector<absl::Status> statuses = OnEveryRank(3, [&](int r) {
    return ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data[r].data(),
                               r == 1 ? 10 : 12);
  });
  // Rank 1 and rank 2 see a neighbour that disagrees; rank 0 loses its links.
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kInvalidArgument) << statuses[1];
  EXPECT_NE(statuses[1].message().find("rank 0 ran an all-reduce of 12 float32 elements"),
            std::string::npos)
      << statuses[1];
  for (const absl::Status& s : statuses) EXPECT_FALSE(s.ok());
  // The links may hold half a message: the group stays failed.
  for (int r = 0; r < 3; ++r) {
    EXPECT_FALSE(
        ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data[r].data(), 12).ok());
  }
}

TEST(RingCommunicator, ASilentRankFailsTheCallWithDeadlineExceeded) {
  auto ranks = Ring(2, absl::Milliseconds(300));
  std::vector<float> data(4, 1.0f);
  absl::Status alone = ranks[0]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data.data(), 4);
  EXPECT_EQ(alone.code(), absl::StatusCode::kDeadlineExceeded) << alone;
  EXPECT_NE(alone.message().find("rank 0 receiving from rank 1"), std::string::npos) << alone;
}

// A rank whose session closes (Abort, from another thread) ends the call it is blocked in
// at once, and its peers' calls too, instead of leaving them to wait out the timeout.
TEST(RingCommunicator, AbortEndsTheBlockedCallHereAndAtThePeers) {
  for (int aborting : {0, 2}) {
    SCOPED_TRACE(testing::Message() << "rank " << aborting << " aborts");
    auto ranks = Ring(3, absl::Seconds(60));
    std::vector<std::vector<float>> data(3, std::vector<float>(1000, 1.0f));
    const auto start = std::chrono::steady_clock::now();
    // Ranks 0 and 1 wait for rank 2, which never calls.
    std::thread aborter([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      // Ranks 0 and 1 are in their call; rank 2 is not.
      EXPECT_EQ(ranks[aborting]->Busy(), aborting != 2);
      ranks[aborting]->Abort("its session closed");
    });
    std::vector<absl::Status> statuses = OnEveryRank(2, [&](int r) {
      return ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data[r].data(), 1000);
    });
    aborter.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    for (int r = 0; r < 2; ++r) {
      EXPECT_FALSE(statuses[r].ok()) << "rank " << r;
      if (r == aborting) {
        EXPECT_EQ(statuses[r].code(), absl::StatusCode::kCancelled) << statuses[r];
        EXPECT_NE(statuses[r].message().find("rank 0 left the group: its session closed"),
                  std::string::npos)
            << statuses[r];
      } else {
        EXPECT_NE(statuses[r].code(), absl::StatusCode::kDeadlineExceeded) << statuses[r];
      }
    }
    EXPECT_FALSE(ranks[aborting]->Busy());  // its call has ended
    // Later calls of the aborted rank fail at once, naming why.
    absl::Status later = ranks[aborting]->AllReduce(ReduceOp::kSum, core::DType::kFloat32,
                                                    data[aborting].data(), 1000);
    EXPECT_EQ(later.code(), absl::StatusCode::kCancelled) << later;
  }
}

TEST(RingCommunicator, AllToAllGivesEachRankTheBlocksSentToIt) {
  for (int size : {1, 2, 3, 5}) {
    // Blocks of 300_001 bytes: odd sizes, several pieces of a step's exchange.
    for (size_t block : {size_t{1}, size_t{300001}}) {
      SCOPED_TRACE(testing::Message() << size << " ranks, blocks of " << block);
      auto ranks = Ring(size);
      std::vector<std::string> mine(size), all(size, std::string(block * size, '?'));
      auto byte = [](int from, int to, size_t i) {
        return static_cast<char>(from * 31 + to * 7 + static_cast<int>(i % 13));
      };
      for (int r = 0; r < size; ++r) {
        for (int to = 0; to < size; ++to) {
          for (size_t i = 0; i < block; ++i) mine[r].push_back(byte(r, to, i));
        }
      }
      for (const absl::Status& s : OnEveryRank(size, [&](int r) {
             return ranks[r]->AllToAll(mine[r].data(), block, all[r].data());
           })) {
        ASSERT_TRUE(s.ok()) << s;
      }
      for (int r = 0; r < size; ++r) {
        for (int from = 0; from < size; ++from) {
          for (size_t i : {size_t{0}, block / 2, block - 1}) {
            ASSERT_EQ(all[r][from * block + i], byte(from, r, i)) << r << " " << from << " " << i;
          }
        }
      }
    }
  }
}

// What rank `from` sends in `test`: distinct per rank, test and element.
std::vector<int32_t> Payload(int from, int test, int64_t count) {
  std::vector<int32_t> values(count);
  for (int64_t i = 0; i < count; ++i)
    values[i] = from * 1000003 + test * 7919 + static_cast<int32_t>(i);
  return values;
}

TEST(RingCommunicator, NeighboursSendEachOtherArraysBeforeEitherReceives) {
  // 3 MiB each way: more than the sockets hold, so a send that waited for its receiver
  // would hang here.
  const int64_t count = 3 << 18;
  for (int size : {2, 3, 4}) {
    SCOPED_TRACE(testing::Message() << size << " ranks");
    auto ranks = Ring(size);
    std::vector<std::vector<int32_t>> from_previous(size), from_next(size);
    for (const absl::Status& s : OnEveryRank(size, [&](int r) {
           const int next = (r + 1) % size, previous = (r + size - 1) % size;
           // Kept alive by the queue until written, which may be after this rank returns.
           auto forward = std::make_shared<std::vector<int32_t>>(Payload(r, 0, count));
           auto backward = std::make_shared<std::vector<int32_t>>(Payload(r, 1, count));
           absl::Status s =
               ranks[r]->Send(next, core::DType::kInt32, forward->data(), count, forward);
           if (s.ok()) {
             s = ranks[r]->Send(previous, core::DType::kInt32, backward->data(), count, backward);
           }
           from_previous[r].resize(count);
           from_next[r].resize(count);
           if (s.ok()) {
             s = ranks[r]->Recv(previous, core::DType::kInt32, from_previous[r].data(), count);
           }
           if (s.ok()) s = ranks[r]->Recv(next, core::DType::kInt32, from_next[r].data(), count);
           return s;
         })) {
      ASSERT_TRUE(s.ok()) << s;
    }
    for (int r = 0; r < size; ++r) {
      EXPECT_EQ(from_previous[r], Payload((r + size - 1) % size, 0, count)) << "rank " << r;
      EXPECT_EQ(from_next[r], Payload((r + 1) % size, 1, count)) << "rank " << r;
    }
    // The links carry collectives on after them.
    std::vector<std::vector<float>> ones(size, std::vector<float>(5, 1.0f));
    for (const absl::Status& s : OnEveryRank(size, [&](int r) {
           return ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, ones[r].data(), 5);
         })) {
      ASSERT_TRUE(s.ok()) << s;
    }
    EXPECT_EQ(ones[size - 1], std::vector<float>(5, static_cast<float>(size)));
  }
}

TEST(RingCommunicator, SendsReachOnlyRingNeighboursAndLeaveTheGroupWhole) {
  auto ranks = Ring(4);
  int32_t value = 5;
  absl::Status far = ranks[0]->Send(2, core::DType::kInt32, &value, 1, nullptr);
  EXPECT_EQ(far.code(), absl::StatusCode::kInvalidArgument) << far;
  EXPECT_NE(far.message().find("rank 0 of a group of 4 cannot send to rank 2"), std::string::npos)
      << far;
  EXPECT_NE(far.message().find("ranks 3 and 1"), std::string::npos) << far;
  EXPECT_EQ(ranks[1]->Recv(1, core::DType::kInt32, &value, 1).code(),
            absl::StatusCode::kInvalidArgument);
  auto alone = Ring(1);
  EXPECT_EQ(alone[0]->Send(0, core::DType::kInt32, &value, 1, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  // Nothing moved: the group still works.
  std::vector<std::vector<float>> ones(4, std::vector<float>(3, 1.0f));
  for (const absl::Status& s : OnEveryRank(4, [&](int r) {
         return ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, ones[r].data(), 3);
       })) {
    EXPECT_TRUE(s.ok()) << s;
  }
}

TEST(RingCommunicator, AReceiveThatDoesNotMatchItsSendFailsNamingBoth) {
  auto ranks = Ring(2);
  std::vector<float> sent(3, 1.0f), received(4);
  std::vector<absl::Status> statuses = OnEveryRank(2, [&](int r) {
    return r == 0 ? ranks[0]->Send(1, core::DType::kFloat32, sent.data(), 3, nullptr)
                  : ranks[1]->Recv(0, core::DType::kFloat32, received.data(), 4);
  });
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];  // queued before the receiver looked
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kInvalidArgument) << statuses[1];
  for (const char* names : {"rank 0 ran a send of 3 float32 elements to rank 1",
                            "rank 1 a receive of 4 float32 elements from rank 0"}) {
    EXPECT_NE(statuses[1].message().find(names), std::string::npos) << statuses[1];
  }
  // The receiver broke its links: the sender's next call fails too, at once.
  EXPECT_FALSE(ranks[0]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, sent.data(), 3).ok());
}

TEST(RingCommunicator, ACollectiveMeetingASendFailsInsteadOfReadingItsBytes) {
  auto ranks = Ring(2);
  std::vector<std::vector<float>> data(2, std::vector<float>(8, 1.0f));
  std::vector<absl::Status> statuses = OnEveryRank(2, [&](int r) {
    absl::Status s;
    if (r == 0) s = ranks[0]->Send(1, core::DType::kFloat32, data[0].data(), 8, nullptr);
    return s.ok() ? ranks[r]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data[r].data(), 8)
                  : s;
  });
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kInvalidArgument) << statuses[1];
  EXPECT_NE(statuses[1].message().find("rank 0 ran a send of 8 float32 elements to rank 1"),
            std::string::npos)
      << statuses[1];
  // Rank 0 may have had rank 1's small array whole, with its header, before rank 1 gave up:
  // its sum is then right. Either way its group is broken now.
  if (statuses[0].ok()) {
    EXPECT_EQ(data[0], std::vector<float>(8, 2.0f));
  }
  EXPECT_FALSE(ranks[0]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data[0].data(), 8).ok());
}

TEST(RingCommunicator, AReceiveWithoutItsSendFailsWithDeadlineExceeded) {
  auto ranks = Ring(3, absl::Milliseconds(300));
  float value = 0;
  absl::Status waited = ranks[1]->Recv(2, core::DType::kFloat32, &value, 1);
  EXPECT_EQ(waited.code(), absl::StatusCode::kDeadlineExceeded) << waited;
  EXPECT_NE(waited.message().find("rank 1 receiving from rank 2"), std::string::npos) << waited;
}

// Stands in for a backend's device collectives (NCCL): counts the calls the ring lets
// through and the aborts, and fails its calls when told to.
class CountingDevice : public kernels::DeviceCollectives {
 public:
  struct Counts {
    std::atomic<int> calls{0};
    std::atomic<int> aborts{0};
    absl::Status fail_with;
  };
  explicit CountingDevice(std::shared_ptr<Counts> counts) : counts_(std::move(counts)) {}
  std::string name() const override { return "counting"; }
  bool Reduces(ReduceOp op, core::DType) const override { return op == ReduceOp::kSum; }
  absl::Status AllReduce(ReduceOp, core::DType, const void*, void*, int64_t) override {
    return Called();
  }
  absl::Status AllGather(const void*, size_t, void*) override { return Called(); }
  absl::Status ReduceScatter(ReduceOp, core::DType, const void*, void*, int64_t) override {
    return Called();
  }
  absl::Status AllToAll(const void*, size_t, void*) override { return Called(); }
  void Abort() override { ++counts_->aborts; }

 private:
  absl::Status Called() {
    ++counts_->calls;
    return counts_->fail_with;
  }
  std::shared_ptr<Counts> counts_;
};

// `size` ranks in a ring, each with a CountingDevice.
std::vector<std::unique_ptr<RingCommunicator>> RingWithDevices(
    int size, std::vector<std::shared_ptr<CountingDevice::Counts>>& counts,
    absl::Duration timeout = absl::Seconds(20)) {
  auto ranks = Ring(size, timeout);
  for (auto& rank : ranks) {
    counts.push_back(std::make_shared<CountingDevice::Counts>());
    rank->SetDevice(std::make_unique<CountingDevice>(counts.back()));
  }
  return ranks;
}

TEST(RingCommunicator, DeviceCollectivesRunOnceEveryRankAgreesOnThem) {
  std::vector<std::shared_ptr<CountingDevice::Counts>> counts;
  auto ranks = RingWithDevices(3, counts);
  for (const absl::Status& s : OnEveryRank(3, [&](int r) {
         kernels::DeviceCollectives& device = *ranks[r]->device();
         absl::Status s =
             device.AllReduce(ReduceOp::kSum, core::DType::kFloat32, nullptr, nullptr, 12);
         if (s.ok()) s = device.AllGather(nullptr, 16, nullptr);
         if (s.ok())
           s = device.ReduceScatter(ReduceOp::kSum, core::DType::kFloat32, nullptr, nullptr, 4);
         if (s.ok()) s = device.AllToAll(nullptr, 8, nullptr);
         return s;
       })) {
    EXPECT_TRUE(s.ok()) << s;
  }
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(counts[r]->calls, 4) << "rank " << r;
    EXPECT_EQ(counts[r]->aborts, 0) << "rank " << r;
  }
}

// Ranks that disagree fail before any device work, with the host calls' message, and the
// device side of the group is aborted with the rest of it.
TEST(RingCommunicator, DeviceCollectivesThatDisagreeNeverReachTheDevice) {
  std::vector<std::shared_ptr<CountingDevice::Counts>> counts;
  auto ranks = RingWithDevices(2, counts);
  std::vector<absl::Status> statuses = OnEveryRank(2, [&](int r) {
    return ranks[r]->device()->AllReduce(ReduceOp::kSum, core::DType::kFloat32, nullptr, nullptr,
                                         r == 0 ? 4 : 5);
  });
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(statuses[r].code(), absl::StatusCode::kInvalidArgument) << statuses[r];
    EXPECT_NE(statuses[r].message().find(absl::StrCat("rank ", 1 - r, " ran an all-reduce of ",
                                                      r == 0 ? 5 : 4, " float32 elements")),
              std::string::npos)
        << statuses[r];
    EXPECT_EQ(counts[r]->calls, 0) << "rank " << r;
    EXPECT_GE(counts[r]->aborts, 1) << "rank " << r;
  }
}

TEST(RingCommunicator, ADeviceCollectiveLeftAloneFailsWithDeadlineExceeded) {
  std::vector<std::shared_ptr<CountingDevice::Counts>> counts;
  auto ranks = RingWithDevices(2, counts, absl::Milliseconds(300));
  absl::Status alone = ranks[0]->device()->AllGather(nullptr, 16, nullptr);
  EXPECT_EQ(alone.code(), absl::StatusCode::kDeadlineExceeded) << alone;
  EXPECT_EQ(counts[0]->calls, 0);
}

// A device call that fails (a peer's GPU gone) fails the group: later calls, host or device,
// fail with it, and the device side is aborted.
TEST(RingCommunicator, AFailedDeviceCollectiveFailsTheGroup) {
  std::vector<std::shared_ptr<CountingDevice::Counts>> counts;
  auto ranks = RingWithDevices(2, counts);
  counts[1]->fail_with = absl::UnavailableError("[nccl] rank 1's all-reduce failed: remote error");
  std::vector<absl::Status> statuses = OnEveryRank(2, [&](int r) {
    return ranks[r]->device()->AllReduce(ReduceOp::kSum, core::DType::kInt32, nullptr, nullptr, 3);
  });
  EXPECT_TRUE(statuses[0].ok()) << statuses[0];
  EXPECT_EQ(statuses[1].code(), absl::StatusCode::kUnavailable) << statuses[1];
  EXPECT_EQ(counts[1]->aborts, 1);
  std::vector<float> data(4, 1.0f);
  absl::Status later =
      ranks[1]->AllReduce(ReduceOp::kSum, core::DType::kFloat32, data.data(), data.size());
  EXPECT_EQ(later, statuses[1]);
  EXPECT_FALSE(ranks[1]->device()->AllGather(nullptr, 16, nullptr).ok());
  EXPECT_EQ(counts[1]->calls, 1);
}

TEST(RingCommunicator, AbortReachesTheDeviceSide) {
  std::vector<std::shared_ptr<CountingDevice::Counts>> counts;
  auto ranks = RingWithDevices(2, counts);
  ranks[0]->Abort("its session closed");
  EXPECT_EQ(counts[0]->aborts, 1);
  absl::Status later = ranks[0]->device()->AllGather(nullptr, 16, nullptr);
  EXPECT_EQ(later.code(), absl::StatusCode::kCancelled) << later;
  EXPECT_EQ(counts[0]->calls, 0);
}

}  // namespace
}  // namespace ferry::server
