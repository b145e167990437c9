// memory_info and reset_peak_memory (MLX's get_active_memory and get_peak_memory, PyTorch's
// memory_allocated and max_memory_allocated) against a real ferryd and the local device: a
// session sees its own arrays, its peak counts an eval's intermediates, and the limits are
// the daemon's flags.

#include <memory>
#include <optional>
#include <vector>

#include "client/ferry.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

constexpr int64_t kMiB = int64_t{1} << 20;

TEST(MemoryInfoTest, ActiveMemoryIsThisSessionsArrays) {
  auto daemon = testing::StartFerryd();
  ASSERT_NE(daemon, nullptr);
  Device a = connect(daemon->address());
  Device b = connect(daemon->address());
  EXPECT_EQ(memory_info(a).active_bytes, 0);
  std::optional<Array> x = random::normal({kMiB}, float32, 0, 1, random::key(1), a);  // 4 MiB
  Array y = random::normal({2 * kMiB}, float32, 0, 1, random::key(2), b);             // 8 MiB
  eval({*x});
  eval({y});
  const MemoryInfo of_a = memory_info(a);
  EXPECT_EQ(of_a.active_bytes, 4 * kMiB);
  EXPECT_EQ(memory_info(b).active_bytes, 8 * kMiB);
  EXPECT_GE(of_a.device_in_use_bytes, 12 * kMiB);
  x.reset();  // dropped here: no longer held there
  EXPECT_EQ(memory_info(a).active_bytes, 0);
  EXPECT_EQ(memory_info(a).peak_bytes, of_a.peak_bytes);  // the peak stays
}

TEST(MemoryInfoTest, ThePeakCountsAnEvalsIntermediatesUntilReset) {
  auto daemon = testing::StartFerryd({"--fusion=false"});  // each op its own buffer
  ASSERT_NE(daemon, nullptr);
  Device gpu = connect(daemon->address());
  Array x = random::normal({kMiB}, float32, 0, 1, random::key(3), gpu);  // 4 MiB
  x.eval();
  reset_peak_memory(gpu);
  EXPECT_EQ(memory_info(gpu).peak_bytes, 4 * kMiB);
  // exp(x) takes 4 MiB; * 2 and + x write over it in place (it dies with each), and the sum
  // takes 4 bytes: x and one intermediate at the most.
  Array total = sum(exp(x) * 2.0f + x);
  total.eval();
  const MemoryInfo after = memory_info(gpu);
  EXPECT_EQ(after.active_bytes, 4 * kMiB + 4);
  EXPECT_GE(after.peak_bytes, 8 * kMiB);
  EXPECT_LE(after.peak_bytes, 8 * kMiB + 64);
  // Two intermediates alive at once: both exps are read by the final add.
  Array both = sum(exp(x) + exp(x * 2.0f));
  both.eval();
  EXPECT_GE(memory_info(gpu).peak_bytes, 12 * kMiB);
  reset_peak_memory(gpu);
  EXPECT_EQ(memory_info(gpu).peak_bytes, memory_info(gpu).active_bytes);
}

TEST(MemoryInfoTest, TheLimitsAreTheDaemonsFlags) {
  auto daemon = testing::StartFerryd({"--max_memory=64M", "--max_session_memory=32M"});
  ASSERT_NE(daemon, nullptr);
  Device gpu = connect(daemon->address());
  const MemoryInfo memory = memory_info(gpu);
  EXPECT_EQ(memory.limit_bytes, 32 * kMiB);
  EXPECT_EQ(memory.device_limit_bytes, 64 * kMiB);
  auto unlimited = testing::StartFerryd({"--max_memory=64M"});
  ASSERT_NE(unlimited, nullptr);
  EXPECT_EQ(memory_info(connect(unlimited->address())).limit_bytes, 64 * kMiB);
}

TEST(MemoryInfoTest, TheLocalDeviceReportsItsWholeMemory) {
  Device cpu = local();
  reset_peak_memory(cpu);
  const int64_t before = memory_info(cpu).active_bytes;
  {
    Array x = ones({kMiB}, float32, cpu);
    x.eval();
    EXPECT_GE(memory_info(cpu).active_bytes, before + 4 * kMiB);
  }
  const MemoryInfo after = memory_info(cpu);
  EXPECT_EQ(after.active_bytes, before);
  EXPECT_GE(after.peak_bytes, before + 4 * kMiB);
  EXPECT_GT(after.limit_bytes, 0);
  EXPECT_EQ(after.limit_bytes, after.device_limit_bytes);
}

}  // namespace
}  // namespace ferry
