#include "kernels/cpu/cpu_backend.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(CpuBackend, DescribesItself) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
  EXPECT_EQ(backend->facts().backend, "cpu");
  EXPECT_THAT(backend->facts().name, StartsWith("CPU ("));
  EXPECT_THAT(backend->facts().name, HasSubstr("threads)"));
  EXPECT_EQ(backend->facts().memory_bytes, 1 << 20);
  EXPECT_EQ(backend->budget().limit(), 1 << 20);
}

TEST(CpuBackend, AllocatesAlignedMemoryAndCountsIt) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
  {
    absl::StatusOr<Tensor> t = backend->Allocate({core::DType::kFloat32, {3, 5}});
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->nbytes(), 60u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t->raw()) % 64, 0u);
    EXPECT_EQ(backend->budget().in_use(), 60);
    Tensor copy = *t;  // a second reference keeps the storage alive
    t = absl::StatusOr<Tensor>(absl::UnknownError("dropped"));
    EXPECT_EQ(backend->budget().in_use(), 60);
  }
  EXPECT_EQ(backend->budget().in_use(), 0);
}

TEST(CpuBackend, EmptyTensorsStillGetStorage) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
  absl::StatusOr<Tensor> t = backend->Allocate({core::DType::kFloat64, {0, 4}});
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_NE(t->storage, nullptr);
  EXPECT_NE(t->raw(), nullptr);
  EXPECT_EQ(t->nbytes(), 0u);
  EXPECT_EQ(backend->budget().in_use(), 0);
  EXPECT_TRUE(backend->CopyFromHost(nullptr, 0, *t, 0).ok());
}

TEST(CpuBackend, RefusesAllocationsPastTheBudget) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(100);
  absl::StatusOr<Tensor> first = backend->Allocate({core::DType::kUInt8, {80}});
  ASSERT_TRUE(first.ok());
  absl::StatusOr<Tensor> second = backend->Allocate({core::DType::kFloat32, {6}});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(backend->budget().in_use(), 80);
  *first = Tensor();  // freed: now it fits
  EXPECT_TRUE(backend->Allocate({core::DType::kFloat32, {6}}).ok());
}

TEST(CpuBackend, RunReportsExhaustionThroughTheHelpers) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(16);
  absl::StatusOr<core::HostTensor> out = cpu::testing::RunOn(
      *backend, "full", {},
      {{"value", 1.0}, {"shape", std::vector<int64_t>{5}}, {"dtype", core::DType::kFloat32}});
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(CpuBackend, RefusesInvalidShapes) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
  EXPECT_EQ(backend->Allocate({core::DType::kFloat32, {-1}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend->Allocate({static_cast<core::DType>(42), {2}}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CpuBackend, CopiesWithinBoundsOnly) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
  absl::StatusOr<Tensor> t = backend->Allocate({core::DType::kInt32, {4}});
  ASSERT_TRUE(t.ok());
  const int32_t values[4] = {1, 2, 3, 4};
  ASSERT_TRUE(backend->CopyFromHost(values, 16, *t, 0).ok());
  const int32_t patch[2] = {20, 30};
  ASSERT_TRUE(backend->CopyFromHost(patch, 8, *t, 4).ok());
  int32_t back[4] = {};
  ASSERT_TRUE(backend->CopyToHost(*t, 0, 16, back).ok());
  EXPECT_THAT(back, ::testing::ElementsAre(1, 20, 30, 4));
  int32_t last = 0;
  ASSERT_TRUE(backend->CopyToHost(*t, 12, 4, &last).ok());
  EXPECT_EQ(last, 4);

  EXPECT_EQ(backend->CopyFromHost(values, 16, *t, 4).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(backend->CopyFromHost(values, 4, *t, 17).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(backend->CopyToHost(*t, 8, 12, back).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(backend->CopyToHost(*t, SIZE_MAX, 2, back).code(), absl::StatusCode::kOutOfRange);
}

TEST(CpuBackend, TensorsOutliveTheBackend) {
  Tensor t;
  {
    std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
    t = *backend->Allocate({core::DType::kFloat32, {8}});
  }
  std::memset(t.raw(), 0, t.nbytes());
}

TEST(CpuBackend, OpsWithoutAKernelAreUnimplemented) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
  core::Node node;
  node.op = "parameter";
  node.out = {core::DType::kFloat32, {}};
  Tensor out = *backend->Allocate(node.out);
  absl::Status status = backend->Run(node, {}, out);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(status.message(), "[parameter] has no CPU kernel");
}

TEST(CpuBackend, RefusesAnOutputOfTheWrongType) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(1 << 20);
  core::Node node;
  node.op = "full";
  node.attrs = {
      {"value", 1.0}, {"shape", std::vector<int64_t>{4}}, {"dtype", core::DType::kFloat32}};
  node.out = {core::DType::kFloat32, {4}};
  Tensor small = *backend->Allocate({core::DType::kFloat32, {2}});
  EXPECT_EQ(backend->Run(node, {}, small).code(), absl::StatusCode::kInternal);
}

TEST(CpuBackend, HasAKernelForEveryComputingOp) {
  for (const std::string& op : core::OpNames()) {
    // (Collectives run in the executor with the session's group, on every backend.)
    if (op == "parameter" || op == "constant" || core::IsCollective(op)) continue;
    EXPECT_TRUE(cpu::CpuKernels().contains(op)) << op;
  }
}

}  // namespace
}  // namespace ferry::kernels
