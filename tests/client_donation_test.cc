// Donation on a real ferryd: an array that dies with the eval that rewrites it (a KV cache
// written at a position, step after step) gives its buffer to the daemon, which writes the
// update over it in place rather than copying it; an array anything else still holds is
// never written over; weights replaced in a training loop that holds its gradients are.

#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

constexpr int64_t kCache = 1 << 20;  // 4 MiB of float32

Array Position(int64_t p, const Device& device) {
  return from_host(std::vector<int32_t>{static_cast<int32_t>(p)}, {1}, device);
}

TEST(ClientDonationTest, ACacheRewrittenEachStepIsWrittenInPlace) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  Array cache = zeros({kCache}, float32, remote);
  eval({cache});
  synchronize(remote);
  reset_peak_memory(remote);
  const DeviceStats before = remote.stats();
  for (int64_t step = 0; step < 8; ++step) {
    cache = slice_update(cache, full({4}, static_cast<double>(step + 1), float32, remote),
                         Position(step * 4, remote), {0});
    eval({cache});
  }
  const std::vector<float> values = cache.to_vector<float>();
  EXPECT_EQ(remote.stats().donated - before.donated, 8);
  // Old and new caches never both existed: a copy would have held 8 MiB at once.
  EXPECT_LT(memory_info(remote).peak_bytes, kCache * 4 * 3 / 2);
  for (int64_t i = 0; i < 32; ++i) EXPECT_EQ(values[i], static_cast<float>(i / 4 + 1)) << i;
  EXPECT_EQ(values[32], 0.0f);
}

TEST(ClientDonationTest, AnArrayStillHeldIsNeverWrittenOver) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  Array old = zeros({kCache}, float32, remote);
  eval({old});
  const DeviceStats before = remote.stats();
  Array updated = slice_update(old, ones({4}, float32, remote), Position(0, remote), {0});
  // A lazy array the program keeps reads `old` too, though this eval does not compute it.
  Array later = old + 1.0f;
  eval({updated});
  EXPECT_EQ(remote.stats().donated - before.donated, 0);
  EXPECT_EQ(old.to_vector<float>()[0], 0.0f);
  EXPECT_EQ(later.to_vector<float>()[0], 1.0f);
  EXPECT_EQ(updated.to_vector<float>()[0], 1.0f);
}

TEST(ClientDonationTest, TwoTargetsReadingADyingArrayBothSeeItsValues) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  Array a = full({kCache}, 2.0, float32, remote);
  eval({a});
  // `a` dies with this eval: it is given to the daemon, and whichever step reads it last
  // may write over it; the other still reads 2s.
  Array written = slice_update(a, zeros({4}, float32, remote), Position(0, remote), {0});
  Array doubled = a * 2.0f;
  a = Array(zeros({1}, float32, remote));
  const DeviceStats before = remote.stats();
  eval({written, doubled});
  EXPECT_EQ(remote.stats().donated - before.donated, 1);
  EXPECT_EQ(written.to_vector<float>()[0], 0.0f);
  EXPECT_EQ(written.to_vector<float>()[4], 2.0f);
  const std::vector<float> d = doubled.to_vector<float>();
  EXPECT_EQ(d[0], 4.0f);
  EXPECT_EQ(d[kCache - 1], 4.0f);
}

// A training loop that holds its loss and gradients across `eval(weights)`, as MLX programs
// do: what the gradients read of the old weights (tanh(x w) here) is computed and kept, so
// nothing lazy still needs the old weights, which die with the eval and are written over.
TEST(ClientDonationTest, WeightsAnOptimizerReplacesAreWrittenOver) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  auto train = [](const Device& device) {
    Array w = random::normal({64, 64}, float32, 0.0, 0.1, random::key(1), device);
    const Array x = random::normal({8, 64}, float32, 0.0, 1.0, random::key(2), device);
    eval({w, x});
    auto loss_and_grad = value_and_grad(
        [&x](const std::vector<Array>& p) { return sum(square(tanh(matmul(x, p[0])))); }, {0});
    std::vector<float> losses;
    for (int step = 0; step < 4; ++step) {
      auto [loss, grads] = loss_and_grad({w});
      w = w - grads[0] * 0.001f;
      eval({w});
      losses.push_back(loss.item<float>());
    }
    return std::make_pair(losses, w.to_vector<float>());
  };
  const DeviceStats before = remote.stats();
  const auto [remote_losses, remote_w] = train(remote);
  EXPECT_GE(remote.stats().donated - before.donated, 3);
  const auto [local_losses, local_w] = train(local());
  EXPECT_EQ(remote_losses, local_losses);
  EXPECT_EQ(remote_w, local_w);
  EXPECT_LT(remote_losses.back(), remote_losses.front());
}

}  // namespace
}  // namespace ferry
