// The network a user really has: a laptop 1 to 30 ms from its cluster. A latency relay
// between client and ferryd adds the round trip; each action reports how many round trips
// it costs: (time - its time through the relay with no delay) / added RTT, which is what a
// protocol controls. An array copied between two daemons of the cluster reports its time
// against the same copy through the client.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/latency_relay.h"
#include "bench/report.h"
#include "bench/transport.h"
#include "client/ferry.h"
#include "client/status.h"
#include "core/gguf.h"
#include "core/gguf_tensors.h"

namespace ferry::bench {
namespace {

// A two-layer MLP trained by hand-written backprop (matmul, transpose, where, sum) with
// plain SGD: one step is one graph, one eval.
class Mlp {
 public:
  explicit Mlp(Device device) {
    auto normal = [&](Shape shape, double scale, int key) {
      return random::normal(shape, float32, 0, scale, random::key(key), device);
    };
    x_ = normal({kBatch, kIn}, 1.0, 1);
    y_ = normal({kBatch, kOut}, 1.0, 2);
    w1_ = normal({kIn, kHidden}, std::sqrt(2.0 / kIn), 3);
    b1_ = zeros({kHidden}, float32, device);
    w2_ = normal({kHidden, kOut}, std::sqrt(2.0 / kHidden), 4);
    b2_ = zeros({kOut}, float32, device);
    eval({x_, y_, w1_, b1_, w2_, b2_});
  }

  // One forward, backward and update; returns the loss before the update.
  float Step() {
    Array z1 = matmul(x_, w1_) + b1_;
    Array h = relu(z1);
    Array out = matmul(h, w2_) + b2_;
    Array diff = out - y_;
    Array loss = mean(diff * diff);
    Array dout = diff * (2.0f / (kBatch * kOut));
    Array dw2 = matmul(transpose(h), dout);
    Array db2 = sum(dout, 0);
    Array dz1 = where(z1 > 0.0f, matmul(dout, transpose(w2_)), 0.0f);
    Array dw1 = matmul(transpose(x_), dz1);
    Array db1 = sum(dz1, 0);
    w1_ = w1_ - kLearningRate * dw1;
    b1_ = b1_ - kLearningRate * db1;
    w2_ = w2_ - kLearningRate * dw2;
    b2_ = b2_ - kLearningRate * db2;
    eval({w1_, b1_, w2_, b2_, loss});
    return loss.item<float>();
  }

 private:
  static constexpr int64_t kBatch = 64, kIn = 128, kHidden = 256, kOut = 10;
  static constexpr float kLearningRate = 0.01f;
  Array x_{nullptr}, y_{nullptr}, w1_{nullptr}, b1_{nullptr}, w2_{nullptr}, b2_{nullptr};
};

// A checkpoint loaded again, as when a program starts again, over a laptop's link to its
// cluster (1 Gbit/s, +1 and +30 ms RTT; the relay limits both): the daemon's upload cache
// still holds its 16 weights from the first load, so they do not cross the link
// (load_safetensors hashes them and asks for all 16 at once). Against the same load sent
// whole (ConnectOptions::upload_cache off); and what a miss costs (hashing, one more round
// trip) against that.
void CheckpointRows(const Options& options, const server::FerrydProcess& ferryd, int bulk_port,
                    std::vector<Row>& rows) {
  constexpr int64_t kLinkBytesPerSecond = 125'000'000;
  constexpr int kTensors = 16;
  // Quick: 1 MiB tensors, the smallest that ask.
  const int64_t bytes = options.quick ? (int64_t{16} << 20) : (int64_t{64} << 20);
  const std::string path = absl::StrCat("/tmp/ferry_bench_checkpoint_", getpid(), ".safetensors");
  int seed = 0;
  auto write_new = [&] {  // other weights each time: the cache cannot hold them yet
    std::unordered_map<std::string, Array> weights;
    for (int i = 0; i < kTensors; ++i) {
      weights.emplace(absl::StrCat("layer", i), random::normal({bytes / 4 / kTensors}, float32, 0,
                                                               1, random::key(++seed), local()));
    }
    save_safetensors(path, weights);
  };
  for (int rtt_ms : options.quick ? std::vector<int>{1} : std::vector<int>{1, 30}) {
    absl::StatusOr<std::unique_ptr<LatencyRelay>> relay =
        LatencyRelay::Start(ferryd.port(), std::chrono::microseconds(rtt_ms * 500));
    absl::StatusOr<std::unique_ptr<LatencyRelay>> bulk_relay =
        LatencyRelay::Start(bulk_port, std::chrono::microseconds(rtt_ms * 500));
    if (!relay.ok() || !bulk_relay.ok()) throw std::runtime_error("cannot start the relays");
    (*relay)->LimitBandwidth(kLinkBytesPerSecond);
    (*bulk_relay)->LimitBandwidth(kLinkBytesPerSecond);
    auto connect_with = [&](bool upload_cache) {
      ConnectOptions connect_options;
      connect_options.bulk_address = (*bulk_relay)->address();
      connect_options.upload_cache = upload_cache;
      return connect((*relay)->address(), connect_options);
    };
    auto load_seconds = [&](const Device& device) {
      const Clock::time_point start = Clock::now();
      SafetensorsLoad loaded = load_safetensors(path, device);
      synchronize(device);
      return SecondsSince(start);
    };
    const int repeats = options.quick ? 1 : 3;
    Device sending = connect_with(false);
    Device asking = connect_with(true);
    write_new();
    const double sent_s = MedianSeconds(repeats, [&] { load_seconds(sending); });
    const double miss_s = MedianOfMeasured(repeats, [&] {
      write_new();
      return load_seconds(asking);
    });
    int64_t hits = 0;
    const double hit_s = MedianOfMeasured(repeats, [&] {
      Device restarted = connect_with(true);  // a new session, as a program started again
      const double seconds = load_seconds(restarted);
      hits += restarted.stats().cached_uploads;
      return seconds;
    });
    if (sending.stats().cached_uploads != 0 || asking.stats().cached_uploads != 0 ||
        hits < repeats * kTensors) {
      throw std::runtime_error("the checkpoint loads did not take the paths they were meant to");
    }
    const std::string what =
        absl::StrCat("checkpoint of ", kTensors, " x ", (bytes / kTensors) >> 20, " MiB ");
    const std::string link = absl::StrCat(", 1 Gbit/s +", rtt_ms, " ms RTT");
    rows.push_back(
        MakeReportRow(absl::StrCat(what, "loaded again", link, ", from the upload cache (vs sent)"),
                      FormatSeconds(hit_s), FormatSeconds(sent_s), sent_s / hit_s));
    rows.push_back(MakeReportRow(
        absl::StrCat(what, "first loaded", link, ", hashed and asked (vs sent without asking)"),
        FormatSeconds(miss_s), FormatSeconds(sent_s), miss_s / sent_s));
  }
  std::remove(path.c_str());
}

// A Q4_K GGUF checkpoint (8 weights of 2048 x 2048: 18 MiB of blocks) loaded over a
// laptop's link (1 Gbit/s, +1 ms RTT) and dequantized on the daemon, against the same
// weights as a float16 safetensors file (64 MiB) loaded over the same link. Upload caches
// off, so every load moves its bytes.
void GgufRows(const Options& options, const server::FerrydProcess& ferryd, int bulk_port,
              std::vector<Row>& rows) {
  constexpr int64_t kLinkBytesPerSecond = 125'000'000;
  constexpr int kTensors = 8;
  const int64_t side = options.quick ? 256 : 2048;
  const std::string gguf_path = absl::StrCat("/tmp/ferry_bench_q4k_", getpid(), ".gguf");
  const std::string f16_path = absl::StrCat("/tmp/ferry_bench_f16_", getpid(), ".safetensors");
  // Random blocks with small positive float16 scales (0x2000: about 0.008) at bytes 0-3.
  const int64_t blocks = side * side / 256;
  std::vector<core::GgufTensor> tensors;
  std::unordered_map<std::string, Array> halves;
  for (int i = 0; i < kTensors; ++i) {
    const std::string name = absl::StrCat("layer", i, ".weight");
    tensors.push_back(
        {name, core::kGgmlQ4_K, {side, side}, 0, static_cast<uint64_t>(blocks * 144)});
    halves.emplace(name, zeros({side, side}, float16, local()));
  }
  std::string header = detail::ValueOrThrow(core::GgufHeader(tensors, {}));
  {
    std::ofstream out(gguf_path, std::ios::binary);
    out << header;
    std::mt19937 random(11);
    std::string block(144, '\0');
    for (const core::GgufTensor& tensor : tensors) {
      out << std::string(tensor.offset - static_cast<uint64_t>(out.tellp()), '\0');
      for (int64_t b = 0; b < blocks; ++b) {
        for (char& c : block) c = static_cast<char>(random());
        block[0] = block[2] = 0;
        block[1] = block[3] = 0x20;
        out << block;
      }
    }
  }
  save_safetensors(f16_path, halves);
  absl::StatusOr<std::unique_ptr<LatencyRelay>> relay =
      LatencyRelay::Start(ferryd.port(), std::chrono::microseconds(500));
  absl::StatusOr<std::unique_ptr<LatencyRelay>> bulk_relay =
      LatencyRelay::Start(bulk_port, std::chrono::microseconds(500));
  if (!relay.ok() || !bulk_relay.ok()) throw std::runtime_error("cannot start the relays");
  (*relay)->LimitBandwidth(kLinkBytesPerSecond);
  (*bulk_relay)->LimitBandwidth(kLinkBytesPerSecond);
  ConnectOptions connect_options;
  connect_options.bulk_address = (*bulk_relay)->address();
  connect_options.upload_cache = false;
  Device device = connect((*relay)->address(), connect_options);
  const int repeats = options.quick ? 1 : 3;
  auto evaluated = [&](std::unordered_map<std::string, Array> arrays) {
    std::vector<Array> all;
    for (auto& [name, a] : arrays) all.push_back(a);
    eval(all);
    synchronize(device);
  };
  const double gguf_s =
      MedianSeconds(repeats, [&] { evaluated(load_gguf(gguf_path, device).first); });
  const double f16_s =
      MedianSeconds(repeats, [&] { evaluated(load_safetensors(f16_path, device).first); });
  rows.push_back(MakeReportRow(
      absl::StrCat("GGUF Q4_K checkpoint, ", kTensors, " x ", side, "x", side,
                   ", 1 Gbit/s +1 ms RTT, blocks dequantized on the daemon (vs float16 sent)"),
      FormatSeconds(gguf_s), FormatSeconds(f16_s), f16_s / gguf_s));
  std::remove(gguf_path.c_str());
  std::remove(f16_path.c_str());
}

}  // namespace

void RunNetworkBenchmarks(const Options& options, std::vector<Row>& rows) {
  // The bulk channel goes through a relay of its own with the same delay, so it needs a
  // port known before ferryd starts.
  const int bulk_port = server::FreeLoopbackPort();
  if (bulk_port == 0) throw std::runtime_error("cannot find a free loopback port");
  // No shared memory: a client on this host would take it, and skip the relays.
  std::unique_ptr<server::FerrydProcess> ferryd =
      StartBenchFerryd(options, {absl::StrCat("--bulk_port=", bulk_port), "--shared_memory=false"});
  // A second daemon, for arrays copied between two daemons the client reaches through relays
  // while they reach each other directly.
  const int second_bulk_port = server::FreeLoopbackPort();
  if (second_bulk_port == 0) throw std::runtime_error("cannot find a free loopback port");
  std::unique_ptr<server::FerrydProcess> second = StartBenchFerryd(
      options, {absl::StrCat("--bulk_port=", second_bulk_port), "--shared_memory=false"});
  const int64_t copied = options.quick ? (int64_t{4} << 20) : (int64_t{64} << 20);
  const std::vector<int> rtts_ms =
      options.quick ? std::vector<int>{0, 1} : std::vector<int>{0, 1, 30};
  const int64_t transfer = options.quick ? (int64_t{4} << 20) : (int64_t{256} << 20);
  std::vector<char> data(static_cast<size_t>(transfer), 3);
  // The upload cut part way is at least 64 MiB: a smaller one may sit whole in socket
  // buffers before the cut.
  const int64_t cut_bytes = std::max(transfer, int64_t{64} << 20);
  const std::vector<char> larger(static_cast<size_t>(cut_bytes == transfer ? 0 : cut_bytes), 5);
  const std::vector<char>& cut_data = cut_bytes == transfer ? data : larger;
  std::map<std::string, double> at_zero;  // each action's time through the undelayed relay
  for (int rtt_ms : rtts_ms) {
    absl::StatusOr<std::unique_ptr<LatencyRelay>> relay =
        LatencyRelay::Start(ferryd->port(), std::chrono::microseconds(rtt_ms * 500));
    if (!relay.ok()) throw std::runtime_error(std::string(relay.status().message()));
    absl::StatusOr<std::unique_ptr<LatencyRelay>> bulk_relay =
        LatencyRelay::Start(bulk_port, std::chrono::microseconds(rtt_ms * 500));
    if (!bulk_relay.ok()) throw std::runtime_error(std::string(bulk_relay.status().message()));
    ConnectOptions connect_options;
    connect_options.bulk_address = (*bulk_relay)->address();
    Device device = connect((*relay)->address(), connect_options);
    const int repeats = options.quick ? 3 : (rtt_ms >= 30 ? 10 : 100);
    const double rtt_s = rtt_ms / 1e3;
    auto add = [&](const std::string& what, double seconds, double target_round_trips) {
      const std::string name = absl::StrCat(what, ", +", rtt_ms, " ms RTT");
      if (rtt_ms == 0) {
        at_zero[what] = seconds;
        rows.push_back(MakeReportRow(name, FormatSeconds(seconds), "no delay", 0));
        return;
      }
      if (target_round_trips <= 0) {
        // A bulk transfer: what share of it is waiting on the delay is not one number, so
        // it reports plain time / RTT, and its rate.
        rows.push_back(MakeReportRow(name, FormatSeconds(seconds),
                                     absl::StrCat("RTT ", rtt_ms, " ms"), seconds / rtt_s));
        return;
      }
      const double round_trips = (seconds - at_zero[what]) / rtt_s;
      rows.push_back(MakeRow(name, FormatSeconds(seconds),
                             absl::StrCat(FormatSeconds(at_zero[what]), " + RTT ", rtt_ms, " ms"),
                             round_trips, true, target_round_trips));
    };

    Array x = from_host(SmallInput(), {4}, device);
    add("small eval", MedianSeconds(repeats, [&] { SmallEval(x); }), 1.3);

    Mlp mlp(device);
    add("MLP training step (fwd+bwd+SGD)", MedianSeconds(repeats, [&] { mlp.Step(); }), 1.3);

    auto upload = [&](const std::vector<char>& bytes) {
      Array a = from_host_bytes(bytes.data(), bytes.size(), uint8,
                                {static_cast<int64_t>(bytes.size())}, device);
      a.eval();
    };
    const double upload_s = MedianSeconds(1, [&] { upload(data); });
    if (device.stats().bulk_channel_transfers == 0) {
      throw std::runtime_error("the upload did not take the bulk channel through its relay");
    }
    add(absl::StrCat("upload ", transfer >> 20, " MiB at ", FormatRate(transfer / upload_s)),
        upload_s, 0);

    // An upload with its connection cut 40% in (a network change): it goes on where it
    // broke.
    const int cut_repeats = options.quick ? 1 : 3;
    const double uncut_s = MedianSeconds(cut_repeats, [&] { upload(cut_data); });
    const int64_t resumed_before = device.stats().resumed_transfers;
    const double resumed_s = MedianSeconds(cut_repeats, [&] {
      (*bulk_relay)->CutAfter(cut_bytes * 2 / 5);
      upload(cut_data);
    });
    // Every run resumed, the untimed first one too.
    if (device.stats().resumed_transfers != resumed_before + cut_repeats + 1) {
      throw std::runtime_error("the upload cut part way was not resumed");
    }
    // Reported, not held to a target: on loopback bandwidth the two round trips a resume
    // takes (dial, ask) cost more at 30 ms than sending 40% again would.
    rows.push_back(MakeReportRow(
        absl::StrCat("upload ", cut_bytes >> 20, " MiB cut 40% in, resumed, +", rtt_ms, " ms RTT"),
        FormatSeconds(resumed_s), absl::StrCat("uncut ", FormatSeconds(uncut_s)),
        resumed_s / uncut_s));

    // Array::to between two daemons: daemon to daemon (they reach each other directly, as
    // nodes of one cluster do) against through the client (a download and an upload, each
    // over the client's delayed link).
    absl::StatusOr<std::unique_ptr<LatencyRelay>> second_relay =
        LatencyRelay::Start(second->port(), std::chrono::microseconds(rtt_ms * 500));
    absl::StatusOr<std::unique_ptr<LatencyRelay>> second_bulk_relay =
        LatencyRelay::Start(second_bulk_port, std::chrono::microseconds(rtt_ms * 500));
    if (!second_relay.ok() || !second_bulk_relay.ok()) {
      throw std::runtime_error("cannot start the second daemon's relays");
    }
    ConnectOptions peer_options = connect_options;
    peer_options.peer_address = absl::StrCat("127.0.0.1:", bulk_port);
    Device source = connect((*relay)->address(), peer_options);
    ConnectOptions to_options;
    to_options.bulk_address = (*second_bulk_relay)->address();
    to_options.peer_address = absl::StrCat("127.0.0.1:", second_bulk_port);
    Device to = connect((*second_relay)->address(), to_options);
    to_options.peer_copies = false;
    Device to_through_client = connect((*second_relay)->address(), to_options);
    Array resident = random::normal({copied / 4}, float32, source);
    resident.eval();
    synchronize(source);
    auto copy_seconds = [&](const Device& destination) {
      return MedianSeconds(cut_repeats, [&] {
        Array copy = resident.to(destination);
        copy.eval();
        synchronize(destination);
      });
    };
    const double peer_s = copy_seconds(to);
    const double relayed_s = copy_seconds(to_through_client);
    if (to.stats().peer_copies == 0 || to_through_client.stats().peer_copies != 0) {
      throw std::runtime_error("the copies did not take the paths they were meant to");
    }
    rows.push_back(
        MakeReportRow(absl::StrCat("Array::to ", copied >> 20, " MiB daemon to daemon, client +",
                                   rtt_ms, " ms RTT (vs through the client)"),
                      FormatSeconds(peer_s), FormatSeconds(relayed_s), relayed_s / peer_s));
  }
  CheckpointRows(options, *ferryd, bulk_port, rows);
  GgufRows(options, *ferryd, bulk_port, rows);
}

}  // namespace ferry::bench
