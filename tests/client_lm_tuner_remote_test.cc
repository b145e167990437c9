// mlx_lm.lora's training on a real ferryd: grad_checkpoint takes the daemon's peak memory
// down for the same losses (each block recomputed in the backward pass there instead of its
// intermediates kept).

#include <iostream>
#include <memory>

#include "client/ferry.h"
#include "client/lm/tuner/tuner_testing.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry::lm::tuner {
namespace {

using ::ferry::lm::tuner::testing::TrainingRun;
using ::ferry::lm::tuner::testing::TrainTinyLlama;

TEST(ClientLmTunerRemoteTest, GradCheckpointLowersTheDaemonsPeakForTheSameLosses) {
  auto ferryd = ::ferry::testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const Device remote = connect(ferryd->address());
  const TrainingRun plain = TrainTinyLlama(remote, /*grad_checkpoint=*/false);
  const TrainingRun checkpointed = TrainTinyLlama(remote, /*grad_checkpoint=*/true);
  const TrainingRun on_the_client = TrainTinyLlama(default_device(), /*grad_checkpoint=*/false);
  ASSERT_EQ(plain.losses.size(), 3u);
  EXPECT_EQ(checkpointed.losses, plain.losses);
  for (size_t i = 0; i < on_the_client.losses.size(); ++i) {
    EXPECT_NEAR(plain.losses[i], on_the_client.losses[i], 1e-5) << "step " << i;
  }
  std::cout << "ferryd's peak: " << plain.peak_bytes << " bytes, " << checkpointed.peak_bytes
            << " with grad_checkpoint\n";
  EXPECT_LT(checkpointed.peak_bytes, plain.peak_bytes * 0.9);
}

}  // namespace
}  // namespace ferry::lm::tuner
