// Trains a small MLP to separate two interleaved spirals, on the local device and on a
// ferryd daemon, from the same initial weights. Each training step (forward pass, backward
// pass, Adam update) is one graph: one Execute on the daemon, which keeps the weights, the
// optimizer state and the data resident. Starts its own ferryd on a free loopback port
// unless --remote names one. Exits 1 unless the loss decreases on both devices and the
// two agree.
//
//   ./bazelw run //examples:train_mlp
//   ./bazelw run //examples:train_mlp -- --remote=gpu-node-0:7070 --steps=1000
//   ./bazelw run //examples:train_mlp -- --profile_steps=10   # where a step's time goes

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "examples/local_ferryd.h"

ABSL_FLAG(std::string, remote, "", "host:port of a running ferryd; empty: start one here");
ABSL_FLAG(int, steps, 300, "training steps on each device");
ABSL_FLAG(int, points, 512, "points in the data set (half per spiral)");
ABSL_FLAG(int, hidden, 64, "width of the two hidden layers");
ABSL_FLAG(double, learning_rate, 0.02, "Adam's learning rate");
ABSL_FLAG(int, profile_steps, 0,
          "profile the remote run's last N steps: print where their time went and write a "
          "Chrome trace");

namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

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

// Weights (Glorot-normal, drawn on the device itself from fixed keys, so both devices start
// alike and nothing is uploaded) and zero biases of a 2-h-h-2 MLP.
std::vector<ferry::Array> InitParams(int hidden, const ferry::Device& device) {
  const int sizes[] = {2, hidden, hidden, 2};
  std::vector<ferry::Array> params;
  for (int i = 0; i < 3; ++i) {
    const double scale = std::sqrt(2.0 / (sizes[i] + sizes[i + 1]));
    params.push_back(ferry::random::normal({sizes[i], sizes[i + 1]}, ferry::float32, 0, scale,
                                           ferry::random::key(i), device));
    params.push_back(ferry::zeros({sizes[i + 1]}, ferry::float32, device));
  }
  return params;
}

ferry::Array Logits(const std::vector<ferry::Array>& p, const ferry::Array& x) {
  ferry::Array h = ferry::tanh(ferry::matmul(x, p[0]) + p[1]);
  h = ferry::tanh(ferry::matmul(h, p[2]) + p[3]);
  return ferry::matmul(h, p[4]) + p[5];
}

// Mean softmax cross-entropy, and accuracy alongside (not differentiated).
std::vector<ferry::Array> LossAndAccuracy(const std::vector<ferry::Array>& p, const ferry::Array& x,
                                          const ferry::Array& labels) {
  ferry::Array logits = Logits(p, x);
  ferry::Array loss = ferry::mean(ferry::logsumexp(logits, 1) - ferry::sum(logits * labels, 1));
  ferry::Array correct = ferry::argmax(logits, 1) == ferry::argmax(labels, 1);
  return {loss, ferry::mean(ferry::astype(correct, ferry::float32))};
}

struct Run {
  std::vector<float> losses;
  float accuracy = 0;
  double seconds = 0;           // steps 2..N: the first ships the graph and plans it
  ferry::DeviceStats per_step;  // remote: the mean over steps 3..N
  std::string profile;          // with profile_steps: the profiler's table
};

Run Train(const Spirals& data, const ferry::Device& device, int steps, int hidden, double lr,
          int profile_steps = 0) {
  ferry::Array x = ferry::from_host(data.points, {data.count, 2}, device);
  ferry::Array labels = ferry::from_host(data.labels, {data.count, 2}, device);
  std::vector<ferry::Array> params = InitParams(hidden, device);
  std::vector<ferry::Array> setup = params;
  setup.push_back(x);
  setup.push_back(labels);
  ferry::eval(setup);  // the data uploaded once; the weights drawn on the device

  std::vector<int> argnums(params.size());
  for (size_t i = 0; i < argnums.size(); ++i) argnums[i] = static_cast<int>(i);
  auto step_fn = ferry::value_and_grad(
      [&](const std::vector<ferry::Array>& p) { return LossAndAccuracy(p, x, labels); }, argnums);
  ferry::optimizers::Adam adam(lr, {0.9, 0.999}, 1e-8, /*bias_correction=*/true);

  Run run;
  Clock::time_point start;
  ferry::DeviceStats from;
  std::optional<ferry::Profiler> profiler;
  for (int step = 1; step <= steps; ++step) {
    if (step == steps - profile_steps + 1) profiler.emplace();  // records from here on
    if (step == 2) start = Clock::now();
    if (step == 3) from = device.stats();
    auto [outputs, grads] = step_fn(params);
    params = adam.update(params, grads);
    std::vector<ferry::Array> targets = params;
    for (const ferry::Array& s : adam.state()) targets.push_back(s);
    targets.insert(targets.end(), outputs.begin(), outputs.end());
    ferry::eval(targets);                            // the whole step: one Execute on a daemon
    run.losses.push_back(outputs[0].item<float>());  // came back inline: no round trip
    run.accuracy = outputs[1].item<float>();
  }
  run.seconds = steps > 1 ? SecondsSince(start) : 0;
  if (profiler.has_value()) {
    const std::string trace =
        (std::filesystem::temp_directory_path() / "train_mlp_trace.json").string();
    profiler->save_chrome_trace(trace);
    run.profile = profiler->table(8) + "Chrome trace: " + trace + "\n";
  }
  if (steps > 2) {
    const ferry::DeviceStats to = device.stats();
    const int64_t n = steps - 2;
    run.per_step.executes = (to.executes - from.executes) / n;
    run.per_step.graphs_sent = to.graphs_sent - from.graphs_sent;
    run.per_step.uploads = to.uploads - from.uploads;
    run.per_step.bytes_sent = (to.bytes_sent - from.bytes_sent) / n;
    run.per_step.bytes_received = (to.bytes_received - from.bytes_received) / n;
  }
  return run;
}

double StepsPerSecond(const Run& run) {
  return run.seconds > 0 ? (run.losses.size() - 1) / run.seconds : 0;
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
  std::string address = absl::GetFlag(FLAGS_remote);
  if (address.empty()) {
    std::string log_path;
    daemon = ferry::examples::StartLocalFerryd(argv[0], "train_mlp", &log_path);
    if (daemon == nullptr) return 1;
    address = daemon->address();
    std::printf("  daemon   ferryd on %s (log: %s)\n", address.c_str(), log_path.c_str());
  }

  bool ok = true;
  try {
    ferry::Device remote = ferry::connect(address);
    std::printf("  devices  %s\n           %s\n", ferry::local().description().c_str(),
                remote.description().c_str());
    const Spirals data = MakeSpirals(points);
    const Run local_run = Train(data, ferry::local(), steps, hidden, lr);
    const Run remote_run =
        Train(data, remote, steps, hidden, lr, std::min(absl::GetFlag(FLAGS_profile_steps), steps));

    std::printf("  %6s  %10s  %11s\n", "step", "local loss", "remote loss");
    const int every = std::max(1, steps / 10);
    double max_diff = 0;
    for (int i = 0; i < steps; ++i) {
      max_diff = std::max(
          max_diff, static_cast<double>(std::abs(local_run.losses[i] - remote_run.losses[i])));
      if (i == 0 || (i + 1) % every == 0 || i + 1 == steps) {
        std::printf("  %6d  %10.4f  %11.4f\n", i + 1, local_run.losses[i], remote_run.losses[i]);
      }
    }
    std::printf("  accuracy local %.1f%%, remote %.1f%%\n", 100 * local_run.accuracy,
                100 * remote_run.accuracy);
    std::printf("  speed    local %.0f steps/s, remote %.0f steps/s (steps 2-%d)\n",
                StepsPerSecond(local_run), StepsPerSecond(remote_run), steps);
    if (steps > 2) {
      const ferry::DeviceStats& s = remote_run.per_step;
      std::printf(
          "  remote   per step from step 3: %lld Execute, %s, %lld uploads, %.1f KB sent, "
          "%.1f KB received\n",
          static_cast<long long>(s.executes),
          s.graphs_sent == 0 ? "graph sent by id" : "graph shipped again",
          static_cast<long long>(s.uploads), s.bytes_sent / 1e3, s.bytes_received / 1e3);
    }
    if (!remote_run.profile.empty()) {
      std::istringstream table(remote_run.profile);
      std::printf("  profile  the remote run's last %d steps:\n",
                  std::min(absl::GetFlag(FLAGS_profile_steps), steps));
      for (std::string line; std::getline(table, line);)
        std::printf("           %s\n", line.c_str());
    }
    for (const Run* run : {&local_run, &remote_run}) {
      if (!(run->losses.back() < run->losses.front())) {
        std::fprintf(stderr, "train_mlp: the %s loss did not decrease (%g -> %g)\n",
                     run == &local_run ? "local" : "remote", run->losses.front(),
                     run->losses.back());
        ok = false;
      }
    }
    const bool same = max_diff <= 1e-4 * (1 + std::abs(local_run.losses.front()));
    std::printf("  check    loss decreased on both: %s; max |remote - local| loss = %.3g %s\n",
                ok ? "yes" : "NO", max_diff, same ? "(ok)" : "(FAILED)");
    ok = ok && same;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "train_mlp: %s: %s\n", ferry::ErrorCodeName(e.code()), e.what());
    ok = false;
  }
  if (daemon != nullptr) daemon->Stop();
  return ok ? 0 : 1;
}
