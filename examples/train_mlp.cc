// Trains a small MLP (ferry::nn layers and losses) to separate two interleaved spirals, on
// the local device and on a ferryd daemon, from the same initial weights. Each training step
// (forward pass, backward pass, Adam update) is one graph: one Execute on the daemon, which keeps
// the weights, the optimizer state and the data resident. Starts its own ferryd on a free loopback
// port unless --remote names one. Exits 1 unless the loss decreases on both devices and the two
// agree.
//
//   ./bazelw run //examples:train_mlp
//   ./bazelw run //examples:train_mlp -- --remote=gpu-node-0:7070 --steps=1000
//   ./bazelw run //examples:train_mlp -- --profile_steps=10   # where a step's time goes

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "examples/local_ferryd.h"
#include "examples/training_run.h"

ABSL_FLAG(std::string, remote, "", "host:port of a running ferryd; empty: start one here");
ABSL_FLAG(int, steps, 300, "training steps on each device");
ABSL_FLAG(int, points, 512, "points in the data set (half per spiral)");
ABSL_FLAG(int, hidden, 64, "width of the two hidden layers");
ABSL_FLAG(double, learning_rate, 0.02, "Adam's learning rate");
ABSL_FLAG(int, profile_steps, 0,
          "profile the remote run's last N steps: print where their time went and write a "
          "Chrome trace");

namespace {

// Two spirals of points (x, y) with a little noise; labels one-hot, (points, 2).
struct Spirals {
  std::vector<float> points, labels;
  int count;
};

Spirals MakeSpirals(int count) {
  std::mt19937 rng(7);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  Spirals data{{}, {}, count};
  for (int i = 0; i < count; ++i) {
    const int arm = i % 2;
    const float t = 0.25f + 3.0f * static_cast<float>(i / 2) / static_cast<float>(count / 2);
    const float angle = t * 3.0f + arm * static_cast<float>(M_PI);
    data.points.push_back(t * std::cos(angle) / 3.0f + noise(rng));
    data.points.push_back(t * std::sin(angle) / 3.0f + noise(rng));
    data.labels.push_back(arm == 0 ? 1.0f : 0.0f);
    data.labels.push_back(arm == 1 ? 1.0f : 0.0f);
  }
  return data;
}

// A 2-h-h-2 MLP of ferry::nn layers (MLX's, as nn.Sequential would build it in Python), its
// weights drawn on `device` itself from seed 7, so both devices start alike and nothing is
// uploaded.
ferry::nn::Sequential MakeModel(int hidden, const ferry::Device& device) {
  const ferry::Device previous = ferry::default_device();
  ferry::set_default_device(device);
  ferry::random::seed(7);
  ferry::nn::Sequential model(ferry::nn::Linear(2, hidden), ferry::nn::Tanh(),
                              ferry::nn::Linear(hidden, hidden), ferry::nn::Tanh(),
                              ferry::nn::Linear(hidden, 2));
  ferry::set_default_device(previous);
  return model;
}

// The steps' losses, and the accuracy after the last step.
struct Run : ferry::examples::TrainingRun {
  float accuracy = 0;
};

Run Train(const Spirals& data, const ferry::Device& device, int steps, int hidden, double lr,
          int profile_steps = 0) {
  ferry::Array x = ferry::from_host(data.points, {data.count, 2}, device);
  ferry::Array labels = ferry::from_host(data.labels, {data.count, 2}, device);
  ferry::nn::Sequential model = MakeModel(hidden, device);
  std::vector<ferry::Array> setup = model.arrays();
  setup.push_back(x);
  setup.push_back(labels);
  ferry::eval(setup);  // the data uploaded once; the weights drawn on the device

  // Mean softmax cross-entropy against the one-hot labels, and the accuracy beside it in the
  // same graph (an auxiliary value: not differentiated).
  auto loss_and_grads = ferry::nn::value_and_grad(
      model, ferry::nn::ModuleLossAndAuxFn([&](const std::vector<ferry::Array>&) {
        ferry::Array logits = model(x);
        ferry::Array correct = ferry::argmax(logits, 1) == ferry::argmax(labels, 1);
        return std::vector<ferry::Array>{
            ferry::nn::losses::cross_entropy(logits, labels, ferry::nn::losses::Reduction::kMean),
            ferry::mean(ferry::astype(correct, ferry::float32))};
      }));
  ferry::optimizers::Adam adam(lr, {0.9, 0.999}, 1e-8, /*bias_correction=*/true);

  Run run;
  ferry::examples::StepRecorder recorder(device, steps, profile_steps, "train_mlp_trace.json");
  for (int step = 1; step <= steps; ++step) {
    recorder.BeforeStep(step);
    auto [outputs, grads] = loss_and_grads({});
    adam.update(model, grads);
    std::vector<ferry::Array> targets = model.arrays();
    for (const ferry::Array& s : adam.state()) targets.push_back(s);
    targets.insert(targets.end(), outputs.begin(), outputs.end());
    ferry::eval(targets);                            // the whole step: one Execute on a daemon
    run.losses.push_back(outputs[0].item<float>());  // came back inline: no round trip
    run.accuracy = outputs[1].item<float>();
  }
  recorder.Finish(run);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int steps = std::max(2, absl::GetFlag(FLAGS_steps));
  const int points = std::max(4, absl::GetFlag(FLAGS_points) / 2 * 2);
  const int hidden = std::max(1, absl::GetFlag(FLAGS_hidden));
  const double lr = absl::GetFlag(FLAGS_learning_rate);
  std::printf(
      "ferry train_mlp: two spirals (%d points), MLP 2-%d-%d-2 tanh, softmax "
      "cross-entropy, Adam lr %g, %d full-batch steps per device\n",
      points, hidden, hidden, lr, steps);

  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  const std::string address = ferry::examples::RemoteOrLocalFerryd(
      argv[0], "train_mlp", absl::GetFlag(FLAGS_remote), &daemon);
  if (address.empty()) return 1;

  bool ok = true;
  try {
    ferry::Device remote = ferry::connect(address);
    std::printf("  devices  %s\n           %s\n", ferry::local().description().c_str(),
                remote.description().c_str());
    const Spirals data = MakeSpirals(points);
    const Run local_run = Train(data, ferry::local(), steps, hidden, lr);
    const int profile_steps = std::min(absl::GetFlag(FLAGS_profile_steps), steps);
    const Run remote_run = Train(data, remote, steps, hidden, lr, profile_steps);

    std::printf("  %6s  %10s  %11s\n", "step", "local loss", "remote loss");
    const int every = std::max(1, steps / 10);
    for (int i = 0; i < steps; ++i) {
      if (i == 0 || (i + 1) % every == 0 || i + 1 == steps) {
        std::printf("  %6d  %10.4f  %11.4f\n", i + 1, local_run.losses[i], remote_run.losses[i]);
      }
    }
    std::printf("  accuracy local %.1f%%, remote %.1f%%\n", 100 * local_run.accuracy,
                100 * remote_run.accuracy);
    std::printf("  speed    local %.0f steps/s, remote %.0f steps/s (steps 2-%d)\n",
                local_run.StepsPerSecond(), remote_run.StepsPerSecond(), steps);
    if (steps > 2) {
      const ferry::DeviceStats& s = remote_run.per_step;
      std::printf(
          "  remote   per step from step 3: %lld Execute, %s, %lld uploads, %.1f KB sent, "
          "%.1f KB received, %lld buffers written over in place\n",
          static_cast<long long>(s.executes),
          s.graphs_sent == 0 ? "graph sent by id" : "graph shipped again",
          static_cast<long long>(s.uploads), s.bytes_sent / 1e3, s.bytes_received / 1e3,
          static_cast<long long>(s.donated));
    }
    ferry::examples::PrintProfile(remote_run, profile_steps);
    ok = ferry::examples::CheckLosses("train_mlp", local_run, remote_run, 1e-4);
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "train_mlp: %s: %s\n", ferry::ErrorCodeName(e.code()), e.what());
    ok = false;
  }
  if (daemon != nullptr) daemon->Stop();
  return ok ? 0 : 1;
}
