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

namespace ferry {
namespace {

using ::ferry::testing::ExpectAllClose;

struct Classifier : nn::Module {
  nn::Embedding& embedding = register_module("embedding", nn::Embedding(12, 16));
  nn::TransformerEncoder& encoder =
      register_module("encoder", nn::TransformerEncoder(2, 16, 4, 32, /*dropout=*/0.1));
  nn::Linear& head = register_module("head", nn::Linear(16, 3));

  Array operator()(const Array& tokens) {
    const Array mask = nn::MultiHeadAttention::create_additive_causal_mask(tokens.shape(1), float32,
                                                                           tokens.device());
    return head(mean(encoder(embedding(tokens), mask), 1));
  }
};

// Builds the classifier on `device` from seed 5 (weights drawn there) and trains it.
struct TrainingTrace {
  std::vector<float> losses;
  nn::Parameters weights;
  DeviceStats last_step;
};

TrainingTrace Train(const Device& device, int steps) {
  const Device previous = default_device();
  set_default_device(device);
  random::seed(5);
  Classifier model;
  set_default_device(previous);
  const Array tokens = random::randint(0, 12, {8, 6}, int32, std::nullopt, device);
  const Array labels = random::randint(0, 3, {8}, int32, std::nullopt, device);
  auto loss_and_grads = nn::value_and_grad(model, [&](const std::vector<Array>&) {
    return nn::losses::cross_entropy(model(tokens), labels, nn::losses::Reduction::kMean);
  });
  optimizers::AdamW adamw(0);
  adamw.set_learning_rate(optimizers::cosine_decay(3e-3, 6));  // a new rate every step
  TrainingTrace run;
  for (int step = 0; step < steps; ++step) {
    const DeviceStats before = device.stats();
    auto [loss, grads] = loss_and_grads({});
    adamw.update(model, grads);
    std::vector<Array> all = model.arrays();
    for (const Array& s : adamw.state()) all.push_back(s);
    all.push_back(loss);
    eval(all);
    run.losses.push_back(loss.item<float>());
    const DeviceStats after = device.stats();
    run.last_step.executes = after.executes - before.executes;
    run.last_step.uploads = after.uploads - before.uploads;
    run.last_step.graphs_sent = after.graphs_sent - before.graphs_sent;
  }
  run.weights = model.parameters();
  return run;
}

TEST(ClientNnRemoteTest, ATransformerTrainsOnTheDaemonAsItDoesHere) {
  auto ferryd = testing::StartFerryd();
  const TrainingTrace local_run = Train(local(), 6);
  const TrainingTrace remote_run = Train(connect(ferryd->address()), 6);
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
  Classifier on_daemon;
  set_default_device(local());
  on_daemon.eval();
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/classifier.safetensors";
  on_daemon.save_weights(path);
  Classifier here;
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
