// ferry::nn models on a real ferryd: a small transformer (embedding, encoder blocks with
// dropout, a head) trains with AdamW on a cosine schedule, one Execute per step with everything
// resident and gives the local device's losses and weights; its weights saved from the daemon load
// into a local model; a quantized model computes there what it computes here.

#include <cstdlib>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "client/testing.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"
#include "tests/nn_classifier.h"

namespace ferry {
namespace {

using ::ferry::testing::ExpectAllClose;

TEST(ClientNnRemoteTest, ATransformerTrainsOnTheDaemonAsItDoesHere) {
  auto ferryd = testing::StartFerryd();
  const testing::NnTrainingRun local_run = testing::TrainNnClassifier(local(), 16, 2, 6);
  const testing::NnTrainingRun remote_run =
      testing::TrainNnClassifier(connect(ferryd->address()), 16, 2, 6);
  ASSERT_EQ(remote_run.losses.size(), local_run.losses.size());
  for (size_t i = 0; i < local_run.losses.size(); ++i) {
    EXPECT_NEAR(remote_run.losses[i], local_run.losses[i], 1e-5) << "step " << i;
  }
  EXPECT_LT(local_run.losses.back(), local_run.losses.front());
  ASSERT_EQ(remote_run.weights.size(), local_run.weights.size());
  for (size_t i = 0; i < local_run.weights.size(); ++i) {
    ExpectAllClose(remote_run.weights[i].second, local_run.weights[i].second, 1e-4, 1e-5,
                   remote_run.weights[i].first);
  }
  // A step is one Execute naming a graph the daemon holds (the scheduled learning rate rides
  // with it); nothing is uploaded.
  EXPECT_EQ(remote_run.last_step.executes, 1);
  EXPECT_EQ(remote_run.last_step.graphs_sent, 0);
  EXPECT_EQ(remote_run.last_step.uploads, 0);
}

TEST(ClientNnRemoteTest, WeightsSavedFromTheDaemonLoadHere) {
  auto ferryd = testing::StartFerryd();
  const Device remote = connect(ferryd->address());
  set_default_device(remote);
  testing::NnClassifier on_daemon(16, 2);
  set_default_device(local());
  on_daemon.eval();
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/classifier.safetensors";
  on_daemon.save_weights(path);
  testing::NnClassifier here(16, 2);
  here.load_weights(path);
  here.eval();
  const Array tokens = random::randint(0, 12, {2, 5}, int32);
  ExpectAllClose(on_daemon(tokens.to(remote)), here(tokens), 1e-5, 1e-6, "outputs");
}

TEST(ClientNnRemoteTest, AQuantizedModelComputesThereAsHere) {
  auto ferryd = testing::StartFerryd();
  random::seed(9);
  nn::Sequential here(nn::Embedding(32, 64), nn::Linear(64, 64), nn::GELU(), nn::Linear(64, 8));
  nn::quantize(here, 32, 4);
  nn::Sequential there(nn::Embedding(32, 64), nn::Linear(64, 64), nn::GELU(), nn::Linear(64, 8));
  nn::quantize(there, 32, 4);
  const Device remote = connect(ferryd->address());
  there.load_weights(here.parameters());
  there.to(remote);
  const Array tokens = random::randint(0, 32, {3, 7}, int32);
  ExpectAllClose(there(tokens.to(remote)), here(tokens), 1e-5, 1e-6, "quantized outputs");
}

}  // namespace
}  // namespace ferry
