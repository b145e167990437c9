// A training step (forward, backward, Adam update) against a real ferryd over loopback:
// each step is one Execute, the daemon keeps parameters, optimizer state and data resident
// (nothing is uploaded after the first eval, and from the third step on only the graph's id
// travels, though the learning rate changes every step), and the losses and parameters are
// the local device's.

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

constexpr int kSamples = 256, kIn = 32, kHidden = 64, kSteps = 6;

std::vector<float> Normal(std::mt19937& rng, int64_t n, double scale) {
  std::normal_distribution<float> dist(0, static_cast<float>(scale));
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

// The same data and initial parameters, as host vectors, for both devices.
struct Problem {
  std::vector<float> x, y;
  std::vector<std::vector<float>> params;
  std::vector<Shape> shapes = {{kIn, kHidden}, {kHidden}, {kHidden, 1}, {1}};
};

Problem MakeProblem() {
  std::mt19937 rng(42);
  Problem p;
  p.x = Normal(rng, kSamples * kIn, 1.0);
  std::vector<float> teacher = Normal(rng, kIn, 1.0);
  for (int i = 0; i < kSamples; ++i) {
    float dot = 0;
    for (int j = 0; j < kIn; ++j) dot += p.x[i * kIn + j] * teacher[j];
    p.y.push_back(std::sin(dot / 4));
  }
  for (const Shape& shape : p.shapes) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    p.params.push_back(Normal(rng, n, 1.0 / std::sqrt(static_cast<double>(shape[0]))));
  }
  return p;
}

Array Loss(const std::vector<Array>& p, const Array& x, const Array& y) {
  Array hidden = tanh(matmul(x, p[0]) + p[1]);
  Array error = matmul(hidden, p[2]) + p[3] - y;
  return mean(error * error);
}

struct Trace {
  std::vector<float> losses;
  std::vector<std::vector<float>> params;
  std::vector<DeviceStats> stats;              // after the set-up, then after each step
  std::vector<int64_t> daemon_resident_bytes;  // after each step, when a daemon is watched
};

// Trains on `device`; with `daemon`, also records the bytes it holds resident after each
// step (all sessions: the test opens one at a time).
Trace Train(const Problem& problem, const Device& device, v1::Ferry::Stub* daemon = nullptr) {
  Array x = from_host(problem.x, {kSamples, kIn}, device);
  Array y = from_host(problem.y, {kSamples, 1}, device);
  std::vector<Array> params;
  for (size_t i = 0; i < problem.params.size(); ++i) {
    params.push_back(from_host(problem.params[i], problem.shapes[i], device));
  }
  std::vector<Array> resident = params;
  resident.push_back(x);
  resident.push_back(y);
  eval(resident);  // uploaded once, here

  auto loss_and_grads = value_and_grad([&](const std::vector<Array>& p) { return Loss(p, x, y); },
                                       std::vector<int>{0, 1, 2, 3});
  optimizers::Adam adam(0.01, {0.9, 0.999}, 1e-8, /*bias_correction=*/true);
  Trace trace;
  trace.stats.push_back(device.stats());
  for (int step = 0; step < kSteps; ++step) {
    adam.set_learning_rate(0.01 / (1 + step));  // a schedule: a bound value, the same graph
    auto [loss, grads] = loss_and_grads(params);
    params = adam.update(params, grads);
    std::vector<Array> outputs = params;
    outputs.push_back(loss);
    for (const Array& s : adam.state()) outputs.push_back(s);
    eval(outputs);
    trace.stats.push_back(device.stats());
    trace.losses.push_back(loss.item<float>());
    if (daemon != nullptr) {
      v1::GetInfoResponse info;
      EXPECT_TRUE(testing::GetInfo(*daemon, "", &info).ok());
      trace.daemon_resident_bytes.push_back(info.resident_bytes());
    }
  }
  for (Array& p : params) trace.params.push_back(p.to_vector<float>());
  return trace;
}

TEST(ClientTrainingRemoteTest, EachStepIsOneExecuteWithEverythingResident) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const Problem problem = MakeProblem();
  Device remote = connect(ferryd->address());
  std::unique_ptr<v1::Ferry::Stub> stub = testing::Connect(ferryd->address());
  const Trace trace = Train(problem, remote, stub.get());

  EXPECT_EQ(trace.stats[0].uploads, 6) << "4 parameters, x and y, each uploaded once";
  for (int step = 1; step <= kSteps; ++step) {
    const DeviceStats& before = trace.stats[step - 1];
    const DeviceStats& after = trace.stats[step];
    SCOPED_TRACE("step " + std::to_string(step));
    EXPECT_EQ(after.executes - before.executes, 1);
    EXPECT_EQ(after.uploads, before.uploads);
    EXPECT_EQ(after.downloads, before.downloads);
    // Step 1 ships the graph; step 2 ships one more, whose optimizer state is now bound
    // rather than made as zeros; from step 3 on the graph is the daemon's already.
    EXPECT_EQ(after.graphs_sent - before.graphs_sent, step <= 2 ? 1 : 0);
    if (step >= 3) {
      // An id and the bindings of resident buffers, never the 32 KB of x or the weights.
      EXPECT_LT(after.bytes_sent - before.bytes_sent, 4096);
    }
  }
  // The replaced parameters and state are released as the next steps go: what the daemon
  // holds stops growing once the releases of one step ride along with the next.
  ASSERT_EQ(trace.daemon_resident_bytes.size(), static_cast<size_t>(kSteps));
  for (int step = 4; step <= kSteps; ++step) {
    EXPECT_EQ(trace.daemon_resident_bytes[step - 1], trace.daemon_resident_bytes[2])
        << "step " << step;
  }
  // The loss decreases under Adam on this smooth problem.
  EXPECT_LT(trace.losses.back(), trace.losses.front());
}

TEST(ClientTrainingRemoteTest, RemoteStepsGiveTheLocalNumbers) {
  auto ferryd = testing::StartFerryd();
  ASSERT_NE(ferryd, nullptr);
  const Problem problem = MakeProblem();
  const Trace local_trace = Train(problem, local());
  const Trace remote_trace = Train(problem, connect(ferryd->address()));
  ASSERT_EQ(remote_trace.losses.size(), local_trace.losses.size());
  for (size_t i = 0; i < local_trace.losses.size(); ++i) {
    EXPECT_NEAR(remote_trace.losses[i], local_trace.losses[i],
                1e-6 * (1 + std::abs(local_trace.losses[i])))
        << "step " << i + 1;
  }
  for (size_t p = 0; p < local_trace.params.size(); ++p) {
    ASSERT_EQ(remote_trace.params[p].size(), local_trace.params[p].size());
    for (size_t i = 0; i < local_trace.params[p].size(); ++i) {
      EXPECT_NEAR(remote_trace.params[p][i], local_trace.params[p][i], 1e-6)
          << "parameter " << p << ", element " << i;
    }
  }
}

}  // namespace
}  // namespace ferry
