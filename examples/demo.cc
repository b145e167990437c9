// ferry's first demo: a small MLP evaluated on a ferryd daemon and checked against the local
// device. Starts its own ferryd on a free loopback port unless --remote names one.
//
//   ./bazelw run //examples:demo
//   ./bazelw run //examples:demo -- --remote=gpu-node-0:7070

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "examples/local_ferryd.h"
#include "server/ferryd_process.h"

ABSL_FLAG(std::string, remote, "", "host:port of a running ferryd; empty: start one here");
ABSL_FLAG(int, batches, 5, "forward passes to run");

namespace {

constexpr int kBatch = 256;
constexpr int kLayers[] = {784, 512, 512, 10};

using Clock = std::chrono::steady_clock;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

void Step(const char* name, const std::string& what, double ms) {
  std::printf("  %-10s %-66s %7.1f ms\n", name, what.c_str(), ms);
}

std::string Megabytes(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f MB", bytes / 1e6);
  return text;
}

std::string Kilobytes(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f KB", bytes / 1e3);
  return text;
}

// Bytes of Execute requests between two snapshots: all bytes sent less the uploads.
int64_t ExecuteBytes(const ferry::DeviceStats& before, const ferry::DeviceStats& after) {
  return (after.bytes_sent - before.bytes_sent) - (after.upload_bytes - before.upload_bytes);
}

// Weights and biases of the MLP, on one device.
struct Mlp {
  std::vector<ferry::Array> weights, biases;
};

// He-initialised weights and small biases, drawn on the local device with fixed keys.
Mlp InitLocal() {
  Mlp mlp;
  for (int i = 0; i < 3; ++i) {
    const int fan_in = kLayers[i], fan_out = kLayers[i + 1];
    mlp.weights.push_back(ferry::random::normal({fan_in, fan_out}, ferry::float32, 0,
                                                std::sqrt(2.0 / fan_in), ferry::random::key(i),
                                                ferry::local()));
    mlp.biases.push_back(ferry::random::uniform({fan_out}, ferry::float32, -0.1, 0.1,
                                                ferry::random::key(100 + i), ferry::local()));
  }
  std::vector<ferry::Array> all = mlp.weights;
  all.insert(all.end(), mlp.biases.begin(), mlp.biases.end());
  ferry::eval(all);
  return mlp;
}

// The same arrays, as host data handed to `device`.
ferry::Array CopyTo(ferry::Array a, const ferry::Device& device) {
  return ferry::from_host(a.to_vector<float>(), a.shape(), device);
}

Mlp CopyTo(const Mlp& mlp, const ferry::Device& device) {
  Mlp copy;
  for (const ferry::Array& w : mlp.weights) copy.weights.push_back(CopyTo(w, device));
  for (const ferry::Array& b : mlp.biases) copy.biases.push_back(CopyTo(b, device));
  return copy;
}

ferry::Array Forward(const Mlp& mlp, ferry::Array x) {
  for (int i = 0; i < 3; ++i) {
    x = ferry::matmul(x, mlp.weights[i]) + mlp.biases[i];
    if (i < 2) x = ferry::relu(x);
  }
  return x;  // logits, (batch, 10)
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int batches = std::max(1, absl::GetFlag(FLAGS_batches));
  std::printf("ferry demo: MLP 784-512-512-10, float32, %d forward passes of batch %d\n", batches,
              kBatch);

  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  std::string address = absl::GetFlag(FLAGS_remote);
  Clock::time_point t = Clock::now();
  if (address.empty()) {
    std::string log_path;
    daemon = ferry::examples::StartLocalFerryd(argv[0], "demo", &log_path);
    if (daemon == nullptr) return 1;
    address = daemon->address();
    Step("daemon", "ferryd on " + address + " (log: " + log_path + ")", MillisSince(t));
  }

  try {
    t = Clock::now();
    ferry::Device remote = ferry::connect(address);
    Step("connect", remote.description(), MillisSince(t));

    const Mlp local_mlp = InitLocal();
    const Mlp remote_mlp = CopyTo(local_mlp, remote);
    std::vector<ferry::Array> params = remote_mlp.weights;
    params.insert(params.end(), remote_mlp.biases.begin(), remote_mlp.biases.end());
    int64_t param_bytes = 0;
    for (const ferry::Array& p : params) param_bytes += p.nbytes();
    t = Clock::now();
    ferry::eval(params);  // uploaded now, once, and kept resident on the daemon
    ferry::synchronize(remote);
    ferry::DeviceStats stats = remote.stats();
    Step("weights",
         std::to_string(params.size()) + " arrays, " + Megabytes(param_bytes) +
             ", uploaded once (" + std::to_string(stats.uploads) + " uploads, " +
             std::to_string(stats.bulk_channel_transfers) + " on the bulk channel)",
         MillisSince(t));

    // Input batches from the host, the same ones for both devices.
    std::vector<std::vector<float>> inputs;
    for (int b = 0; b < batches; ++b) {
      inputs.push_back(ferry::random::uniform({kBatch, kLayers[0]}, ferry::float32, 0, 1,
                                              ferry::random::key(1000 + b), ferry::local())
                           .to_vector<float>());
    }

    std::vector<ferry::Array> remote_logits;
    double cached_ms = 0;
    int64_t cached_bytes = 0;
    for (int b = 0; b < batches; ++b) {
      const ferry::DeviceStats before = remote.stats();
      t = Clock::now();
      ferry::Array logits =
          Forward(remote_mlp, ferry::from_host(inputs[b], {kBatch, kLayers[0]}, remote));
      logits.eval();
      const double ms = MillisSince(t);
      const ferry::DeviceStats after = remote.stats();
      remote_logits.push_back(logits);
      if (b == 0) {
        Step("forward 1",
             "sent the batch and an execute carrying the graph (" +
                 Kilobytes(ExecuteBytes(before, after)) + ")",
             ms);
      } else {
        cached_ms += ms;
        cached_bytes += ExecuteBytes(before, after);
        if (after.graphs_sent != before.graphs_sent) {
          std::fprintf(stderr, "demo: forward %d shipped its graph again\n", b + 1);
          return 1;
        }
      }
    }
    if (batches > 1) {
      Step("forward 2+",
           "sent the batch and an execute naming the graph id (" +
               Kilobytes(cached_bytes / (batches - 1)) + "), mean",
           cached_ms / (batches - 1));
    }

    // eval() does not wait: the steps went out back to back on the session's Pipeline stream.
    t = Clock::now();
    ferry::synchronize(remote);
    Step("run", "waited for the " + std::to_string(batches) + " forward passes (one round trip)",
         MillisSince(t));

    const ferry::DeviceStats before_read = remote.stats();
    t = Clock::now();
    std::vector<std::vector<float>> remote_values;
    for (ferry::Array& logits : remote_logits) remote_values.push_back(logits.to_vector<float>());
    const double read_ms = MillisSince(t);
    const int64_t downloads = remote.stats().downloads - before_read.downloads;
    Step("read",
         downloads == 0 ? "the logits, inline in the daemon's replies"
                        : "the logits, in " + std::to_string(downloads) + " Download streams",
         read_ms);

    t = Clock::now();
    double max_diff = 0;
    for (int b = 0; b < batches; ++b) {
      ferry::Array x = ferry::from_host(inputs[b], {kBatch, kLayers[0]}, ferry::local());
      std::vector<float> expected = Forward(local_mlp, x).to_vector<float>();
      for (size_t i = 0; i < expected.size(); ++i) {
        max_diff =
            std::max(max_diff, static_cast<double>(std::abs(expected[i] - remote_values[b][i])));
      }
    }
    const bool ok = max_diff < 1e-4;
    char check[96];
    std::snprintf(check, sizeof(check), "max |remote - local| = %.3g over %d x %d x 10 logits %s",
                  max_diff, batches, kBatch, ok ? "(< 1e-4: ok)" : "(>= 1e-4: FAILED)");
    Step("check", check, MillisSince(t));

    // The same MLP with its two large layers in 4 bits (MLX's affine quantization, group size
    // 64 along each layer's outputs), quantized on the daemon and multiplied there packed;
    // checked against the local device running the same packed layers.
    t = Clock::now();
    int64_t packed_bytes = 0, float_bytes = 0;
    std::vector<ferry::Array> remote_packed, local_packed;  // (wq, scales, biases) per layer
    for (int i = 0; i < 2; ++i) {
      auto [wq, scales, biases] = ferry::quantize(remote_mlp.weights[i], 64, 4);
      for (const ferry::Array& a : {wq, scales, biases}) {
        remote_packed.push_back(a);
        packed_bytes += a.nbytes();
      }
      float_bytes += remote_mlp.weights[i].nbytes();
    }
    local_packed.push_back(ferry::from_host(remote_packed[0].to_vector<uint32_t>(),
                                            remote_packed[0].shape(), ferry::local()));
    for (size_t k = 1; k < remote_packed.size(); ++k) {
      local_packed.push_back(k % 3 == 0 ? ferry::from_host(remote_packed[k].to_vector<uint32_t>(),
                                                           remote_packed[k].shape(), ferry::local())
                                        : CopyTo(remote_packed[k], ferry::local()));
    }
    auto quantized_forward = [&](const Mlp& mlp, const std::vector<ferry::Array>& packed,
                                 ferry::Array h) {
      for (int i = 0; i < 3; ++i) {
        h = i < 2 ? ferry::quantized_matmul(h, packed[3 * i], packed[3 * i + 1], packed[3 * i + 2],
                                            /*transpose=*/false, 64, 4)
                  : ferry::matmul(h, mlp.weights[i]);
        h = h + mlp.biases[i];
        if (i < 2) h = ferry::relu(h);
      }
      return h;
    };
    const std::vector<float> quantized =
        quantized_forward(remote_mlp, remote_packed,
                          ferry::from_host(inputs[0], {kBatch, kLayers[0]}, remote))
            .to_vector<float>();
    const double quantized_ms = MillisSince(t);
    const std::vector<float> quantized_local =
        quantized_forward(local_mlp, local_packed,
                          ferry::from_host(inputs[0], {kBatch, kLayers[0]}, ferry::local()))
            .to_vector<float>();
    double off_float = 0, off_local = 0;
    for (size_t i = 0; i < quantized.size(); ++i) {
      off_float =
          std::max(off_float, static_cast<double>(std::abs(quantized[i] - remote_values[0][i])));
      off_local =
          std::max(off_local, static_cast<double>(std::abs(quantized[i] - quantized_local[i])));
    }
    char quantized_what[96];
    std::snprintf(quantized_what, sizeof(quantized_what),
                  "layers 1-2 in 4 bits, %s not %s: logits up to %.2g off float's",
                  Megabytes(packed_bytes).c_str(), Megabytes(float_bytes).c_str(), off_float);
    Step("quantized", quantized_what, quantized_ms);
    const bool close = off_local < 1e-4;
    std::snprintf(check, sizeof(check), "max |remote - local| = %.3g, the 4-bit MLP %s", off_local,
                  close ? "(< 1e-4: ok)" : "(>= 1e-4: FAILED)");
    Step("check", check, 0);
    if (!close) return 1;

    // Refit the last layer by ridge regression on the daemon: the hidden features H of every
    // batch, then (H^T H + I/1000) W = H^T (H W3) by a Cholesky factor and two triangular
    // solves; the local device does the same.
    auto refit = [&](const Mlp& mlp, const ferry::Device& device) {
      std::vector<ferry::Array> rows;
      for (const std::vector<float>& batch : inputs) {
        rows.push_back(ferry::from_host(batch, {kBatch, kLayers[0]}, device));
      }
      ferry::Array h = ferry::concatenate(rows);
      for (int i = 0; i < 2; ++i) h = ferry::relu(ferry::matmul(h, mlp.weights[i]) + mlp.biases[i]);
      const ferry::Array y = ferry::matmul(h, mlp.weights[2]);
      const ferry::Array gram = ferry::matmul(ferry::transpose(h), h) +
                                ferry::eye(kLayers[2], ferry::float32, device) * 1e-3f;
      const ferry::Array l = ferry::linalg::cholesky(gram);
      const ferry::Array z =
          ferry::linalg::solve_triangular(l, ferry::matmul(ferry::transpose(h), y));
      const ferry::Array w =
          ferry::linalg::solve_triangular(ferry::transpose(l), z, /*upper=*/true);
      return std::make_pair(w, ferry::max(ferry::abs(ferry::matmul(h, w) - y)));
    };
    t = Clock::now();
    auto [remote_w, remote_residual] = refit(remote_mlp, remote);
    const std::vector<float> refit_remote = remote_w.to_vector<float>();
    const float residual = remote_residual.item<float>();
    const double refit_ms = MillisSince(t);
    const std::vector<float> refit_local =
        refit(local_mlp, ferry::local()).first.to_vector<float>();
    double off_refit = 0;
    for (size_t i = 0; i < refit_local.size(); ++i) {
      off_refit =
          std::max(off_refit, static_cast<double>(std::abs(refit_local[i] - refit_remote[i])));
    }
    char refit_what[112];
    std::snprintf(refit_what, sizeof(refit_what),
                  "layer 3 refit by ridge regression (cholesky, 2 solves): "
                  "max residual %.2g",
                  residual);
    Step("linalg", refit_what, refit_ms);
    const bool refit_close = off_refit < 1e-3;
    std::snprintf(check, sizeof(check), "max |remote - local| = %.3g, the refit weights %s",
                  off_refit, refit_close ? "(< 1e-3: ok)" : "(>= 1e-3: FAILED)");
    Step("check", check, 0);
    if (!refit_close) return 1;

    // Where a forward pass's time goes: here, on the network, in each of ferryd's kernels.
    t = Clock::now();
    ferry::Profiler profiler;
    Forward(remote_mlp, ferry::from_host(inputs[0], {kBatch, kLayers[0]}, remote)).eval();
    profiler.stop();
    const std::string trace_path =
        (std::filesystem::temp_directory_path() / "ferry-demo-trace.json").string();
    profiler.save_chrome_trace(trace_path);
    const ferry::ProfiledEval profiled = profiler.evals().front();
    char profile_what[112];
    std::snprintf(profile_what, sizeof(profile_what),
                  "forward again, profiled: %.2f ms on ferryd, %.2f ms in transport",
                  profiled.device_us() / 1000, profiled.transport_us() / 1000);
    Step("profile", profile_what, MillisSince(t));
    std::istringstream table(profiler.table(4) + "Chrome trace: " + trace_path + "\n");
    for (std::string line; std::getline(table, line);) std::printf("  %10s %s\n", "", line.c_str());

    stats = remote.stats();
    std::printf(
        "  %-10s %lld executes (%lld with the graph), %lld uploads, %lld downloads; "
        "%s sent, %s received\n",
        "totals", static_cast<long long>(stats.executes), static_cast<long long>(stats.graphs_sent),
        static_cast<long long>(stats.uploads), static_cast<long long>(stats.downloads),
        Megabytes(stats.bytes_sent).c_str(), Megabytes(stats.bytes_received).c_str());
    if (!ok) return 1;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "demo: %s: %s\n", ferry::ErrorCodeName(e.code()), e.what());
    return 1;
  }

  if (daemon != nullptr) {
    t = Clock::now();
    const int status = daemon->Stop();
    Step("stop", "ferryd exited with status " + std::to_string(status), MillisSince(t));
  }
  return 0;
}
