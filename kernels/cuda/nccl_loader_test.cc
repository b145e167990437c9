// The NCCL loader needs no GPU: a missing library is a clear FAILED_PRECONDITION, and the
// toolkit's library has every entry point nccl_collectives.cc calls.

#include "kernels/cuda/nccl_loader.h"

#include "gtest/gtest.h"

namespace ferry::kernels::cuda {
namespace {

TEST(NcclLoaderTest, MissingLibraryIsAClearError) {
  absl::StatusOr<Nccl> nccl = LoadNcclFrom({"/nonexistent/libnccl.so.2"});
  ASSERT_FALSE(nccl.ok());
  EXPECT_EQ(nccl.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(nccl.status().message());
  EXPECT_NE(message.find("cannot load NCCL"), std::string::npos) << message;
  EXPECT_NE(message.find("FERRY_CUDA_LIB_DIR"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent/libnccl.so.2"), std::string::npos) << message;
}

TEST(NcclLoaderTest, LibraryWithoutTheEntryPointsIsRefused) {
  absl::StatusOr<Nccl> nccl = LoadNcclFrom({"libc.so.6"});
  ASSERT_FALSE(nccl.ok());
  EXPECT_NE(std::string(nccl.status().message()).find("lacks ncclGetVersion"), std::string::npos)
      << nccl.status();
}

TEST(NcclLoaderTest, ToolkitLibraryHasEveryEntryPointWithoutAGpu) {
  absl::StatusOr<Nccl> nccl = LoadNcclFrom(NcclCandidates());
  if (!nccl.ok()) GTEST_SKIP() << "no NCCL on this machine: " << nccl.status();
  int version = 0;
  ASSERT_EQ(nccl->GetVersion(&version), ncclSuccess);
  EXPECT_GE(version, 21400) << "nonblocking communicators need NCCL 2.14";
}

}  // namespace
}  // namespace ferry::kernels::cuda
