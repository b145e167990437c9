// The stream-ordered pool: the budget and the device both refuse with RESOURCE_EXHAUSTED
// naming sizes, and the backend keeps working afterwards. Skips without a GPU.

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"
#include "kernels/cuda/test_util.h"

namespace ferry::kernels {
namespace {

using cpu::testing::MakeHost;
using cpu::testing::RunOn;
using cpu::testing::Values;

TEST(CudaMemoryTest, BudgetRefusesPastItsLimitAndRecovers) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = cuda::testing::MakeTestBackend(1 << 20);
  if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
  absl::StatusOr<Tensor> big = (*backend)->Allocate({core::DType::kFloat32, {1 << 19}});
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(big.status().message()).find("2097152"), std::string::npos) << big.status();
  {
    absl::StatusOr<Tensor> small = (*backend)->Allocate({core::DType::kFloat32, {1 << 16}});
    ASSERT_TRUE(small.ok()) << small.status();
    EXPECT_EQ((*backend)->budget().in_use(), 1 << 18);
  }
  EXPECT_EQ((*backend)->budget().in_use(), 0);
}

TEST(CudaMemoryTest, DeviceExhaustionIsResourceExhaustedNotACrash) {
  // A budget far beyond the device, so the pool itself runs out.
  absl::StatusOr<std::unique_ptr<Backend>> backend =
      cuda::testing::MakeTestBackend(int64_t{1} << 50);
  if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
  const int64_t elements = ((*backend)->facts().memory_bytes / 4) * 2;  // twice the device
  absl::StatusOr<Tensor> huge = (*backend)->Allocate({core::DType::kFloat32, {elements}});
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted) << huge.status();
  EXPECT_NE(std::string(huge.status().message()).find("GPU memory"), std::string::npos);
  EXPECT_EQ((*backend)->budget().in_use(), 0);
  // Still serving.
  absl::StatusOr<core::HostTensor> sum = RunOn(
      **backend, "add",
      {MakeHost(core::DType::kFloat32, {2}, {1, 2}), MakeHost(core::DType::kFloat32, {2}, {3, 4})});
  ASSERT_TRUE(sum.ok()) << sum.status();
  EXPECT_EQ(Values(*sum), (std::vector<double>{4, 6}));
}

TEST(CudaMemoryTest, LargeCopiesRoundTripThroughTheStagingBuffers) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = cuda::testing::MakeTestBackend(0);
  if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
  // 40 MiB + 3 bytes: several chunks of both staging buffers and a ragged end.
  core::HostTensor host{{core::DType::kUInt8, {(40 << 20) + 3}}, ""};
  host.data.resize((40 << 20) + 3);
  for (size_t i = 0; i < host.data.size(); ++i) host.data[i] = static_cast<char>(i * 7 + i / 13);
  absl::StatusOr<Tensor> tensor = TensorFromHost(**backend, host);
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  absl::StatusOr<core::HostTensor> back = TensorToHost(**backend, *tensor);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->data == host.data);
}

// Host memory pinned for the device (a client's shared region): copies straight between
// it and a tensor, done on return; pinned once only, within the backend's cap.
TEST(CudaMemoryTest, PinnedHostMemoryCopiesStraightAndIsPinnedOnce) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = cuda::testing::MakeTestBackend(0);
  if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
  const size_t bytes = (size_t{24} << 20) + 5;  // past a staging buffer, ragged
  std::vector<char> host(bytes + 4096);
  char* data = host.data();
  std::shared_ptr<void> pinned = (*backend)->PinHostMemory(data, host.size());
  ASSERT_NE(pinned, nullptr);
  EXPECT_EQ((*backend)->PinHostMemory(data, host.size()), nullptr) << "pinned twice";
  EXPECT_EQ((*backend)->PinHostMemory(data, size_t{5} << 30), nullptr) << "past the cap";
  for (size_t i = 0; i < bytes; ++i) data[i] = static_cast<char>(i * 5 + i / 11);
  absl::StatusOr<Tensor> tensor = (*backend)->Allocate({core::DType::kUInt8, {int64_t(bytes)}});
  ASSERT_TRUE(tensor.ok()) << tensor.status();
  ASSERT_TRUE((*backend)->CopyFromPinnedHost(data, bytes, *tensor, 0).ok());
  std::memset(data, 0, bytes);   // the copy is done: the memory is the caller's again
  char* back = data + 4096 - 7;  // an odd place inside the pinned range
  std::vector<char> expected(bytes);
  for (size_t i = 0; i < bytes; ++i) expected[i] = static_cast<char>(i * 5 + i / 11);
  ASSERT_TRUE((*backend)->CopyToPinnedHost(*tensor, 0, bytes, back).ok());
  EXPECT_EQ(std::memcmp(back, expected.data(), bytes), 0);
  absl::Status outside = (*backend)->CopyToPinnedHost(*tensor, 1, bytes, back);
  EXPECT_FALSE(outside.ok()) << "bytes past the tensor's end";
  pinned.reset();  // unpinned: the same memory may be pinned again
  EXPECT_NE((*backend)->PinHostMemory(data, host.size()), nullptr);
}

TEST(CudaMemoryTest, QueuesRunIndependently) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = cuda::testing::MakeTestBackend(0);
  if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
  std::shared_ptr<Queue> a = (*backend)->NewQueue();
  std::shared_ptr<Queue> b = (*backend)->NewQueue();
  ASSERT_NE(a, nullptr);
  for (Queue* queue : {a.get(), b.get()}) {
    QueueScope scope(queue);
    absl::StatusOr<core::HostTensor> out =
        RunOn(**backend, "neg", {MakeHost(core::DType::kInt32, {3}, {1, -2, 3})});
    ASSERT_TRUE(out.ok()) << out.status();
    EXPECT_EQ(Values(*out), (std::vector<double>{-1, 2, -3}));
  }
}

}  // namespace
}  // namespace ferry::kernels
