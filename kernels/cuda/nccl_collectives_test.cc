// The CUDA backend's collectives through NCCL (nccl_collectives.h), below the daemon: a group
// of one on any GPU (every call is its input, through NCCL's own kernels), and of two ranks
// as threads, each with its own backend: on two GPUs where the machine has them, on the
// emulator's one with its NCCL stand-in (real NCCL refuses two ranks on one GPU). Skips
// without a GPU or NCCL.

#include "kernels/cuda/nccl_collectives.h"

#include <complex>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/backend.h"
#include "kernels/collectives.h"
#include "kernels/cpu/test_util.h"
#include "kernels/cuda/cuda_backend.h"

namespace ferry::kernels {
namespace {

#ifdef FERRY_CUDA_EMULATED
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

// A backend on `device`, or why there is none.
absl::StatusOr<std::unique_ptr<Backend>> GpuBackend(int device) {
  if (absl::Status usable = cuda::NcclUsable(); !usable.ok()) return usable;
  CudaOptions options;
  options.device = device;
  return MakeCudaBackend(options);
}

template <typename T>
Tensor Upload(Backend& backend, core::DType dtype, const std::vector<T>& values) {
  core::HostTensor host{{dtype, {static_cast<int64_t>(values.size())}}, {}};
  host.data.assign(reinterpret_cast<const char*>(values.data()),
                   reinterpret_cast<const char*>(values.data() + values.size()));
  absl::StatusOr<Tensor> tensor = TensorFromHost(backend, host);
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return *tensor;
}

Tensor Empty(Backend& backend, core::DType dtype, int64_t count) {
  absl::StatusOr<Tensor> tensor = backend.Allocate({dtype, {count}});
  EXPECT_TRUE(tensor.ok()) << tensor.status();
  return *tensor;
}

template <typename T>
std::vector<T> Download(Backend& backend, const Tensor& tensor) {
  absl::StatusOr<core::HostTensor> host = TensorToHost(backend, tensor);
  EXPECT_TRUE(host.ok()) << host.status();
  return host.ok() ? cpu::testing::Elements<T>(*host) : std::vector<T>();
}

TEST(NcclCollectivesTest, NcclCarriesWhatItCanReduceExactly) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = GpuBackend(0);
  if (!backend.ok()) GTEST_SKIP() << "no GPU or no NCCL: " << backend.status();
  absl::StatusOr<std::string> id = (*backend)->NewDeviceGroupId();
  ASSERT_TRUE(id.ok()) << id.status();
  auto group = (*backend)->JoinDeviceGroup(*id, 0, 1, absl::Seconds(30), absl::Seconds(30));
  ASSERT_TRUE(group.ok()) << group.status();
  DeviceCollectives& device = **group;
  using core::DType;
  for (DType dtype :
       {DType::kInt8, DType::kUInt8, DType::kInt32, DType::kUInt32, DType::kInt64, DType::kUInt64,
        DType::kFloat16, DType::kBFloat16, DType::kFloat32, DType::kFloat64, DType::kComplex64}) {
    EXPECT_TRUE(device.Reduces(ReduceOp::kSum, dtype)) << core::DTypeName(dtype);
  }
  for (DType dtype : {DType::kBool, DType::kInt16, DType::kUInt16}) {
    EXPECT_FALSE(device.Reduces(ReduceOp::kSum, dtype)) << core::DTypeName(dtype);
  }
  // NCCL's max is fmax, which drops NaN; the host path propagates it as NumPy does.
  EXPECT_TRUE(device.Reduces(ReduceOp::kMax, DType::kInt32));
  EXPECT_FALSE(device.Reduces(ReduceOp::kMax, DType::kFloat32));
  EXPECT_FALSE(device.Reduces(ReduceOp::kMin, DType::kFloat16));
  EXPECT_FALSE(device.Reduces(ReduceOp::kMin, DType::kComplex64));
}

// A group of one: each collective is its input, through NCCL's kernels on the backend's
// stream and pool memory.
TEST(NcclCollectivesTest, AGroupOfOneGivesBackItsInput) {
  absl::StatusOr<std::unique_ptr<Backend>> made = GpuBackend(0);
  if (!made.ok()) GTEST_SKIP() << "no GPU or no NCCL: " << made.status();
  Backend& backend = **made;
  absl::StatusOr<std::string> id = backend.NewDeviceGroupId();
  ASSERT_TRUE(id.ok()) << id.status();
  auto group = backend.JoinDeviceGroup(*id, 0, 1, absl::Seconds(30), absl::Seconds(30));
  ASSERT_TRUE(group.ok()) << group.status();
  std::vector<float> values(1000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5f * static_cast<float>(i) - 7;
  Tensor in = Upload(backend, core::DType::kFloat32, values);
  Tensor out = Empty(backend, core::DType::kFloat32, 1000);
  ASSERT_TRUE(
      (*group)->AllReduce(ReduceOp::kSum, core::DType::kFloat32, in.raw(), out.raw(), 1000).ok());
  EXPECT_EQ(Download<float>(backend, out), values);
  Tensor gathered = Empty(backend, core::DType::kFloat32, 1000);
  ASSERT_TRUE((*group)->AllGather(in.raw(), 4000, gathered.raw()).ok());
  EXPECT_EQ(Download<float>(backend, gathered), values);
  Tensor scattered = Empty(backend, core::DType::kFloat32, 1000);
  ASSERT_TRUE(
      (*group)
          ->ReduceScatter(ReduceOp::kSum, core::DType::kFloat32, in.raw(), scattered.raw(), 1000)
          .ok());
  EXPECT_EQ(Download<float>(backend, scattered), values);
  Tensor swapped = Empty(backend, core::DType::kFloat32, 1000);
  ASSERT_TRUE((*group)->AllToAll(in.raw(), 4000, swapped.raw()).ok());
  EXPECT_EQ(Download<float>(backend, swapped), values);
  // Aborted (a failed group, a closed session): later calls fail at once.
  (*group)->Abort();
  absl::Status later =
      (*group)->AllReduce(ReduceOp::kSum, core::DType::kFloat32, in.raw(), out.raw(), 1000);
  EXPECT_EQ(later.code(), absl::StatusCode::kCancelled) << later;
}

// Two ranks, a thread each with its own backend, run every collective NCCL carries.
TEST(NcclCollectivesTest, TwoRanksSumGatherScatterAndSwap) {
  int second_device = 1;
  if (kEmulated) {
    second_device = 0;  // the emulator's NCCL takes two ranks on its one device
  } else {
    absl::StatusOr<std::unique_ptr<Backend>> second = GpuBackend(1);
    if (!second.ok()) GTEST_SKIP() << "needs two GPUs: " << second.status();
  }
  std::unique_ptr<Backend> backends[2];
  for (int r = 0; r < 2; ++r) {
    absl::StatusOr<std::unique_ptr<Backend>> made = GpuBackend(r == 0 ? 0 : second_device);
    if (!made.ok()) GTEST_SKIP() << "no GPU or no NCCL: " << made.status();
    backends[r] = *std::move(made);
  }
  absl::StatusOr<std::string> id = backends[0]->NewDeviceGroupId();
  ASSERT_TRUE(id.ok()) << id.status();
  constexpr int64_t kCount = 1 << 16;  // float32 and int64, several of NCCL's chunks
  std::vector<std::vector<float>> floats(2, std::vector<float>(kCount));
  std::vector<std::vector<int64_t>> ints(2, std::vector<int64_t>(kCount));
  for (int r = 0; r < 2; ++r) {
    for (int64_t i = 0; i < kCount; ++i) {
      floats[r][i] = static_cast<float>((i * 7 + r * 13) % 1001) - 500;
      ints[r][i] = (int64_t{1} << 40) * (r + 1) - i;
    }
  }
  std::vector<float> sums[2], gathered[2], scattered[2], swapped[2];
  std::vector<int64_t> int_maxes[2];
  absl::Status statuses[2];
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      Backend& backend = *backends[r];
      auto group = backend.JoinDeviceGroup(*id, r, 2, absl::Seconds(30), absl::Seconds(30));
      if (!group.ok()) {
        statuses[r] = group.status();
        return;
      }
      DeviceCollectives& device = **group;
      Tensor in = Upload(backend, core::DType::kFloat32, floats[r]);
      Tensor sum = Empty(backend, core::DType::kFloat32, kCount);
      Tensor all = Empty(backend, core::DType::kFloat32, 2 * kCount);
      Tensor part = Empty(backend, core::DType::kFloat32, kCount / 2);
      Tensor blocks = Empty(backend, core::DType::kFloat32, kCount);
      Tensor int_in = Upload(backend, core::DType::kInt64, ints[r]);
      Tensor int_max = Empty(backend, core::DType::kInt64, kCount);
      absl::Status s =
          device.AllReduce(ReduceOp::kSum, core::DType::kFloat32, in.raw(), sum.raw(), kCount);
      if (s.ok()) s = device.AllGather(in.raw(), 4 * kCount, all.raw());
      if (s.ok()) {
        s = device.ReduceScatter(ReduceOp::kSum, core::DType::kFloat32, in.raw(), part.raw(),
                                 kCount / 2);
      }
      if (s.ok()) s = device.AllToAll(in.raw(), 2 * kCount, blocks.raw());
      if (s.ok()) {
        s = device.AllReduce(ReduceOp::kMax, core::DType::kInt64, int_in.raw(), int_max.raw(),
                             kCount);
      }
      statuses[r] = s;
      if (!s.ok()) return;
      sums[r] = Download<float>(backend, sum);
      gathered[r] = Download<float>(backend, all);
      scattered[r] = Download<float>(backend, part);
      swapped[r] = Download<float>(backend, blocks);
      int_maxes[r] = Download<int64_t>(backend, int_max);
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int r = 0; r < 2; ++r) {
    ASSERT_TRUE(statuses[r].ok()) << "rank " << r << ": " << statuses[r];
    for (int64_t i = 0; i < kCount; ++i) {
      ASSERT_EQ(sums[r][i], floats[0][i] + floats[1][i]) << "rank " << r << ", element " << i;
      ASSERT_EQ(gathered[r][i], floats[0][i]) << r << " " << i;
      ASSERT_EQ(gathered[r][kCount + i], floats[1][i]) << r << " " << i;
      ASSERT_EQ(int_maxes[r][i], ints[1][i]) << r << " " << i;
    }
    const int64_t half = kCount / 2;
    for (int64_t i = 0; i < half; ++i) {
      ASSERT_EQ(scattered[r][i], floats[0][r * half + i] + floats[1][r * half + i])
          << r << " " << i;
      // Block r of each rank's array, in rank order.
      ASSERT_EQ(swapped[r][i], floats[0][r * half + i]) << r << " " << i;
      ASSERT_EQ(swapped[r][half + i], floats[1][r * half + i]) << r << " " << i;
    }
  }
}

}  // namespace
}  // namespace ferry::kernels
