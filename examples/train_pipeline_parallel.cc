// Pipeline-parallel training over several daemons: an MLP with one layer per rank. Each step
// rank r receives its layer's input from rank r-1 (ferry::distributed::recv), sends its
// output on to rank r+1 (send), and, once rank r+1 sends back that output's gradient,
// sends its input's gradient back to rank r-1 and takes its SGD step: the whole step is
// one eval, one Execute per rank, the activations and gradients going daemon to daemon.
// The same model trained on one device alongside must end with the same weights. Starts
// --ranks daemons on loopback unless --remotes names running ones. Exits 1 unless the loss
// falls and the weights match one device's.
//
//   ./bazelw run //examples:train_pipeline_parallel
//   ./bazelw run //examples:train_pipeline_parallel -- --remotes=node0:7070,node1:7070

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

// A hidden layer: tanh(input @ w).
Array Layer(const std::vector<Array>& p) { return ferry::tanh(ferry::matmul(p[0], p[1])); }
std::vector<Array> LayerOutputs(const std::vector<Array>& p) { return {Layer(p)}; }

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int steps = absl::GetFlag(FLAGS_steps), batch = absl::GetFlag(FLAGS_batch);
  const int features = absl::GetFlag(FLAGS_features), hidden = absl::GetFlag(FLAGS_hidden);
  const float lr = static_cast<float>(absl::GetFlag(FLAGS_learning_rate));

  std::vector<std::unique_ptr<ferry::server::FerrydProcess>> daemons;
  const std::vector<std::string> addresses = ferry::examples::RankAddresses(
      argv[0], "train_pipeline_parallel", absl::GetFlag(FLAGS_remotes), absl::GetFlag(FLAGS_ranks),
      &daemons);
  if (addresses.empty()) return 1;
  try {
    std::vector<ferry::Device> devices;
    for (const std::string& address : addresses) devices.push_back(ferry::connect(address));
    const ferry::distributed::Group group = ferry::distributed::init(devices);
    const int size = group.size();
    if (size < 2) {
      std::fprintf(stderr, "train_pipeline_parallel: needs at least 2 ranks\n");
      return 1;
    }
    const int last = size - 1;
    // The data (y = a random teacher's response to x) and layer r's first weights.
    const ferry::examples::MlpProblem problem =
        ferry::examples::MakeMlpProblem(size, batch, features, hidden);
    const std::vector<int>& width = problem.width;
    const std::vector<float>& xs = problem.xs;
    const std::vector<float>& ys = problem.ys;
    const ferry::Device local = ferry::default_device();
    std::vector<Array> w, w_local;  // the pipeline's, by rank; one device's
    for (int r = 0; r < size; ++r) {
      w.push_back(ferry::from_host(problem.weights[r], {width[r], width[r + 1]}, group.device(r)));
      w_local.push_back(ferry::from_host(problem.weights[r], {width[r], width[r + 1]}, local));
    }
    const Array x = ferry::from_host(xs, {batch, features}, group.device(0));
    const Array y = ferry::from_host(ys, {batch, 1}, group.device(last));
    auto last_loss = [&](const std::vector<Array>& p) {
      return ferry::mean(ferry::square(ferry::matmul(p[0], p[1]) - y));
    };
    // The same model on one device.
    const Array x_local = ferry::from_host(xs, {batch, features}, local);
    const Array y_local = ferry::from_host(ys, {batch, 1}, local);
    auto whole_loss = [&](const std::vector<Array>& weights) {
      Array h = x_local;
      for (int r = 0; r < last; ++r) h = Layer({h, weights[r]});
      return ferry::mean(ferry::square(ferry::matmul(h, weights[last]) - y_local));
    };
    std::vector<int> every_layer;
    for (int r = 0; r < size; ++r) every_layer.push_back(r);
    auto whole_step = ferry::value_and_grad(whole_loss, every_layer);

    float first_loss = 0, loss = 0;
    for (int step = 0; step < steps; ++step) {
      // Each rank's targets, in the order its graph runs them: forward send, backward send,
      // the new weights.
      std::vector<Array> targets;
      std::vector<Array> loss_value;  // the last rank's
      for (int r = 0; r < size; ++r) {
        const ferry::Device& device = group.device(r);
        Array input = r == 0 ? x
                             : ferry::distributed::recv({batch, width[r]}, ferry::float32, r - 1,
                                                        group, device);
        std::vector<Array> grads;  // for input, then w[r]
        if (r == last) {
          auto [value, g] = ferry::value_and_grad(last_loss, {0, 1})({input, w[r]});
          loss_value.push_back(value);
          grads = g;
        } else {
          Array output_grad =
              ferry::distributed::recv({batch, width[r + 1]}, ferry::float32, r + 1, group, device);
          auto [outputs, g] = ferry::vjp(LayerOutputs, {input, w[r]}, {output_grad});
          targets.push_back(ferry::distributed::send(outputs[0], r + 1, group));
          grads = g;
        }
        if (r > 0) targets.push_back(ferry::distributed::send(grads[0], r - 1, group));
        w[r] = w[r] - lr * grads[1];
        targets.push_back(w[r]);
      }
      targets.push_back(loss_value[0]);
      ferry::eval(targets);  // one Execute per rank, all sent before any waits

      auto [whole, whole_grads] = whole_step(w_local);
      for (int r = 0; r < size; ++r) w_local[r] = w_local[r] - lr * whole_grads[r];
      ferry::eval(w_local);
      if (step == 0 || step + 1 == steps || (step + 1) % 20 == 0) {
        loss = loss_value[0].item<float>();
        if (step == 0) first_loss = loss;
        std::printf("step %4d  loss %.6f (one device: %.6f)\n", step + 1, loss,
                    whole.item<float>());
      }
    }
    const float difference = ferry::examples::MaxDifference(w, w_local);
    const bool fell = loss < 0.5f * first_loss;
    const bool same = difference < 1e-4f;
    std::printf(
        "%d stages: loss %.6f -> %.6f (fell: %s); weights differ from one device's by %.3g "
        "(same: %s)\n",
        size, first_loss, loss, fell ? "yes" : "no", difference, same ? "yes" : "no");
    for (int r = 0; r < size; ++r) {
      const ferry::DeviceStats stats = group.device(r).stats();
      std::printf("rank %d   %lld executes for %d steps\n", r,
                  static_cast<long long>(stats.executes), steps);
    }
    return fell && same ? 0 : 1;
  } catch (const ferry::Error& error) {
    std::fprintf(stderr, "train_pipeline_parallel: %s\n", error.what());
    return 1;
  }
}
