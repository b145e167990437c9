#include "kernels/cuda/cuda_devices.h"

#include <iostream>

#include "gtest/gtest.h"

namespace ferry::kernels {
namespace {

TEST(CudaDevicesTest, CountIsNonNegativeAndExplainsAbsence) {
  std::string reason;
  const int count = CudaDeviceCount(&reason);
  ASSERT_GE(count, 0);
  if (count == 0) {
    EXPECT_FALSE(reason.empty());
    GTEST_SKIP() << "no GPU: " << reason;
  }
  EXPECT_TRUE(BuiltWithCuda());
}

}  // namespace
}  // namespace ferry::kernels
