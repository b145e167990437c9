// Trains a small decoder-only transformer to copy: each sequence is n random tokens followed
// by the same n again, and the model learns to predict the second half, which it can do only
// by attending back to the first. The blocks are the ones language models use: token
// embeddings (tied with the output layer), RMS norm, causal attention with rotary positions
// (fast::scaled_dot_product_attention, fast::rope), a gelu MLP, softmax cross-entropy and
// AdamW. Each step uploads a fresh batch from the host, as a data loader would, and runs
// forward, backward and update as one graph. Then the trained models copy new prompts by
// greedy decoding with a KV cache, one graph for every token step. Trains on the local
// device and on a ferryd daemon from the same initial weights and data; starts its own
// ferryd unless --remote names one. Exits 1 unless the loss decreases on both devices, the
// two agree and they generate the same tokens.
//
//   ./bazelw run //examples:train_transformer
//   ./bazelw run //examples:train_transformer -- --remote=gpu-node-0:7070 --steps=2000
//   ./bazelw run //examples:train_transformer -- --profile_steps=10   # where a step's time goes

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
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

// Attention of a block's queries, keys and values, each (B, heads, T, head_dims) as projected
// (not yet rotated): training attends causally over the sequence, decoding over its cache.
using Attend = std::function<ferry::Array(const ferry::Array& q, const ferry::Array& k,
                                          const ferry::Array& v)>;

// The blocks and the tied output layer: logits (B, T, vocabulary) for tokens (B, T).
ferry::Array Logits(const Model& m, const Config& c, const ferry::Array& tokens,
                    const std::vector<Attend>& attend) {
  ferry::Array h = ferry::take(m.embedding, tokens, 0);
  for (size_t i = 0; i < m.blocks.size(); ++i) {
    const Block& b = m.blocks[i];
    const std::vector<ferry::Array> qkv =
        ferry::split(ferry::matmul(ferry::fast::rms_norm(h, b.attention_norm), b.qkv), 3, -1);
    const ferry::Array attended = attend[i](
        SplitHeads(qkv[0], c.heads), SplitHeads(qkv[1], c.heads), SplitHeads(qkv[2], c.heads));
    h = h + ferry::matmul(MergeHeads(attended), b.out);
    const ferry::Array up =
        ferry::gelu(ferry::matmul(ferry::fast::rms_norm(h, b.mlp_norm), b.up) + b.up_bias);
    h = h + ferry::matmul(up, b.down) + b.down_bias;
  }
  return ferry::matmul(ferry::fast::rms_norm(h, m.final_norm), ferry::transpose(m.embedding));
}

float AttentionScale(const Config& c) {
  return 1.0f / std::sqrt(static_cast<float>(c.dims / c.heads));
}

// Logits for whole sequences (B, T), each position attending to those before it.
ferry::Array Forward(const Model& m, const Config& c, const ferry::Array& tokens) {
  const int head_dims = c.dims / c.heads;
  const Attend causal = [&](const ferry::Array& q, const ferry::Array& k, const ferry::Array& v) {
    return ferry::fast::scaled_dot_product_attention(
        ferry::fast::rope(q, head_dims, false, 10000.0f, 1.0f, 0),
        ferry::fast::rope(k, head_dims, false, 10000.0f, 1.0f, 0), v, AttentionScale(c), "causal");
  };
  return Logits(m, c, tokens, std::vector<Attend>(m.blocks.size(), causal));
}

// What greedy decoding made of a batch of prompts.
struct Decoded {
  std::vector<int32_t> copies;  // (B, n): the tokens generated after each prompt
  double seconds = 0;           // the steps that generated them
  ferry::DeviceStats stats;     // counted over every step, prompt included
};

// Greedy decoding with a KV cache, one token of each sequence a step: the token at
// `position` goes through the blocks, its rotated keys and values are written into each
// block's cache there (slice_update) and its query attends to the cache up to there. The
// position is an array (rope's and slice_update's dynamic forms), so every step is one
// graph: sent once, then named by id. The prompt's n tokens go in one by one; from the
// last of them on, each step's prediction is read (as a chat streams it) and fed back.
Decoded Decode(const Model& m, const Config& c, const std::vector<int32_t>& prompts, int batch,
               const ferry::Device& device) {
  const int head_dims = c.dims / c.heads;
  const int64_t cache_length = c.length() - 1;
  std::vector<ferry::Array> keys, values;
  for (size_t i = 0; i < m.blocks.size(); ++i) {
    for (std::vector<ferry::Array>* cache : {&keys, &values}) {
      cache->push_back(
          ferry::zeros({batch, c.heads, cache_length, head_dims}, ferry::float32, device));
    }
  }
  auto prompt_column = [&](int p) {
    std::vector<int32_t> column(static_cast<size_t>(batch));
    for (int b = 0; b < batch; ++b) column[b] = prompts[static_cast<size_t>(b) * c.copy_length + p];
    return ferry::from_host(column, {batch, 1}, device);
  };
  std::vector<ferry::Array> caches = keys;
  caches.insert(caches.end(), values.begin(), values.end());
  ferry::eval(caches);  // resident before the first step, which is then the same graph
  Decoded out;
  out.copies.resize(static_cast<size_t>(batch) * c.copy_length);
  const ferry::DeviceStats before = device.stats();
  std::chrono::steady_clock::time_point start;
  ferry::Array token = prompt_column(0);
  for (int p = 0; p < cache_length; ++p) {
    if (p == c.copy_length - 1) start = std::chrono::steady_clock::now();
    const ferry::Array position = ferry::from_host(std::vector<int32_t>{p}, {1}, device);
    const ferry::Array visible = ferry::reshape(
        ferry::arange(0, static_cast<double>(cache_length), ferry::int32, device) <= position,
        {1, 1, 1, cache_length});
    std::vector<Attend> attend;
    for (size_t i = 0; i < m.blocks.size(); ++i) {
      attend.push_back([&, i](const ferry::Array& q, const ferry::Array& k, const ferry::Array& v) {
        keys[i] = ferry::slice_update(
            keys[i], ferry::fast::rope(k, head_dims, false, 10000.0f, 1.0f, position), position,
            {2});
        values[i] = ferry::slice_update(values[i], v, position, {2});
        return ferry::fast::scaled_dot_product_attention(
            ferry::fast::rope(q, head_dims, false, 10000.0f, 1.0f, position), keys[i], values[i],
            AttentionScale(c), "", visible);
      });
    }
    ferry::Array next = ferry::astype(ferry::argmax(Logits(m, c, token, attend), -1), ferry::int32);
    std::vector<ferry::Array> targets = keys;
    targets.insert(targets.end(), values.begin(), values.end());
    targets.push_back(next);
    ferry::eval(targets);  // one Execute
    if (p + 1 < c.copy_length) {
      token = prompt_column(p + 1);
      continue;
    }
    const std::vector<int32_t> predicted = next.to_vector<int32_t>();
    for (int b = 0; b < batch; ++b) {
      out.copies[static_cast<size_t>(b) * c.copy_length + (p + 1 - c.copy_length)] = predicted[b];
    }
    token = next;
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const ferry::DeviceStats after = device.stats();
  out.stats.executes = after.executes - before.executes;
  out.stats.graphs_sent = after.graphs_sent - before.graphs_sent;
  out.stats.round_trips = after.round_trips - before.round_trips;
  return out;
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

// The steps' losses, the accuracy on the copied half at each step, and the weights.
struct Run : ferry::examples::TrainingRun {
  std::vector<float> accuracies;
  std::vector<ferry::Array> params;  // the trained weights, on the run's device
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
    primals.clear();  // so the old weights die with the step: written over in place
    params = adamw.update(params, grads);
    std::vector<ferry::Array> targets = params;
    for (const ferry::Array& s : adamw.state()) targets.push_back(s);
    targets.insert(targets.end(), outputs.begin(), outputs.end());
    ferry::eval(targets);  // the whole step: one Execute on a daemon
    run.losses.push_back(outputs[0].item<float>());
    run.accuracies.push_back(outputs[1].item<float>());
  }
  recorder.Finish(run);
  run.params = params;
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
        "  remote   per step from step 3: %lld Execute, %s, %.1f KB sent, %.1f KB received, "
        "%lld buffers written over in place\n",
        static_cast<long long>(s.executes),
        s.graphs_sent == 0 ? "graph sent by id" : "graph shipped again", s.bytes_sent / 1e3,
        s.bytes_received / 1e3, static_cast<long long>(s.donated));
    ferry::examples::PrintProfile(remote_run, profile_steps);
    // Float rounding is the same on both (the same CPU kernels); the bound allows for a
    // daemon on another backend, where small differences grow over many steps of Adam.
    ok = ferry::examples::CheckLosses("train_transformer", local_run, remote_run, 1e-3);

    // The trained models copy new prompts, generating token by token.
    const int decode_batch = 8;
    std::mt19937 rng(7);
    const Config prompts_config{decode_batch, c.copy_length, c.vocabulary,
                                c.layers,     c.dims,        c.heads};
    const std::vector<int32_t> sequences = CopyBatch(prompts_config, rng);
    std::vector<int32_t> prompts;
    for (int b = 0; b < decode_batch; ++b) {
      const auto row = sequences.begin() + static_cast<ptrdiff_t>(b) * c.length();
      prompts.insert(prompts.end(), row, row + c.copy_length);
    }
    const Decoded local_copies =
        Decode(Model::Unflatten(local_run.params), c, prompts, decode_batch, ferry::local());
    const Decoded remote_copies =
        Decode(Model::Unflatten(remote_run.params), c, prompts, decode_batch, remote);
    int right = 0;
    for (size_t i = 0; i < prompts.size(); ++i) right += remote_copies.copies[i] == prompts[i];
    const ferry::DeviceStats& d = remote_copies.stats;
    std::printf(
        "  decode   greedy with a KV cache, %d prompts of %d: %.1f%% of the copies right; "
        "%lld steps, %lld Execute, graph sent %lld time(s); a generating step %.2f ms "
        "remote, %.2f ms local\n",
        decode_batch, c.copy_length, 100.0 * right / static_cast<double>(prompts.size()),
        static_cast<long long>(c.length() - 1), static_cast<long long>(d.executes),
        static_cast<long long>(d.graphs_sent), 1e3 * remote_copies.seconds / c.copy_length,
        1e3 * local_copies.seconds / c.copy_length);
    const bool same_copies = local_copies.copies == remote_copies.copies;
    std::printf("  check    local and remote generated the same tokens: %s\n",
                same_copies ? "yes" : "NO");
    ok = ok && same_copies;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "train_transformer: %s: %s\n", ferry::ErrorCodeName(e.code()), e.what());
    ok = false;
  }
  if (daemon != nullptr) daemon->Stop();
  return ok ? 0 : 1;
}
