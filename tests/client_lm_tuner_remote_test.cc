// mlx_lm.lora's training on a real ferryd: grad_checkpoint takes the daemon's peak memory
// down for the same losses (each block recomputed in the backward pass there instead of its
// intermediates kept).

#include <cstdint>
#include <iostream>
#include <memory>
#include <random>
#include <vector>

#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/tuner/fine_tune.h"
#include "client/lm/tuner/trainer.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry::lm::tuner {
namespace {

using ::ferry::testing::Runfile;

struct TrainingRun {
  std::vector<double> losses;
  int64_t peak_bytes = 0;
};

TrainingRun Train(const Device& device, const std::vector<Example>& examples,
                  bool grad_checkpoint) {
  std::unique_ptr<Model> model = load_model(Runfile("client/lm/testdata/llama"), device);
  setup_fine_tuning(*model, "full", -1, {});
  TrainingConfig config;
  config.learning_rate = 1e-3;
  std::unique_ptr<optimizers::Optimizer> optimizer = build_optimizer(config);
  TrainingArgs args;
  args.batch_size = 8;
  args.iters = 3;
  args.steps_per_report = 1;
  args.grad_checkpoint = grad_checkpoint;
  TrainingRun run;
  synchronize(device);
  reset_peak_memory(device);
  train(*model, *optimizer, examples, {}, args,
        [&](const Report& r) { run.losses.push_back(r.loss); });
  run.peak_bytes = memory_info(device).peak_bytes;
  return run;
}

TEST(ClientLmTunerRemoteTest, GradCheckpointLowersTheDaemonsPeakForTheSameLosses) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const Device remote = connect(ferryd->address());
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> token(1, 95);
  std::vector<Example> examples(8);
  for (Example& example : examples) {
    for (int i = 0; i < 256; ++i) example.tokens.push_back(token(rng));
  }
  const TrainingRun plain = Train(remote, examples, false);
  const TrainingRun checkpointed = Train(remote, examples, true);
  const TrainingRun on_the_client = Train(default_device(), examples, false);
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
