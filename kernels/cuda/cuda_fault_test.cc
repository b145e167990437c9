// A kernel fault fails the call that meets it with INTERNAL; the backend then resets the
// device and keeps serving, elementwise kernels and cuBLASLt alike. Skips without a GPU.

#include <string>

#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"
#include "kernels/cuda/test_util.h"

namespace ferry::kernels {
namespace {

using cpu::testing::MakeHost;
using cpu::testing::RunOn;
using cpu::testing::Values;

TEST(CudaFaultTest, FaultIsInternalAndTheBackendKeepsServing) {
  absl::StatusOr<std::unique_ptr<Backend>> backend = cuda::testing::MakeTestBackend(0);
  if (!backend.ok()) GTEST_SKIP() << "no GPU: " << backend.status();
  absl::StatusOr<Tensor> before =
      TensorFromHost(**backend, MakeHost(core::DType::kFloat32, {2}, {1, 2}));
  ASSERT_TRUE(before.ok()) << before.status();
  const core::HostTensor a = MakeHost(core::DType::kFloat32, {2, 2}, {1, 2, 3, 4});
  const core::HostTensor b = MakeHost(core::DType::kFloat32, {2, 2}, {5, 6, 7, 8});
  absl::StatusOr<core::HostTensor> product = RunOn(**backend, "matmul", {a, b});
  ASSERT_TRUE(product.ok()) << product.status();  // cuBLASLt's handle now exists

  absl::Status injected = InjectCudaFaultForTest(**backend);
  absl::Status synced = injected.ok() ? (*backend)->Synchronize() : injected;
  ASSERT_FALSE(synced.ok());
  EXPECT_EQ(synced.code(), absl::StatusCode::kInternal) << synced;
  EXPECT_NE(std::string(synced.message()).find("fault"), std::string::npos) << synced;

  // A tensor from before the reset is refused, not used.
  absl::StatusOr<core::HostTensor> lost = TensorToHost(**backend, *before);
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), absl::StatusCode::kInternal) << lost.status();

  absl::StatusOr<core::HostTensor> out = RunOn(
      **backend, "mul",
      {MakeHost(core::DType::kFloat32, {2}, {3, 4}), MakeHost(core::DType::kFloat32, {2}, {5, 6})});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(Values(*out), (std::vector<double>{15, 24}));
  // cuBLASLt too: its handle belonged to the context the reset destroyed.
  product = RunOn(**backend, "matmul", {a, b});
  ASSERT_TRUE(product.ok()) << product.status();
  EXPECT_EQ(Values(*product), (std::vector<double>{19, 22, 43, 50}));
}

}  // namespace
}  // namespace ferry::kernels
