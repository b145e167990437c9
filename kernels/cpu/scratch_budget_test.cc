// Host memory a kernel takes for itself counts against the backend's budget: an operand
// converted to the dtype an op computes in, a result before it is rounded, a reduction's
// accumulators, softmax's rows in flight. Past the budget the op fails with
// RESOURCE_EXHAUSTED naming it, and takes nothing; within it, the op runs and gives all of
// it back.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/test_util.h"

namespace ferry::kernels::cpu {
namespace {

using ::testing::HasSubstr;
using testing::MakeHost;
using testing::RunOn;
using testing::Values;

constexpr int64_t kMiB = int64_t{1} << 20;

// Runs `op` on a backend of `budget` bytes; its status, and the budget must be all back.
absl::StatusOr<core::HostTensor> RunWithin(int64_t budget, const std::string& op,
                                           const std::vector<core::HostTensor>& inputs,
                                           const core::Attrs& attrs = {}) {
  std::unique_ptr<Backend> backend = MakeCpuBackend(budget);
  absl::StatusOr<core::HostTensor> out = RunOn(*backend, op, inputs, attrs);
  EXPECT_EQ(backend->budget().in_use(), 0) << op;
  return out;
}

void ExpectRefused(const absl::StatusOr<core::HostTensor>& out, const std::string& op) {
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted) << out.status();
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("[" + op + "] scratch memory"));
}

TEST(ScratchBudget, Float16MatmulCountsItsFloat32Copies) {
  // 256 x 256 float16 operands (128 KiB each) and result: 384 KiB of tensors, and 768 KiB of
  // float32 copies for BLAS (both operands and the result before it is rounded).
  const std::vector<double> ones(256 * 256, 1.0);
  const core::HostTensor a = MakeHost(core::DType::kFloat16, {256, 256}, ones);
  ExpectRefused(RunWithin(1 * kMiB, "matmul", {a, a}), "matmul");
  absl::StatusOr<core::HostTensor> product = RunWithin(2 * kMiB, "matmul", {a, a});
  ASSERT_TRUE(product.ok()) << product.status();
  EXPECT_EQ(Values(*product)[0], 256.0);
}

TEST(ScratchBudget, AReductionCountsItsConvertedInput) {
  // sum of 1 MiB of bools computes in int32: a 4 MiB copy.
  const core::HostTensor flags = MakeHost(core::DType::kBool, {kMiB}, std::vector<double>(kMiB, 1));
  const core::Attrs attrs = {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}};
  ExpectRefused(RunWithin(3 * kMiB, "sum", {flags}, attrs), "sum");
  absl::StatusOr<core::HostTensor> total = RunWithin(16 * kMiB, "sum", {flags}, attrs);
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(Values(*total)[0], static_cast<double>(kMiB));
}

TEST(ScratchBudget, AReductionCountsItsAccumulators) {
  // A float16 sum over an axis of 1 keeps one accumulator an element: more than the 2 bytes
  // an element the input and the result take.
  const core::HostTensor x =
      MakeHost(core::DType::kFloat16, {1, kMiB}, std::vector<double>(kMiB, 0.5));
  const core::Attrs attrs = {{"axes", std::vector<int64_t>{0}}, {"keepdims", int64_t{0}}};
  ExpectRefused(RunWithin(5 * kMiB, "sum", {x}, attrs), "sum");
  absl::StatusOr<core::HostTensor> sums = RunWithin(16 * kMiB, "sum", {x}, attrs);
  ASSERT_TRUE(sums.ok()) << sums.status();
  EXPECT_EQ(Values(*sums)[kMiB - 1], 0.5);
}

TEST(ScratchBudget, SoftmaxOfOneLongRowHoldsOneRowOfDivisors) {
  // One row of 1 Mi float32 values: 4 MiB in, 4 MiB out and one row of double divisors
  // (8 MiB), not eight rows' worth.
  const core::HostTensor row =
      MakeHost(core::DType::kFloat32, {kMiB}, std::vector<double>(kMiB, 0));
  const core::Attrs attrs = {{"axes", std::vector<int64_t>{0}}};
  ExpectRefused(RunWithin(12 * kMiB, "softmax", {row}, attrs), "softmax");
  absl::StatusOr<core::HostTensor> p = RunWithin(17 * kMiB, "softmax", {row}, attrs);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FLOAT_EQ(static_cast<float>(Values(*p)[0]), 1.0f / static_cast<float>(kMiB));
}

TEST(ScratchBudget, ALayoutOpCountsItsConvertedInput) {
  // concatenate of an int8 and a float64 array converts the int8 one: 8 bytes an element.
  const core::HostTensor small = MakeHost(core::DType::kInt8, {kMiB}, std::vector<double>(kMiB, 3));
  const core::HostTensor wide = MakeHost(core::DType::kFloat64, {1}, {1.0});
  const core::Attrs attrs = {{"axis", int64_t{0}}};
  ExpectRefused(RunWithin(12 * kMiB, "concatenate", {small, wide}, attrs), "concatenate");
  absl::StatusOr<core::HostTensor> joined =
      RunWithin(20 * kMiB, "concatenate", {small, wide}, attrs);
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_EQ(Values(*joined)[0], 3.0);
  EXPECT_EQ(Values(*joined)[kMiB], 1.0);
}

}  // namespace
}  // namespace ferry::kernels::cpu
