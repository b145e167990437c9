// Data-parallel training over several daemons: each rank holds a shard of a linear
// regression's data and the same weights; every step each rank's gradient is summed over
// the ranks (ferry::distributed::all_sum, daemon to daemon) and every rank takes the same
// step, so the weights stay identical and equal one device's full-batch training. Starts
// --ranks daemons on loopback unless --remotes names running ones. Exits 1 unless the loss
// falls and the ranks' weights agree.
//
//   ./bazelw run //examples:train_data_parallel
//   ./bazelw run //examples:train_data_parallel -- --remotes=node0:7070,node1:7070

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
ABSL_FLAG(int, ranks, 2, "daemons to start when --remotes is empty");
ABSL_FLAG(int, steps, 100, "training steps");
ABSL_FLAG(int, rows, 256, "rows of data on each rank");
ABSL_FLAG(int, features, 32, "features of each row");
ABSL_FLAG(double, learning_rate, 0.1, "SGD's learning rate");

namespace {}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int steps = absl::GetFlag(FLAGS_steps), rows = absl::GetFlag(FLAGS_rows);
  const int features = absl::GetFlag(FLAGS_features);
  const float lr = static_cast<float>(absl::GetFlag(FLAGS_learning_rate));

  std::vector<std::unique_ptr<ferry::server::FerrydProcess>> daemons;
  const std::vector<std::string> addresses =
      ferry::examples::RankAddresses(argv[0], "train_data_parallel", absl::GetFlag(FLAGS_remotes),
                                     absl::GetFlag(FLAGS_ranks), &daemons);
  if (addresses.empty()) return 1;
  try {
    std::vector<ferry::Device> devices;
    for (const std::string& address : addresses) devices.push_back(ferry::connect(address));
    const ferry::distributed::Group group = ferry::distributed::init(devices);
    const int size = group.size();
    // "nccl" where every rank is a GPU daemon with NCCL, else "ring" (through host memory).
    std::printf("%d ranks, collectives: %s\n", size, group.backend().c_str());
    // Each rank's shard: rows of x and y = x @ teacher + noise.
    const std::vector<float> teacher = ferry::examples::NormalFloats(features, 1, 1.0f);
    std::vector<ferry::Array> w, x, y;
    for (int r = 0; r < size; ++r) {
      std::vector<float> xs =
          ferry::examples::NormalFloats(static_cast<size_t>(rows) * features, 100 + r, 1.0f);
      std::vector<float> ys = ferry::examples::NormalFloats(rows, 200 + r, 0.01f);
      for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < features; ++j) ys[i] += xs[i * features + j] * teacher[j];
      }
      x.push_back(ferry::from_host(xs, {rows, features}, group.device(r)));
      y.push_back(ferry::from_host(ys, {rows, 1}, group.device(r)));
      w.push_back(ferry::zeros({features, 1}, ferry::float32, group.device(r)));
    }
    // The mean squared error over every rank's rows: each rank's sum, all_summed.
    const float count = static_cast<float>(rows) * size;
    auto shard_loss = [&](const std::vector<ferry::Array>& p) {
      return ferry::sum(ferry::square(ferry::matmul(p[1], p[0]) - p[2])) / count;
    };
    auto loss_and_grad = ferry::value_and_grad(shard_loss, {0});
    float first_loss = 0, loss = 0;
    for (int step = 0; step < steps; ++step) {
      std::vector<ferry::Array> targets, losses;
      for (int r = 0; r < size; ++r) {
        auto [shard, grads] = loss_and_grad({w[r], x[r], y[r]});
        w[r] = w[r] - lr * ferry::distributed::all_sum(grads[0], group);
        losses.push_back(ferry::distributed::all_sum(shard, group));
        targets.push_back(w[r]);
        targets.push_back(losses.back());
      }
      ferry::eval(targets);  // one Execute per rank, all sent before any waits
      if (step == 0 || step + 1 == steps || (step + 1) % 20 == 0) {
        loss = losses[0].item<float>();
        if (step == 0) first_loss = loss;
        std::printf("step %4d  loss %.6f\n", step + 1, loss);
      }
    }
    const std::vector<float> w0 = w[0].to_vector<float>();
    float spread = 0;
    for (int r = 1; r < size; ++r) {
      const std::vector<float> wr = w[r].to_vector<float>();
      for (size_t i = 0; i < w0.size(); ++i) spread = std::max(spread, std::abs(wr[i] - w0[i]));
    }
    float error = 0;
    for (int j = 0; j < features; ++j) error = std::max(error, std::abs(w0[j] - teacher[j]));
    const bool fell = loss < 0.5f * first_loss;
    std::printf(
        "%d ranks: loss %.6f -> %.6f (fell: %s); ranks' weights differ by %.3g; "
        "largest error against the teacher %.3g\n",
        size, first_loss, loss, fell ? "yes" : "no", spread, error);
    for (int r = 0; r < size; ++r) {
      const ferry::DeviceStats stats = group.device(r).stats();
      std::printf("rank %d   %lld executes for %d steps\n", r,
                  static_cast<long long>(stats.executes), steps);
    }
    return fell && spread == 0 ? 0 : 1;
  } catch (const ferry::Error& error) {
    std::fprintf(stderr, "train_data_parallel: %s\n", error.what());
    return 1;
  }
}
