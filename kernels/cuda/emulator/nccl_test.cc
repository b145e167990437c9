// The CPU stand-in for NCCL (nccl.cc), called directly, with the ranks of each communicator as
// threads of this process (and once a child process): collectives of every type and reduction
// against values computed here, in place and not, a grouped all-to-all, nonblocking creation, and
// the failures that must come back as errors rather than hangs (an aborted or dead peer, ranks out
// of step, bad arguments).

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <nccl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "gtest/gtest.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Runs body(rank, comm) on `n` threads, one rank each, over a new communicator; then destroys it.
void OnRanks(int n, const std::function<void(int, ncclComm_t)>& body, bool destroy = true) {
  ncclUniqueId id;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < n; ++rank) {
    threads.emplace_back([&, rank] {
      ncclComm_t comm = nullptr;
      ASSERT_EQ(ncclCommInitRank(&comm, n, id, rank), ncclSuccess) << ncclGetLastError(nullptr);
      body(rank, comm);
      if (destroy) {
        EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

template <typename T>
T From(double v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(static_cast<float>(v));
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(static_cast<float>(v));
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<T>(static_cast<int64_t>(v));  // wraps, as the reduction does
  } else {
    return static_cast<T>(v);
  }
}

template <typename T>
double To(T v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(v);
  } else {
    return static_cast<double>(v);
  }
}

// Every reduction over 3 ranks, rank r holding r + 1 + i at i: small integers, exact in every
// type, whose sums divide by 3 (so ncclAvg is exact too); products wrap in 8 bits.
template <typename T>
void CheckAllReduce(ncclDataType_t type) {
  constexpr int kCount = 7;
  OnRanks(3, [type](int rank, ncclComm_t comm) {
    for (ncclRedOp_t op : {ncclSum, ncclProd, ncclMax, ncclMin, ncclAvg}) {
      std::vector<T> send(kCount), recv(kCount);
      for (int i = 0; i < kCount; ++i) send[i] = From<T>(rank + 1 + i);
      ASSERT_EQ(ncclAllReduce(send.data(), recv.data(), kCount, type, op, comm, nullptr),
                ncclSuccess)
          << ncclGetLastError(comm);
      for (int i = 0; i < kCount; ++i) {
        const double a = 1 + i, b = 2 + i, c = 3 + i;
        const double expected = op == ncclSum    ? a + b + c
                                : op == ncclProd ? a * b * c
                                : op == ncclMax  ? c
                                : op == ncclMin  ? a
                                                 : (a + b + c) / 3;
        EXPECT_EQ(To(recv[i]), To(From<T>(expected)))
            << "type " << type << " op " << op << " rank " << rank << " at " << i;
      }
    }
  });
}

TEST(NcclEmulator, AllReduceEachTypeAndOp) {
  CheckAllReduce<float>(ncclFloat32);
  CheckAllReduce<double>(ncclFloat64);
  CheckAllReduce<int32_t>(ncclInt32);
  CheckAllReduce<uint32_t>(ncclUint32);
  CheckAllReduce<int64_t>(ncclInt64);
  CheckAllReduce<uint64_t>(ncclUint64);
  CheckAllReduce<int8_t>(ncclInt8);
  CheckAllReduce<uint8_t>(ncclUint8);
  CheckAllReduce<__half>(ncclFloat16);
  CheckAllReduce<__nv_bfloat16>(ncclBfloat16);
}

// Half and bfloat16 round after each rank's step, in rank order: 2048 + 1 rounds (to even) back
// to 2048 in half, twice, where one rounding of the exact 2050 would keep it; so every rank gets
// the same bits whatever the arrival order.
TEST(NcclEmulator, HalfRoundsAtEachStepInRankOrder) {
  OnRanks(3, [](int rank, ncclComm_t comm) {
    const __half h = __float2half_rn(rank == 0 ? 2048.0f : 1.0f);
    const __nv_bfloat16 b = __float2bfloat16_rn(rank == 0 ? 256.0f : 1.0f);
    __half h_sum;
    __nv_bfloat16 b_sum;
    ASSERT_EQ(ncclAllReduce(&h, &h_sum, 1, ncclFloat16, ncclSum, comm, nullptr), ncclSuccess);
    ASSERT_EQ(ncclAllReduce(&b, &b_sum, 1, ncclBfloat16, ncclSum, comm, nullptr), ncclSuccess);
    EXPECT_EQ(__half2float(h_sum), 2048.0f);
    EXPECT_EQ(__bfloat162float(b_sum), 256.0f);
  });
}

TEST(NcclEmulator, AllReduceInPlace) {
  OnRanks(3, [](int rank, ncclComm_t comm) {
    std::vector<float> data = {1.0f * rank, 2.0f, -3.0f * rank};
    ASSERT_EQ(ncclAllReduce(data.data(), data.data(), 3, ncclFloat32, ncclSum, comm, nullptr),
              ncclSuccess);
    EXPECT_EQ(data, (std::vector<float>{3, 6, -9}));
  });
}

// 8 Mi floats a rank: far past any socket buffer, so partial reads and writes happen.
TEST(NcclEmulator, LargeAllReduce) {
  constexpr size_t kCount = size_t{8} << 20;
  OnRanks(3, [](int rank, ncclComm_t comm) {
    std::vector<float> send(kCount), recv(kCount);
    for (size_t i = 0; i < kCount; ++i) send[i] = static_cast<float>(i % 1024 + rank);
    ASSERT_EQ(ncclAllReduce(send.data(), recv.data(), kCount, ncclFloat32, ncclSum, comm, nullptr),
              ncclSuccess);
    size_t wrong = 0;
    for (size_t i = 0; i < kCount; ++i) wrong += recv[i] != 3.0f * (i % 1024) + 3;
    EXPECT_EQ(wrong, 0u);
  });
}

TEST(NcclEmulator, AllGather) {
  constexpr int kCount = 4;
  OnRanks(3, [](int rank, ncclComm_t comm) {
    std::vector<int32_t> expected(3 * kCount);
    for (int i = 0; i < 3 * kCount; ++i) expected[i] = 10 * (i / kCount) + i % kCount;
    std::vector<int32_t> send(kCount), recv(3 * kCount, -1);
    for (int i = 0; i < kCount; ++i) send[i] = 10 * rank + i;
    ASSERT_EQ(ncclAllGather(send.data(), recv.data(), kCount, ncclInt32, comm, nullptr),
              ncclSuccess);
    EXPECT_EQ(recv, expected);

    // In place: this rank's block already sits where it belongs.
    std::vector<int32_t> data(3 * kCount, -1);
    std::copy(send.begin(), send.end(), data.begin() + rank * kCount);
    ASSERT_EQ(
        ncclAllGather(data.data() + rank * kCount, data.data(), kCount, ncclInt32, comm, nullptr),
        ncclSuccess);
    EXPECT_EQ(data, expected);
  });
}

TEST(NcclEmulator, ReduceScatter) {
  constexpr int kCount = 3;
  OnRanks(3, [](int rank, ncclComm_t comm) {
    // Rank r holds 100 r + j at j; rank r gets the sums of block r: 300 + 3 j.
    std::vector<float> send(3 * kCount), recv(kCount, -1), expected(kCount);
    for (int j = 0; j < 3 * kCount; ++j) send[j] = 100.0f * rank + j;
    for (int k = 0; k < kCount; ++k) expected[k] = 300.0f + 3.0f * (rank * kCount + k);
    ASSERT_EQ(
        ncclReduceScatter(send.data(), recv.data(), kCount, ncclFloat32, ncclSum, comm, nullptr),
        ncclSuccess);
    EXPECT_EQ(recv, expected);

    // In place: the result lands in this rank's block of the input.
    std::vector<float> data = send;
    ASSERT_EQ(ncclReduceScatter(data.data(), data.data() + rank * kCount, kCount, ncclFloat32,
                                ncclMax, comm, nullptr),
              ncclSuccess);
    for (int k = 0; k < kCount; ++k) EXPECT_EQ(data[rank * kCount + k], 200.0f + rank * kCount + k);
  });
}

TEST(NcclEmulator, Broadcast) {
  OnRanks(3, [](int rank, ncclComm_t comm) {
    for (int root : {1, 0, 2}) {
      std::vector<int64_t> send(5, rank), recv(5, -1);
      ASSERT_EQ(ncclBroadcast(send.data(), recv.data(), 5, ncclInt64, root, comm, nullptr),
                ncclSuccess);
      EXPECT_EQ(recv, std::vector<int64_t>(5, root));
      std::vector<int64_t> data(5, rank);  // in place
      ASSERT_EQ(ncclBroadcast(data.data(), data.data(), 5, ncclInt64, root, comm, nullptr),
                ncclSuccess);
      EXPECT_EQ(data, std::vector<int64_t>(5, root));
    }
  });
}

// The all-to-all as ferry writes it: in one group, every rank sends each peer (itself too) its
// block before receiving any; blocks of 4 MiB fill every socket buffer, so this deadlocks unless
// the group's transfers all progress together.
TEST(NcclEmulator, GroupedAllToAll) {
  constexpr size_t kBlock = size_t{1} << 20;
  OnRanks(3, [](int rank, ncclComm_t comm) {
    std::vector<int32_t> send(3 * kBlock), recv(3 * kBlock, -1);
    for (int dst = 0; dst < 3; ++dst) {
      for (size_t i = 0; i < kBlock; ++i) send[dst * kBlock + i] = ((rank * 3 + dst) << 22) + i;
    }
    ASSERT_EQ(ncclGroupStart(), ncclSuccess);
    for (int peer = 0; peer < 3; ++peer) {
      ASSERT_EQ(ncclSend(send.data() + peer * kBlock, kBlock, ncclInt32, peer, comm, nullptr),
                ncclSuccess);
      ASSERT_EQ(ncclRecv(recv.data() + peer * kBlock, kBlock, ncclInt32, peer, comm, nullptr),
                ncclSuccess);
    }
    ASSERT_EQ(ncclGroupEnd(), ncclSuccess) << ncclGetLastError(comm);
    size_t wrong = 0;
    for (int src = 0; src < 3; ++src) {
      for (size_t i = 0; i < kBlock; ++i) {
        wrong += recv[src * kBlock + i] != static_cast<int32_t>(((src * 3 + rank) << 22) + i);
      }
    }
    EXPECT_EQ(wrong, 0u);
  });
}

// Outside a group: rank 0 sends, rank 1 answers with each value plus one.
TEST(NcclEmulator, SendRecv) {
  OnRanks(2, [](int rank, ncclComm_t comm) {
    std::vector<double> data(1000);
    if (rank == 0) {
      for (int i = 0; i < 1000; ++i) data[i] = i;
      ASSERT_EQ(ncclSend(data.data(), 1000, ncclFloat64, 1, comm, nullptr), ncclSuccess);
      ASSERT_EQ(ncclRecv(data.data(), 1000, ncclFloat64, 1, comm, nullptr), ncclSuccess);
      for (int i = 0; i < 1000; ++i) EXPECT_EQ(data[i], i + 1);
    } else {
      ASSERT_EQ(ncclRecv(data.data(), 1000, ncclFloat64, 0, comm, nullptr), ncclSuccess);
      for (double& v : data) v += 1;
      ASSERT_EQ(ncclSend(data.data(), 1000, ncclFloat64, 0, comm, nullptr), ncclSuccess);
    }
  });
}

// A send of 4 elements against a receive of 5: both sides refuse it, and the communicator still
// works afterwards.
TEST(NcclEmulator, SendRecvSizeMismatchFailsBothSides) {
  OnRanks(2, [](int rank, ncclComm_t comm) {
    std::vector<float> data(5, 1.0f);
    ASSERT_EQ(ncclGroupStart(), ncclSuccess);
    if (rank == 0) {
      ASSERT_EQ(ncclSend(data.data(), 4, ncclFloat32, 1, comm, nullptr), ncclSuccess);
    } else {
      ASSERT_EQ(ncclRecv(data.data(), 5, ncclFloat32, 0, comm, nullptr), ncclSuccess);
    }
    EXPECT_EQ(ncclGroupEnd(), ncclInvalidUsage);
    float one = 1, sum = 0;
    ASSERT_EQ(ncclAllReduce(&one, &sum, 1, ncclFloat32, ncclSum, comm, nullptr), ncclSuccess);
    EXPECT_EQ(sum, 2.0f);
  });
}

TEST(NcclEmulator, NonblockingInit) {
  ncclUniqueId id;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 3; ++rank) {
    threads.emplace_back([&id, rank] {
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
      config.blocking = 0;
      ncclComm_t comm = nullptr;
      const ncclResult_t started = ncclCommInitRankConfig(&comm, 3, id, rank, &config);
      ASSERT_TRUE(started == ncclInProgress || started == ncclSuccess) << started;
      ncclResult_t state = ncclInProgress;
      const Clock::time_point give_up = Clock::now() + std::chrono::seconds(10);
      while (state == ncclInProgress && Clock::now() < give_up) {
        ASSERT_EQ(ncclCommGetAsyncError(comm, &state), ncclSuccess);
        std::this_thread::sleep_for(milliseconds(1));
      }
      ASSERT_EQ(state, ncclSuccess) << ncclGetLastError(comm);
      int count = 0, me = -1, device = -1;
      EXPECT_EQ(ncclCommCount(comm, &count), ncclSuccess);
      EXPECT_EQ(ncclCommUserRank(comm, &me), ncclSuccess);
      EXPECT_EQ(ncclCommCuDevice(comm, &device), ncclSuccess);
      EXPECT_EQ(count, 3);
      EXPECT_EQ(me, rank);
      EXPECT_EQ(device, 0);
      int32_t value = rank, sum = -1;
      ASSERT_EQ(ncclAllReduce(&value, &sum, 1, ncclInt32, ncclSum, comm, nullptr), ncclSuccess);
      EXPECT_EQ(sum, 3);
      EXPECT_EQ(ncclCommFinalize(comm), ncclSuccess);
      EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
    });
  }
  for (std::thread& t : threads) t.join();
}

// A rank still connecting (its rank 0 never comes) stops at once when aborted.
TEST(NcclEmulator, AbortWhileConnecting) {
  ncclUniqueId id;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  ASSERT_EQ(ncclCommInitRankConfig(&comm, 2, id, 1, &config), ncclInProgress);
  std::this_thread::sleep_for(milliseconds(100));
  ncclResult_t state = ncclSuccess;
  ASSERT_EQ(ncclCommGetAsyncError(comm, &state), ncclSuccess);
  EXPECT_EQ(state, ncclInProgress);
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(ncclCommAbort(comm), ncclSuccess);
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
}

// Rank 0 aborts instead of joining an all-reduce: the ranks waiting in it fail within a second,
// and their communicators report the error from then on.
TEST(NcclEmulator, PeerAbortEndsAWaitingCall) {
  std::atomic<int64_t> aborted_at{0};
  OnRanks(
      3,
      [&aborted_at](int rank, ncclComm_t comm) {
        if (rank == 0) {
          std::this_thread::sleep_for(milliseconds(200));
          aborted_at = Clock::now().time_since_epoch().count();
          EXPECT_EQ(ncclCommAbort(comm), ncclSuccess);
          return;
        }
        float value = 1, sum = 0;
        const ncclResult_t result =
            ncclAllReduce(&value, &sum, 1, ncclFloat32, ncclSum, comm, nullptr);
        const Clock::time_point done = Clock::now();
        EXPECT_TRUE(result == ncclRemoteError || result == ncclSystemError) << result;
        EXPECT_LT(done - Clock::time_point(Clock::duration(aborted_at.load())), milliseconds(1000));
        ncclResult_t state = ncclSuccess;
        EXPECT_EQ(ncclCommGetAsyncError(comm, &state), ncclSuccess);
        EXPECT_EQ(state, result);
        EXPECT_EQ(ncclAllReduce(&value, &sum, 1, ncclFloat32, ncclSum, comm, nullptr), result);
        EXPECT_STRNE(ncclGetLastError(comm), "");
        EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
      },
      /*destroy=*/false);
}

// ncclCommAbort from another thread ends a call blocked in the same communicator; its peer then
// fails too, instead of waiting for it.
TEST(NcclEmulator, AbortFromAnotherThreadEndsABlockedCall) {
  ncclUniqueId id;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  ncclComm_t comms[2] = {nullptr, nullptr};
  std::thread join([&] { ASSERT_EQ(ncclCommInitRank(&comms[1], 2, id, 1), ncclSuccess); });
  ASSERT_EQ(ncclCommInitRank(&comms[0], 2, id, 0), ncclSuccess);
  join.join();
  ASSERT_NE(comms[1], nullptr);

  std::atomic<int64_t> aborted_at{0};
  std::thread aborter([&] {
    std::this_thread::sleep_for(milliseconds(200));
    aborted_at = Clock::now().time_since_epoch().count();
    EXPECT_EQ(ncclCommAbort(comms[0]), ncclSuccess);
  });
  float value = 1, sum = 0;
  const ncclResult_t result =
      ncclAllReduce(&value, &sum, 1, ncclFloat32, ncclSum, comms[0], nullptr);
  const Clock::time_point done = Clock::now();
  aborter.join();
  EXPECT_NE(result, ncclSuccess);
  EXPECT_LT(done - Clock::time_point(Clock::duration(aborted_at.load())), milliseconds(1000));
  EXPECT_EQ(ncclAllReduce(&value, &sum, 1, ncclFloat32, ncclSum, comms[0], nullptr),
            ncclInvalidArgument);  // aborted

  const Clock::time_point start = Clock::now();
  EXPECT_EQ(ncclAllReduce(&value, &sum, 1, ncclFloat32, ncclSum, comms[1], nullptr),
            ncclRemoteError);
  EXPECT_LT(Clock::now() - start, milliseconds(1000));
  EXPECT_EQ(ncclCommDestroy(comms[1]), ncclSuccess);
}

// A rank in another process exits: rank 0's next call sees its connection close.
TEST(NcclEmulator, DeadPeerProcess) {
  ncclUniqueId id;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ncclComm_t comm;
    _exit(ncclCommInitRank(&comm, 2, id, 1) == ncclSuccess ? 0 : 1);  // and dies with it
  }
  ncclComm_t comm = nullptr;
  ASSERT_EQ(ncclCommInitRank(&comm, 2, id, 0), ncclSuccess) << ncclGetLastError(nullptr);
  float value = 1, sum = 0;
  const Clock::time_point start = Clock::now();
  EXPECT_EQ(ncclAllReduce(&value, &sum, 1, ncclFloat32, ncclSum, comm, nullptr), ncclRemoteError);
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(5));
  ncclResult_t state = ncclSuccess;
  EXPECT_EQ(ncclCommGetAsyncError(comm, &state), ncclSuccess);
  EXPECT_EQ(state, ncclRemoteError);
  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// Ranks calling different collectives (a count of 4 against 5, an all-gather against an
// all-reduce) all get ncclInvalidUsage, not mixed data; the communicator still works after.
TEST(NcclEmulator, MismatchedCollectivesFail) {
  OnRanks(3, [](int rank, ncclComm_t comm) {
    std::vector<float> send(15, 1.0f), recv(15, 0.0f);
    for (int odd : {0, 1}) {
      const size_t count = rank == odd ? 4 : 5;
      EXPECT_EQ(ncclAllReduce(send.data(), recv.data(), count, ncclFloat32, ncclSum, comm, nullptr),
                ncclInvalidUsage);
      EXPECT_NE(std::string(ncclGetLastError(comm)).find("different collectives"),
                std::string::npos)
          << ncclGetLastError(comm);
    }
    const ncclResult_t result =
        rank == 2 ? ncclAllGather(send.data(), recv.data(), 5, ncclFloat32, comm, nullptr)
                  : ncclAllReduce(send.data(), recv.data(), 5, ncclFloat32, ncclSum, comm, nullptr);
    EXPECT_EQ(result, ncclInvalidUsage);
    ASSERT_EQ(ncclAllReduce(send.data(), recv.data(), 5, ncclFloat32, ncclSum, comm, nullptr),
              ncclSuccess);
    EXPECT_EQ(recv[4], 3.0f);
  });
}

TEST(NcclEmulator, BadArguments) {
  int version = 0;
  ASSERT_EQ(ncclGetVersion(&version), ncclSuccess);
  EXPECT_EQ(version, 22809);
  EXPECT_STREQ(ncclGetErrorString(ncclInvalidUsage),
               "invalid usage (run with NCCL_DEBUG=WARN for details)");
  float x = 1, y = 0;
  EXPECT_EQ(ncclAllReduce(&x, &y, 1, ncclFloat32, ncclSum, nullptr, nullptr), ncclInvalidArgument);
  EXPECT_EQ(ncclSend(&x, 1, ncclFloat32, 0, nullptr, nullptr), ncclInvalidArgument);
  EXPECT_EQ(ncclGroupEnd(), ncclInvalidUsage);  // no group

  ncclUniqueId id, other;
  ASSERT_EQ(ncclGetUniqueId(&id), ncclSuccess);
  ASSERT_EQ(ncclGetUniqueId(&other), ncclSuccess);
  EXPECT_NE(memcmp(&id, &other, sizeof id), 0);
  ncclComm_t comm = nullptr;
  EXPECT_EQ(ncclCommInitRank(&comm, 1, id, 1), ncclInvalidArgument);
  ncclUniqueId zeros{};
  EXPECT_EQ(ncclCommInitRank(&comm, 1, zeros, 0), ncclInvalidArgument);
  ncclUniqueId foreign = id;
  foreign.internal[16] ^= 1;  // the nonce: as if from another process
  EXPECT_EQ(ncclCommInitRank(&comm, 1, foreign, 0), ncclInvalidUsage);

  ASSERT_EQ(ncclCommInitRank(&comm, 1, id, 0), ncclSuccess) << ncclGetLastError(nullptr);
  ncclComm_t again = nullptr;
  EXPECT_EQ(ncclCommInitRank(&again, 1, id, 0), ncclInvalidUsage);  // an id makes one
  EXPECT_EQ(ncclAllReduce(&x, &y, 1, ncclFloat8e4m3, ncclSum, comm, nullptr), ncclInvalidArgument);
  EXPECT_NE(std::string(ncclGetLastError(comm)).find("data type"), std::string::npos);
  EXPECT_EQ(ncclAllReduce(&x, &y, 1, static_cast<ncclDataType_t>(99), ncclSum, comm, nullptr),
            ncclInvalidArgument);
  EXPECT_EQ(ncclAllReduce(&x, &y, 1, ncclFloat32, static_cast<ncclRedOp_t>(9), comm, nullptr),
            ncclInvalidArgument);
  EXPECT_EQ(ncclAllReduce(nullptr, &y, 1, ncclFloat32, ncclSum, comm, nullptr),
            ncclInvalidArgument);
  EXPECT_EQ(ncclBroadcast(&x, &y, 1, ncclFloat32, 1, comm, nullptr), ncclInvalidArgument);
  EXPECT_EQ(ncclSend(&x, 1, ncclFloat32, 1, comm, nullptr), ncclInvalidArgument);
  EXPECT_EQ(ncclRecv(&y, 1, ncclFloat8e5m2, 0, comm, nullptr), ncclInvalidArgument);

  // A single rank works alone; a send to itself pairs with its receive.
  int64_t seven = 7, out = 0;
  EXPECT_EQ(ncclAllReduce(&seven, &out, 1, ncclInt64, ncclAvg, comm, nullptr), ncclSuccess);
  EXPECT_EQ(out, 7);
  ASSERT_EQ(ncclGroupStart(), ncclSuccess);
  EXPECT_EQ(ncclRecv(&y, 1, ncclFloat32, 0, comm, nullptr), ncclSuccess);
  EXPECT_EQ(ncclSend(&x, 1, ncclFloat32, 0, comm, nullptr), ncclSuccess);
  EXPECT_EQ(ncclGroupEnd(), ncclSuccess);
  EXPECT_EQ(y, 1.0f);

  EXPECT_EQ(ncclCommDestroy(comm), ncclSuccess);
  EXPECT_EQ(ncclCommDestroy(comm), ncclInvalidArgument);  // destroyed
  EXPECT_EQ(ncclAllReduce(&x, &y, 1, ncclFloat32, ncclSum, comm, nullptr), ncclInvalidArgument);
  ncclResult_t state;
  EXPECT_EQ(ncclCommGetAsyncError(comm, &state), ncclInvalidArgument);
}

}  // namespace
