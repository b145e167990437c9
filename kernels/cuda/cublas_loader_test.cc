// The loader's error path needs no GPU: a missing library is a clear FAILED_PRECONDITION.

#include "kernels/cuda/cublas_loader.h"

#include <cstdlib>

#include "gtest/gtest.h"

namespace ferry::kernels::cuda {
namespace {

TEST(CublasLoaderTest, MissingLibraryIsAClearError) {
  absl::StatusOr<CublasLt> lt =
      LoadCublasLtFrom({"/nonexistent/libcublasLt.so.13", "/also/missing/libcublasLt.so.13"});
  ASSERT_FALSE(lt.ok());
  EXPECT_EQ(lt.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(lt.status().message());
  EXPECT_NE(message.find("[matmul] cannot load cuBLASLt"), std::string::npos) << message;
  EXPECT_NE(message.find("FERRY_CUDA_LIB_DIR"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent/libcublasLt.so.13"), std::string::npos) << message;
  EXPECT_NE(message.find("/also/missing/libcublasLt.so.13"), std::string::npos) << message;
}

TEST(CublasLoaderTest, LibraryWithoutTheEntryPointsIsRefused) {
  // libc opens but is not cuBLASLt.
  absl::StatusOr<CublasLt> lt = LoadCublasLtFrom({"libc.so.6"});
  ASSERT_FALSE(lt.ok());
  EXPECT_NE(std::string(lt.status().message()).find("lacks cublasLtCreate"), std::string::npos)
      << lt.status();
}

TEST(CublasLoaderTest, EnvironmentOverrideIsTheOnlyCandidate) {
  setenv("FERRY_CUDA_LIB_DIR", "/opt/somewhere", 1);
  const std::vector<std::string> candidates = CublasLtCandidates();
  unsetenv("FERRY_CUDA_LIB_DIR");
  ASSERT_EQ(candidates.size(), 1u);
  EXPECT_EQ(candidates[0], "/opt/somewhere/libcublasLt.so.13");
}

TEST(CublasLoaderTest, TheOverrideMayNameSeveralDirectories) {
  setenv("FERRY_CUDA_LIB_DIR", "/opt/a:/opt/b", 1);
  const std::vector<std::string> candidates = CublasLtCandidates();
  unsetenv("FERRY_CUDA_LIB_DIR");
  EXPECT_EQ(candidates,
            (std::vector<std::string>{"/opt/a/libcublasLt.so.13", "/opt/b/libcublasLt.so.13"}));
}

TEST(CublasLoaderTest, ToolkitLibraryLoadsWithoutAGpu) {
  // dlopen needs no device; this only checks the toolkit this build used has every symbol.
  absl::StatusOr<CublasLt> lt = LoadCublasLtFrom(CublasLtCandidates());
  if (!lt.ok()) GTEST_SKIP() << "no cuBLASLt on this machine: " << lt.status();
  EXPECT_NE(lt->Matmul, nullptr);
  EXPECT_GT(lt->GetVersion(), 0u);
}

TEST(CublasLoaderTest, MissingCublasIsAClearError) {
  absl::StatusOr<Cublas> blas = LoadCublasFrom({"/nonexistent/libcublas.so.13"});
  ASSERT_FALSE(blas.ok());
  EXPECT_EQ(blas.status().code(), absl::StatusCode::kFailedPrecondition);
  const std::string message(blas.status().message());
  EXPECT_NE(message.find("cannot load cuBLAS (libcublas.so.13"), std::string::npos) << message;
  EXPECT_NE(message.find("/nonexistent/libcublas.so.13"), std::string::npos) << message;
}

TEST(CublasLoaderTest, ToolkitCublasHasTheBatchedLuWithoutAGpu) {
  absl::StatusOr<Cublas> blas = LoadCublasFrom(CublasCandidates());
  if (!blas.ok()) GTEST_SKIP() << "no cuBLAS on this machine: " << blas.status();
  EXPECT_NE(blas->SgetrfBatched, nullptr);
  EXPECT_NE(blas->DgetrsBatched, nullptr);
}

}  // namespace
}  // namespace ferry::kernels::cuda
