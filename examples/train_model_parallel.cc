// Model-parallel training over several daemons with Array::to: an MLP with one layer per
// daemon, written as the code one device would run, with `.to(next device)` between its
// layers. value_and_grad gives each layer's gradient on that layer's daemon; activations go
// forward and gradients back daemon to daemon, never through this process, and nothing
// waits until the loss is read. The same model trained on one device alongside must end
// with the same weights. Starts --ranks daemons on loopback unless --remotes names running
// ones. Exits 1 unless the loss falls and the weights match one device's.
//
//   ./bazelw run //examples:train_model_parallel
//   ./bazelw run //examples:train_model_parallel -- --remotes=node0:7070,node1:7070

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "examples/ranks.h"

ABSL_FLAG(std::string, remotes, "",
          "host:port of running ferryd, comma-separated; empty: start --ranks here");
ABSL_FLAG(int, ranks, 3, "daemons to start when --remotes is empty (one layer each)");
ABSL_FLAG(int, steps, 60, "training steps");
ABSL_FLAG(int, batch, 64, "rows of each step's batch");
ABSL_FLAG(int, features, 16, "features of each row");
ABSL_FLAG(int, hidden, 32, "width of the hidden layers");
ABSL_FLAG(double, learning_rate, 0.05, "SGD's learning rate");

namespace {

using ferry::Array;

// The MLP on `x`: hidden layers tanh(h @ w[r]), a linear last one; each layer's input is
// moved to its weights' device first (a no-op when they share one).
Array Forward(const Array& x, const std::vector<Array>& w) {
  Array h = x;
  for (size_t r = 0; r + 1 < w.size(); ++r)
    h = ferry::tanh(ferry::matmul(h.to(w[r].device()), w[r]));
  return ferry::matmul(h.to(w.back().device()), w.back());
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int steps = absl::GetFlag(FLAGS_steps), batch = absl::GetFlag(FLAGS_batch);
  const int features = absl::GetFlag(FLAGS_features), hidden = absl::GetFlag(FLAGS_hidden);
  const float lr = static_cast<float>(absl::GetFlag(FLAGS_learning_rate));

  std::vector<std::unique_ptr<ferry::server::FerrydProcess>> daemons;
  const std::vector<std::string> addresses =
      ferry::examples::RankAddresses(argv[0], "train_model_parallel", absl::GetFlag(FLAGS_remotes),
                                     absl::GetFlag(FLAGS_ranks), &daemons);
  if (addresses.empty()) return 1;
  try {
    std::vector<ferry::Device> devices;
    for (const std::string& address : addresses) devices.push_back(ferry::connect(address));
    const int size = static_cast<int>(devices.size());
    // The data (y = a random teacher's response to x) and layer r's first weights.
    const ferry::examples::MlpProblem problem =
        ferry::examples::MakeMlpProblem(size, batch, features, hidden);
    const std::vector<int>& width = problem.width;
    const std::vector<float>& xs = problem.xs;
    const std::vector<float>& ys = problem.ys;
    const ferry::Device local = ferry::default_device();
    std::vector<Array> w, w_local;  // layer r's weights on daemon r; all on one device
    for (int r = 0; r < size; ++r) {
      w.push_back(ferry::from_host(problem.weights[r], {width[r], width[r + 1]}, devices[r]));
      w_local.push_back(ferry::from_host(problem.weights[r], {width[r], width[r + 1]}, local));
    }
    // One function for both: the loss lives where the last layer does.
    auto step_of = [&](const Array& x, const Array& y) {
      std::vector<int> every_layer;
      for (int r = 0; r < size; ++r) every_layer.push_back(r);
      return ferry::value_and_grad(
          [x, y](const std::vector<Array>& weights) {
            return ferry::mean(ferry::square(Forward(x, weights) - y));
          },
          every_layer);
    };
    auto spread_step = step_of(ferry::from_host(xs, {batch, features}, devices[0]),
                               ferry::from_host(ys, {batch, 1}, devices[size - 1]));
    auto local_step = step_of(ferry::from_host(xs, {batch, features}, local),
                              ferry::from_host(ys, {batch, 1}, local));

    float first_loss = 0, loss = 0;
    for (int step = 0; step < steps; ++step) {
      auto [value, grads] = spread_step(w);
      for (int r = 0; r < size; ++r) w[r] = w[r] - lr * grads[r];  // on daemon r
      std::vector<Array> targets = w;
      targets.push_back(value);
      ferry::eval(targets);

      auto [whole, whole_grads] = local_step(w_local);
      for (int r = 0; r < size; ++r) w_local[r] = w_local[r] - lr * whole_grads[r];
      ferry::eval(w_local);
      if (step == 0 || step + 1 == steps || (step + 1) % 20 == 0) {
        loss = value.item<float>();
        if (step == 0) first_loss = loss;
        std::printf("step %4d  loss %.6f (one device: %.6f)\n", step + 1, loss,
                    whole.item<float>());
      }
    }
    const float difference = ferry::examples::MaxDifference(w, w_local);
    const bool fell = loss < 0.5f * first_loss;
    const bool same = difference < 1e-4f;
    std::printf(
        "%d layers on %d daemons: loss %.6f -> %.6f (fell: %s); weights differ from one "
        "device's by %.3g (same: %s)\n",
        size, size, first_loss, loss, fell ? "yes" : "no", difference, same ? "yes" : "no");
    for (int r = 0; r < size; ++r) {
      const ferry::DeviceStats stats = devices[r].stats();
      std::printf(
          "daemon %d   %lld executes, %lld arrays copied in from another daemon, %lld "
          "bytes uploaded by this process, in %d steps\n",
          r, static_cast<long long>(stats.executes), static_cast<long long>(stats.peer_copies),
          static_cast<long long>(stats.upload_bytes), steps);
    }
    return fell && same ? 0 : 1;
  } catch (const ferry::Error& error) {
    std::fprintf(stderr, "train_model_parallel: %s\n", error.what());
    return 1;
  }
}
