// The cuSOLVER loader needs no GPU: a missing library is a clear FAILED_PRECONDITION, and the
// toolkit's library has every entry point linalg.cc calls.

#include "kernels/cuda/cusolver_loader.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace ferry::kernels::cuda {
namespace {

TEST(CusolverLoaderTest, MissingLibraryIsAClearError) {
  absl::StatusOr<Cusolver> solver =
      LoadCusolverFrom({"/nonexistent/libcusolver.so.12", "/also/missing/libcusolver.so.12"});
  ASSERT_FALSE(solver.ok());
  EXPECT_EQ(solver.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(solver.status().message());
  EXPECT_NE(message.find("cannot load cuSOLVER"), std::string::npos) << message;
  EXPECT_NE(message.find("FERRY_CUDA_LIB_DIR"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent/libcusolver.so.12"), std::string::npos) << message;
  EXPECT_NE(message.find("/also/missing/libcusolver.so.12"), std::string::npos) << message;
}

TEST(CusolverLoaderTest, LibraryWithoutTheEntryPointsIsRefused) {
  absl::StatusOr<Cusolver> solver = LoadCusolverFrom({"libc.so.6"});
  ASSERT_FALSE(solver.ok());
  EXPECT_NE(std::string(solver.status().message()).find("lacks cusolverDnCreate"),
            std::string::npos)
      << solver.status();
}

TEST(CusolverLoaderTest, EnvironmentOverrideIsTheOnlyCandidate) {
  setenv("FERRY_CUDA_LIB_DIR", "/opt/a:/opt/b", 1);
  const std::vector<std::string> candidates = CusolverCandidates();
  unsetenv("FERRY_CUDA_LIB_DIR");
  EXPECT_EQ(candidates,
            (std::vector<std::string>{"/opt/a/libcusolver.so.12", "/opt/b/libcusolver.so.12"}));
}

TEST(CusolverLoaderTest, ToolkitLibraryHasEveryEntryPointWithoutAGpu) {
  // dlopen needs no device; this checks that the toolkit this build used (the CUDA 13
  // libcusolver.so.12, as PyTorch ships) exports every function ferry resolves.
  absl::StatusOr<Cusolver> solver = LoadCusolverFrom(CusolverCandidates());
  if (!solver.ok()) GTEST_SKIP() << "no cuSOLVER on this machine: " << solver.status();
  EXPECT_NE(solver->Create, nullptr);
  EXPECT_NE(solver->Dsyevd, nullptr);
}

}  // namespace
}  // namespace ferry::kernels::cuda
