// Trains a small decoder-only transformer to copy: each sequence is n random tokens followed
// by the same n again, and the model learns to predict the second half, which it can do only
// by attending back to the first. The blocks are the ones language models use: token
// embeddings (tied with the output layer), RMS norm, causal attention with rotary positions
// (fast::scaled_dot_product_attention, fast::rope), a gelu MLP, softmax cross-entropy and
// AdamW. Each step uploads a fresh batch from the host, as a data loader would, and runs
// forward, backward and update as one graph. Trains on the local device and on a ferryd
// daemon from the same initial weights and data; starts its own ferryd unless --remote names
// one. Exits 1 unless the loss decreases on both devices and the two agree.
//
//   ./bazelw run //examples:train_transformer
//   ./bazelw run //examples:train_transformer -- --remote=gpu-node-0:7070 --steps=2000
//   ./bazelw run //examples:train_transformer -- --profile_steps=10   # where a step's time goes

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
ABSL_FLAG(int, batch, 32, "sequences per step");
ABSL_FLAG(int, copy_length, 12, "n: tokens to copy (sequences are 2n long)");
ABSL_FLAG(int, vocabulary, 16, "token ids 0..vocabulary-1");
ABSL_FLAG(int, layers, 2, "transformer blocks");
ABSL_FLAG(int, dims, 64, "model width");
ABSL_FLAG(int, heads, 4, "attention heads (dims must be a multiple)");
ABSL_FLAG(double, learning_rate, 3e-3, "AdamW's learning rate");
ABSL_FLAG(int, profile_steps, 0,
          "profile the remote run's last N steps: print where their time went and write a "
          "Chrome trace");

namespace {

struct Config {
  int batch, copy_length, vocabulary, layers, dims, heads;
  int length() const { return 2 * copy_length; }
};

// One block's weights: the norms' scales, attention's projections and the MLP's.
struct Block {
  ferry::Array attention_norm, qkv, out, mlp_norm, up, up_bias, down, down_bias;
};

struct Model {
  ferry::Array embedding, final_norm;
  std::vector<Block> blocks;

  std::vector<ferry::Array> Flatten() const {
    std::vector<ferry::Array> all = {embedding, final_norm};
    for (const Block& b : blocks) {
      all.insert(all.end(), {b.attention_norm, b.qkv, b.out, b.mlp_norm, b.up, b.up_bias, b.down,
                             b.down_bias});
    }
    return all;
  }

  static Model Unflatten(const std::vector<ferry::Array>& all) {
    Model m{all[0], all[1], {}};
    for (size_t i = 2; i + 8 <= all.size(); i += 8) {
      m.blocks.push_back({all[i], all[i + 1], all[i + 2], all[i + 3], all[i + 4], all[i + 5],
                          all[i + 6], all[i + 7]});
    }
    return m;
  }
};

// Weights drawn on the device from fixed keys (both devices start alike and nothing is
// uploaded): normal with std 0.02, the output projections scaled down by the depth (GPT-2).
Model InitModel(const Config& c, const ferry::Device& device) {
  uint64_t key = 0;
  auto normal = [&](const ferry::Shape& shape, double scale) {
    return ferry::random::normal(shape, ferry::float32, 0, scale, ferry::random::key(key++),
                                 device);
  };
  const int d = c.dims;
  const double residual_scale = 0.02 / std::sqrt(2.0 * c.layers);
  Model m{normal({c.vocabulary, d}, 0.02), ferry::ones({d}, ferry::float32, device), {}};
  for (int i = 0; i < c.layers; ++i) {
    m.blocks.push_back({ferry::ones({d}, ferry::float32, device), normal({d, 3 * d}, 0.02),
                        normal({d, d}, residual_scale), ferry::ones({d}, ferry::float32, device),
                        normal({d, 4 * d}, 0.02), ferry::zeros({4 * d}, ferry::float32, device),
                        normal({4 * d, d}, residual_scale),
                        ferry::zeros({d}, ferry::float32, device)});
  }
  return m;
}

// (B, T, d) -> (B, heads, T, d / heads) and back.
ferry::Array SplitHeads(const ferry::Array& x, int heads) {
  const ferry::Shape& s = x.shape();
  return ferry::transpose(ferry::reshape(x, {s[0], s[1], heads, s[2] / heads}), {0, 2, 1, 3});
}

ferry::Array MergeHeads(const ferry::Array& x) {
  const ferry::Shape& s = x.shape();
  return ferry::reshape(ferry::transpose(x, {0, 2, 1, 3}), {s[0], s[2], s[1] * s[3]});
}

// Logits (B, T, vocabulary) for tokens (B, T).
ferry::Array Forward(const Model& m, const Config& c, const ferry::Array& tokens) {
  const int head_dims = c.dims / c.heads;
  ferry::Array h = ferry::take(m.embedding, tokens, 0);
  for (const Block& b : m.blocks) {
    const std::vector<ferry::Array> qkv =
        ferry::split(ferry::matmul(ferry::fast::rms_norm(h, b.attention_norm), b.qkv), 3, -1);
    const ferry::Array q =
        ferry::fast::rope(SplitHeads(qkv[0], c.heads), head_dims, false, 10000.0f, 1.0f, 0);
    const ferry::Array k =
        ferry::fast::rope(SplitHeads(qkv[1], c.heads), head_dims, false, 10000.0f, 1.0f, 0);
    const ferry::Array attended = ferry::fast::scaled_dot_product_attention(
        q, k, SplitHeads(qkv[2], c.heads), 1.0f / std::sqrt(static_cast<float>(head_dims)),
        "causal");
    h = h + ferry::matmul(MergeHeads(attended), b.out);
    const ferry::Array up =
        ferry::gelu(ferry::matmul(ferry::fast::rms_norm(h, b.mlp_norm), b.up) + b.up_bias);
    h = h + ferry::matmul(up, b.down) + b.down_bias;
  }
  return ferry::matmul(ferry::fast::rms_norm(h, m.final_norm), ferry::transpose(m.embedding));
}

// Mean cross-entropy of the predictions of the copied half (weights 1 there, 0 elsewhere),
// and the fraction of those tokens predicted right (not differentiated).
std::vector<ferry::Array> LossAndAccuracy(const std::vector<ferry::Array>& params, const Config& c,
                                          const ferry::Array& sequences,
                                          const ferry::Array& weights) {
  const int t = c.length() - 1;
  const ferry::Array inputs = ferry::slice(sequences, {0, 0}, {c.batch, t});
  const ferry::Array targets = ferry::slice(sequences, {0, 1}, {c.batch, t + 1});
  const ferry::Array logits = Forward(Model::Unflatten(params), c, inputs);
  const ferry::Array picked =
      ferry::squeeze(ferry::take_along_axis(logits, ferry::expand_dims(targets, -1), -1), -1);
  const ferry::Array count = ferry::sum(weights) * static_cast<double>(c.batch);
  const ferry::Array loss = ferry::sum((ferry::logsumexp(logits, -1) - picked) * weights) / count;
  const ferry::Array right = ferry::astype(ferry::argmax(logits, -1) == targets, ferry::float32);
  return {loss, ferry::sum(right * weights) / count};
}

// A batch of copy sequences: n tokens drawn from `rng`, then the same n.
std::vector<int32_t> CopyBatch(const Config& c, std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> token(0, c.vocabulary - 1);
  std::vector<int32_t> batch(static_cast<size_t>(c.batch) * c.length());
  for (int b = 0; b < c.batch; ++b) {
    int32_t* row = batch.data() + static_cast<size_t>(b) * c.length();
    for (int i = 0; i < c.copy_length; ++i) row[i] = row[i + c.copy_length] = token(rng);
  }
  return batch;
}

// The steps' losses, and the accuracy on the copied half at each step.
struct Run : ferry::examples::TrainingRun {
  std::vector<float> accuracies;
};

Run Train(const Config& c, const ferry::Device& device, int steps, double lr,
          int profile_steps = 0) {
  std::vector<ferry::Array> params = InitModel(c, device).Flatten();
  // Predictions of positions n-1 .. 2n-2 (the copied tokens) count; the first half's are
  // guesses of random tokens.
  const ferry::Array weights =
      ferry::astype(ferry::greater_equal(ferry::arange(0, c.length() - 1, ferry::int32, device),
                                         c.copy_length - 1),
                    ferry::float32);
  std::vector<ferry::Array> setup = params;
  setup.push_back(weights);
  ferry::eval(setup);

  // The batch goes in last, not differentiated.
  std::vector<int> argnums(params.size());
  for (size_t i = 0; i < argnums.size(); ++i) argnums[i] = static_cast<int>(i);
  auto step_fn = ferry::value_and_grad(
      [&](const std::vector<ferry::Array>& p) {
        const std::vector<ferry::Array> weights_only(p.begin(), p.end() - 1);
        return LossAndAccuracy(weights_only, c, p.back(), weights);
      },
      argnums);
  ferry::optimizers::AdamW adamw(lr, {0.9, 0.98}, 1e-8, 0.01, /*bias_correction=*/true);

  std::mt19937 rng(2026);
  Run run;
  ferry::examples::StepRecorder recorder(device, steps, profile_steps,
                                         "train_transformer_trace.json");
  for (int step = 1; step <= steps; ++step) {
    recorder.BeforeStep(step);
    std::vector<ferry::Array> primals = params;
    primals.push_back(ferry::from_host(CopyBatch(c, rng), {c.batch, c.length()}, device));
    auto [outputs, grads] = step_fn(primals);
    params = adamw.update(params, grads);
    std::vector<ferry::Array> targets = params;
    for (const ferry::Array& s : adamw.state()) targets.push_back(s);
    targets.insert(targets.end(), outputs.begin(), outputs.end());
    ferry::eval(targets);  // the whole step: one Execute on a daemon
    run.losses.push_back(outputs[0].item<float>());
    run.accuracies.push_back(outputs[1].item<float>());
  }
  recorder.Finish(run);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const Config c{
      std::max(1, absl::GetFlag(FLAGS_batch)),      std::max(1, absl::GetFlag(FLAGS_copy_length)),
      std::max(2, absl::GetFlag(FLAGS_vocabulary)), std::max(1, absl::GetFlag(FLAGS_layers)),
      std::max(2, absl::GetFlag(FLAGS_dims)),       std::max(1, absl::GetFlag(FLAGS_heads))};
  const int steps = std::max(3, absl::GetFlag(FLAGS_steps));
  const double lr = absl::GetFlag(FLAGS_learning_rate);
  if (c.dims % c.heads != 0 || (c.dims / c.heads) % 2 != 0) {
    std::fprintf(stderr, "train_transformer: dims / heads must be a whole, even number\n");
    return 1;
  }
  std::printf(
      "ferry train_transformer: copy %d tokens of %d, %d blocks of width %d, %d heads, "
      "batch %d, AdamW lr %g, %d steps per device\n",
      c.copy_length, c.vocabulary, c.layers, c.dims, c.heads, c.batch, lr, steps);

  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  const std::string address = ferry::examples::RemoteOrLocalFerryd(
      argv[0], "train_transformer", absl::GetFlag(FLAGS_remote), &daemon);
  if (address.empty()) return 1;

  bool ok = true;
  try {
    ferry::Device remote = ferry::connect(address);
    std::printf("  devices  %s\n           %s\n", ferry::local().description().c_str(),
                remote.description().c_str());
    const Run local_run = Train(c, ferry::local(), steps, lr);
    const int profile_steps = std::min(absl::GetFlag(FLAGS_profile_steps), steps);
    const Run remote_run = Train(c, remote, steps, lr, profile_steps);

    std::printf("  %6s  %10s  %11s  %14s\n", "step", "local loss", "remote loss", "copy accuracy");
    const int every = std::max(1, steps / 10);
    for (int i = 0; i < steps; ++i) {
      if (i == 0 || (i + 1) % every == 0 || i + 1 == steps) {
        std::printf("  %6d  %10.4f  %11.4f  %13.1f%%\n", i + 1, local_run.losses[i],
                    remote_run.losses[i], 100 * remote_run.accuracies[i]);
      }
    }
    std::printf("  speed    local %.1f steps/s, remote %.1f steps/s (steps 2-%d)\n",
                local_run.StepsPerSecond(), remote_run.StepsPerSecond(), steps);
    const ferry::DeviceStats& s = remote_run.per_step;
    // The batch (2 KiB at the defaults) goes inline with the step.
    std::printf(
        "  remote   per step from step 3: %lld Execute, %s, %.1f KB sent, %.1f KB received\n",
        static_cast<long long>(s.executes),
        s.graphs_sent == 0 ? "graph sent by id" : "graph shipped again", s.bytes_sent / 1e3,
        s.bytes_received / 1e3);
    ferry::examples::PrintProfile(remote_run, profile_steps);
    // Float rounding is the same on both (the same CPU kernels); the bound allows for a
    // daemon on another backend, where small differences grow over many steps of Adam.
    ok = ferry::examples::CheckLosses("train_transformer", local_run, remote_run, 1e-3);
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "train_transformer: %s: %s\n", ferry::ErrorCodeName(e.code()), e.what());
    ok = false;
  }
  if (daemon != nullptr) daemon->Stop();
  return ok ? 0 : 1;
}
