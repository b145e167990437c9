// ferryd over loopback against the floor under it: an eval against a bare gRPC ping to the
// same daemon, a cached graph against a first one, one big graph against its ops one at a
// time, transfers against raw TCP, and throughput as clients are added.

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/report.h"
#include "bench/transport.h"
#include "client/ferry.h"
#include "core/page_aligned.h"
#include "core/stream_socket.h"
#include "core/tls_stream.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/ferryd_process.h"

namespace ferry::bench {

std::unique_ptr<server::FerrydProcess> StartBenchFerryd(const Options& options,
                                                        std::vector<std::string> flags) {
  const std::string path = server::FindFerryd(options.argv0);
  flags.insert(flags.begin(), {"--max_memory=12G", "--shared_memory"});  // `flags` may override
  absl::StatusOr<std::unique_ptr<server::FerrydProcess>> ferryd =
      server::FerrydProcess::Start(path, std::move(flags));
  if (!ferryd.ok()) {
    throw std::runtime_error(
        absl::StrCat("cannot start ferryd (", path, "): ", ferryd.status().message()));
  }
  return *std::move(ferryd);
}

std::vector<float> SmallInput() { return {1, -2, 3, -4}; }

void SmallEval(const Array& x) {
  Array y = relu(x * 2.0f + 1.0f);
  y.eval();
  if (y.to_vector<float>().size() != 4) throw std::runtime_error("small eval: wrong size");
}

double PingSeconds(const std::string& address, int repeats) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  return MedianSeconds(repeats, [&] {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = stub->Check(&context, request, &response);
    if (!status.ok()) throw std::runtime_error("health check: " + status.error_message());
  });
}

TcpLoopback::TcpLoopback(const core::TlsContext* server_tls, const core::TlsContext* client_tls) {
  listener_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listener_, 1) != 0 ||
      getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("raw tcp: cannot listen");
  }
  sender_ = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(sender_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw std::runtime_error("raw tcp: cannot connect");
  }
  receiver_ = accept(listener_, nullptr, nullptr);
  if (receiver_ < 0) throw std::runtime_error("raw tcp: cannot accept");
  const int one = 1;  // as the bulk channel's sockets
  setsockopt(sender_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(receiver_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (server_tls != nullptr && client_tls != nullptr) {
    std::thread accepting([&] {
      absl::StatusOr<std::unique_ptr<core::ByteStream>> accepted = server_tls->Accept(receiver_);
      if (accepted.ok()) receive_stream_ = *std::move(accepted);
    });
    absl::StatusOr<std::unique_ptr<core::ByteStream>> connected =
        client_tls->Connect(sender_, "127.0.0.1");
    accepting.join();
    if (!connected.ok() || receive_stream_ == nullptr) {
      throw std::runtime_error("raw tls: the handshake failed");
    }
    send_stream_ = *std::move(connected);
  } else {
    send_stream_ = std::make_unique<core::ByteStream>(sender_);
    receive_stream_ = std::make_unique<core::ByteStream>(receiver_);
  }
  receiver_thread_ = std::thread([this] { Receive(); });
}

TcpLoopback::~TcpLoopback() {
  shutdown(sender_, SHUT_WR);  // the receiver sees the end and stops
  receiver_thread_.join();
  send_stream_.reset();
  receive_stream_.reset();
  close(sender_);
  close(receiver_);
  close(listener_);
}

void TcpLoopback::Receive() {
  uint64_t size = 0;
  while (receive_stream_->Receive(&size, sizeof(size)).ok() &&
         receive_stream_->Receive(sink_.load(), size).ok()) {
    const char ack = 1;
    if (!receive_stream_->Send(&ack, 1).ok()) return;
  }
}

double TcpLoopback::Seconds(const std::vector<char>& data, std::vector<char>& sink) {
  sink_.store(sink.data());
  const Clock::time_point start = Clock::now();
  const uint64_t size = data.size();
  char ack = 0;
  if (!send_stream_->Send(&size, sizeof(size)).ok() ||
      !send_stream_->Send(data.data(), data.size()).ok() || !send_stream_->Receive(&ack, 1).ok()) {
    throw std::runtime_error("raw tcp: the connection broke");
  }
  return SecondsSince(start);
}

namespace {

void EvalVersusPing(const Options& options, const std::string& address, Device& device,
                    std::vector<Row>& rows) {
  const int repeats = options.quick ? 20 : 500;
  Array x = from_host(SmallInput(), {4}, device);
  const double eval_s = MedianSeconds(repeats, [&] { SmallEval(x); });
  const double ping_s = PingSeconds(address, repeats);
  rows.push_back(MakeRow("small-graph eval round trip (vs gRPC health ping)", FormatSeconds(eval_s),
                         FormatSeconds(ping_s), eval_s / ping_s, true, 1.3));
}

// A 200-op chain whose structure the daemon has not seen (a new input length each time)
// against the same structure again.
void CachedVersusFirst(const Options& options, Device& device, std::vector<Row>& rows) {
  const int repeats = options.quick ? 5 : 40;
  const int ops = 200;
  auto chain = [&](int64_t length) {
    std::vector<float> host(static_cast<size_t>(length), 1.0f);
    Array v = from_host(host, {length}, device);
    for (int i = 0; i < ops; ++i) v = (i % 2) ? v * 1.0001f : v + 0.001f;
    v.eval();
    v.to_vector<float>();
  };
  int64_t next_length = 1000;
  const double first_s = MedianSeconds(repeats, [&] { chain(++next_length); });
  const double cached_s = MedianSeconds(repeats, [&] { chain(8); });
  rows.push_back(MakeRow("cached-graph eval, 200 ops (vs first eval of the graph)",
                         FormatSeconds(cached_s), FormatSeconds(first_s), cached_s / first_s, true,
                         0.5));
}

// What asking the daemon to time an eval costs: a small MLP layer's forward pass (matmul,
// add, relu: a few steps) and a read of its result, profiled against the same unprofiled.
void ProfiledVersusPlain(const Options& options, Device& device, std::vector<Row>& rows) {
  const int repeats = options.quick ? 10 : 200;
  Array x = random::normal({64, 256}, float32, 0, 1, random::key(1), device);
  Array w = random::normal({256, 256}, float32, 0, 1, random::key(2), device);
  eval({x, w});
  auto layer = [&] { sum(relu(matmul(x, w) + 1.0f)).item<float>(); };
  const double plain_s = MedianSeconds(repeats, layer);
  const double profiled_s = MedianSeconds(repeats, [&] {
    Profiler profiler;
    layer();
    profiler.stop();
  });
  rows.push_back(MakeRow("profiled eval of an MLP layer (vs the same unprofiled)",
                         FormatSeconds(profiled_s), FormatSeconds(plain_s), profiled_s / plain_s,
                         true, 1.3));
}

// The baseline is API remoting (rCUDA-style): every op its own call, answered before the
// next goes out. A pipelined eval does not wait, so it would measure the daemon's step
// throughput instead; the op-at-a-time run uses a unary connection, one Execute per op.
void OneGraphVersusOpAtATime(const Options& options, const std::string& address, Device& device,
                             std::vector<Row>& rows) {
  const int ops = options.quick ? 100 : 1000;
  auto step = [](const Array& v, int i) { return (i % 2) ? v * 1.0001f : v + 0.001f; };
  Array x = from_host(std::vector<float>(16, 1.0f), {16}, device);
  const double graph_s = MedianSeconds(options.quick ? 2 : 5, [&] {
    Array v = x;
    for (int i = 0; i < ops; ++i) v = step(v, i);
    v.eval();
    v.to_vector<float>();
  });
  ConnectOptions unary;
  unary.pipeline = false;
  Device remoting = connect(address, unary);
  Array y = from_host(std::vector<float>(16, 1.0f), {16}, remoting);
  y.eval();
  const double each_s = MedianSeconds(options.quick ? 1 : 3, [&] {
    Array v = y;
    for (int i = 0; i < ops; ++i) {
      v = step(v, i);
      v.eval();  // one Execute round trip
    }
    v.to_vector<float>();
  });
  rows.push_back(MakeRow(absl::StrCat(ops, "-op graph in one eval (vs one round trip per op)"),
                         FormatSeconds(graph_s), FormatSeconds(each_s), each_s / graph_s, false,
                         100));
}

// Seconds until the daemon holds `data` as an array (a large one streams as it is made; a
// small one rides the pipeline, so wait for the daemon to have run that step).
double UploadSeconds(int repeats, const char* data, size_t size, Device& device) {
  return MedianSeconds(repeats, [&] {
    Array a = from_host_bytes(data, size, uint8, {static_cast<int64_t>(size)}, device);
    a.eval();
    synchronize(device);
  });
}

// Seconds to read a result the daemon has computed (a fill, untimed) into `sink`, memory
// the caller reuses as the raw TCP and memcpy baselines do.
double DownloadSeconds(int repeats, char* sink, size_t size, Device& device) {
  return MedianOfMeasured(repeats, [&] {
    Array z = full({static_cast<int64_t>(size)}, 1.0, uint8, device);
    z.eval();
    synchronize(device);
    const Clock::time_point start = Clock::now();
    z.copy_to(sink, size);
    const double seconds = SecondsSince(start);
    if (sink[size / 2] != 1) throw std::runtime_error("download: wrong byte");
    return seconds;
  });
}

// Upload and download rows, one pair per size, through `device` against `baseline` (a
// transfer on a raw connection, plain or TLS, called `against` in the rows' names).
void TransferRows(const Options& options, const std::string& prefix, const std::string& against,
                  TcpLoopback& baseline, Device& device, const std::vector<int64_t>& sizes,
                  std::vector<Row>& rows) {
  for (int64_t size : sizes) {
    const int repeats = size <= (int64_t{16} << 20) ? (options.quick ? 2 : 10) : 3;
    std::vector<char> data(static_cast<size_t>(size), 7);
    std::vector<char> sink(static_cast<size_t>(size), 0);
    const double raw_s = MedianOfMeasured(repeats, [&] { return baseline.Seconds(data, sink); });
    const double up_s = UploadSeconds(repeats, data.data(), data.size(), device);
    const double down_s = DownloadSeconds(repeats, sink.data(), sink.size(), device);
    const std::string label = size >= (int64_t{1} << 30) ? absl::StrCat(size >> 30, " GiB")
                                                         : absl::StrCat(size >> 20, " MiB");
    rows.push_back(MakeRow(absl::StrCat(prefix, "upload ", label, " (vs ", against, ")"),
                           FormatRate(size / up_s), FormatRate(size / raw_s), raw_s / up_s, false,
                           0.8));
    rows.push_back(MakeRow(absl::StrCat(prefix, "download ", label, " (vs ", against, ")"),
                           FormatRate(size / down_s), FormatRate(size / raw_s), raw_s / down_s,
                           false, 0.8));
  }
}

void Transfers(const Options& options, Device& device, std::vector<Row>& rows) {
  TcpLoopback tcp;  // one warm connection, as the gRPC channel is
  std::vector<int64_t> sizes = {int64_t{1} << 20, int64_t{16} << 20, int64_t{256} << 20,
                                int64_t{1} << 30};
  if (options.quick) sizes = {int64_t{1} << 20, int64_t{4} << 20};
  TransferRows(options, "", "raw TCP over loopback", tcp, device, sizes, rows);
}

// The same-host fast path (ConnectOptions::shared_memory) against a plain memcpy of the
// same bytes: an upload is the client's copy into the region and the daemon's copy out;
// from a HostBuffer, the daemon's copy alone.
void SharedMemoryTransfers(const Options& options, const std::string& address,
                           std::vector<Row>& rows) {
  ConnectOptions connect_options;
  connect_options.shared_memory = true;
  Device device = connect(address, connect_options);
  std::vector<int64_t> sizes = {int64_t{16} << 20, int64_t{256} << 20};
  if (options.quick) sizes = {int64_t{4} << 20};
  for (int64_t size : sizes) {
    const int repeats = size <= (int64_t{16} << 20) ? (options.quick ? 2 : 10) : 3;
    std::vector<char> data(static_cast<size_t>(size), 7);
    std::vector<char> sink(static_cast<size_t>(size), 0);
    const double memcpy_s = MedianSeconds(repeats, [&] {
      std::memcpy(sink.data(), data.data(), data.size());
      if (sink[data.size() / 2] != 7) throw std::runtime_error("memcpy: wrong byte");
    });
    const double up_s = UploadSeconds(repeats, data.data(), data.size(), device);
    const double down_s = DownloadSeconds(repeats, sink.data(), sink.size(), device);
    if (device.stats().shared_memory_transfers == 0) {
      throw std::runtime_error("shared memory: no transfer went through the region");
    }
    const std::string label = absl::StrCat(size >> 20, " MiB");
    rows.push_back(MakeRow(absl::StrCat("shared-memory upload ", label, " (vs memcpy)"),
                           FormatRate(size / up_s), FormatRate(size / memcpy_s), memcpy_s / up_s,
                           false, 0.5));
    rows.push_back(MakeRow(absl::StrCat("shared-memory download ", label, " (vs memcpy)"),
                           FormatRate(size / down_s), FormatRate(size / memcpy_s),
                           memcpy_s / down_s, false, 0.5));
    // From and into a HostBuffer: the daemon's copy alone, as from pinned memory.
    HostBuffer host(static_cast<size_t>(size), device);
    if (!host.in_place()) throw std::runtime_error("host buffer: the daemon did not map it");
    std::memset(host.data(), 7, host.size());
    const double host_up_s = UploadSeconds(repeats, host.data<char>(), host.size(), device);
    const double host_down_s = DownloadSeconds(repeats, host.data<char>(), host.size(), device);
    rows.push_back(MakeRow(absl::StrCat("host-buffer upload ", label, " (vs memcpy)"),
                           FormatRate(size / host_up_s), FormatRate(size / memcpy_s),
                           memcpy_s / host_up_s, false, 0.5));
    rows.push_back(MakeRow(absl::StrCat("host-buffer download ", label, " (vs memcpy)"),
                           FormatRate(size / host_down_s), FormatRate(size / memcpy_s),
                           memcpy_s / host_down_s, false, 0.5));
  }
}

// A checkpoint loaded onto a ferryd on this host, its file in the page cache, against
// reading the file (what any load costs): with --shared_memory each large tensor
// is read into memory the daemon maps and copied once there; without, it crosses the bulk
// channel. Upload caches off, so every load moves the bytes.
void CheckpointLoads(const Options& options, const std::string& shared_address,
                     std::vector<Row>& rows) {
  constexpr int kTensors = 8;
  const int64_t bytes = options.quick ? (int64_t{8} << 20) : (int64_t{256} << 20);
  const std::string path = absl::StrCat("/tmp/ferry_bench_load_", getpid(), ".safetensors");
  std::unordered_map<std::string, Array> weights;
  for (int i = 0; i < kTensors; ++i) {
    weights.emplace(absl::StrCat("layer", i),
                    full({bytes / kTensors}, static_cast<double>(i), uint8, local()));
  }
  save_safetensors(path, weights);
  const int repeats = options.quick ? 2 : 5;
  // A tensor at a time into page-aligned memory, as a load reads (core/page_aligned.h).
  core::PageAlignedBuffer sink(static_cast<size_t>(bytes / kTensors));
  auto read_file = [&] {
    std::ifstream in(path, std::ios::binary);
    int64_t read = 0;
    while (in.read(sink.data(), static_cast<std::streamsize>(sink.size()))) read += in.gcount();
    if (read < bytes) throw std::runtime_error("checkpoint: short read");
  };
  const double read_s = MedianSeconds(repeats, read_file);
  std::unique_ptr<server::FerrydProcess> plain =
      StartBenchFerryd(options, {"--shared_memory=false", "--upload_cache=0"});
  ConnectOptions no_cache;
  no_cache.upload_cache = false;
  const std::string label = absl::StrCat(kTensors, " x ", (bytes / kTensors) >> 20, " MiB");
  for (const auto& [address, route] :
       {std::pair<std::string, std::string>{shared_address, "shared memory"},
        {plain->address(), "bulk channel"}}) {
    Device device = connect(address, no_cache);
    const double load_s = MedianSeconds(repeats, [&] {
      SafetensorsLoad loaded = load_safetensors(path, device);
      synchronize(device);
    });
    const bool in_place = device.stats().in_place_transfers > 0;
    if (in_place != (route == "shared memory")) {
      throw std::runtime_error(absl::StrCat("checkpoint load: not the ", route, " route"));
    }
    rows.push_back(MakeReportRow(
        absl::StrCat("checkpoint load ", label, ", same host, ", route, " (vs reading the file)"),
        FormatRate(bytes / load_s), FormatRate(bytes / read_s), read_s / load_s));
  }
  std::remove(path.c_str());
}

// The bulk channel beside a TLS gRPC port (a daemon of its own, with throwaway certificates
// from tests/make_test_certs.sh) against the same bytes over a raw OpenSSL session on
// loopback with the same certificates.
void TlsTransfers(const Options& options, std::vector<Row>& rows) {
  const std::string script = server::FindRunfile(options.argv0, "ferry/tests/make_test_certs.sh");
  char dir_template[] = "/tmp/ferry-bench-certs-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (script.empty() || dir == nullptr ||
      std::system(absl::StrCat(script, " ", dir).c_str()) != 0) {
    throw std::runtime_error("tls: cannot make the test certificates (needs openssl)");
  }
  auto read = [&](const char* name) {
    std::ifstream in(absl::StrCat(dir, "/", name));
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  absl::StatusOr<std::shared_ptr<core::TlsContext>> server_tls =
      core::TlsContext::ForServer(read("server.pem"), read("server.key"), "");
  absl::StatusOr<std::shared_ptr<core::TlsContext>> client_tls =
      core::TlsContext::ForClient(read("ca.pem"), "", "");
  if (!server_tls.ok() || !client_tls.ok()) throw std::runtime_error("tls: unusable certificates");
  std::unique_ptr<server::FerrydProcess> ferryd =
      StartBenchFerryd(options, {absl::StrCat("--tls_cert=", dir, "/server.pem"),
                                 absl::StrCat("--tls_key=", dir, "/server.key")});
  ConnectOptions connect_options;
  connect_options.root_certs = read("ca.pem");
  Device device = connect(ferryd->address(), connect_options);
  TcpLoopback tls(server_tls->get(), client_tls->get());
  std::vector<int64_t> sizes = {int64_t{16} << 20, int64_t{256} << 20};
  if (options.quick) sizes = {int64_t{4} << 20};
  TransferRows(options, "TLS ", "raw TLS over loopback", tls, device, sizes, rows);
  if (device.stats().bulk_channel_transfers == 0) {
    throw std::runtime_error("tls: no transfer took the bulk channel");
  }
  std::system(absl::StrCat("rm -rf ", dir).c_str());
}

// Small evals per second from `clients` threads, each with its own session.
double Throughput(const std::string& address, int clients, double seconds) {
  std::atomic<int64_t> evals{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      Device device = connect(address);
      Array x = from_host(SmallInput(), {4}, device);
      SmallEval(x);
      ++ready;
      while (ready.load() < clients) std::this_thread::yield();
      while (!stop.load()) {
        SmallEval(x);
        ++evals;
      }
    });
  }
  while (ready.load() < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const int64_t before = evals.load();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  const int64_t done = evals.load() - before;
  stop = true;
  for (std::thread& t : threads) t.join();
  return done / seconds;
}

void Concurrency(const Options& options, const std::string& address, std::vector<Row>& rows) {
  const double seconds = options.quick ? 0.3 : 3;
  const double one = Throughput(address, 1, seconds);
  for (int clients : {1, 4, 16}) {
    const double rate = clients == 1 ? one : Throughput(address, clients, seconds);
    rows.push_back(MakeReportRow(absl::StrCat("small evals/s with ", clients, " concurrent client",
                                              clients > 1 ? "s" : "", " (vs 1 client)"),
                                 absl::StrFormat("%.0f/s", rate), absl::StrFormat("%.0f/s", one),
                                 rate / one));
  }
}

}  // namespace

void RunTransportBenchmarks(const Options& options, std::vector<Row>& rows) {
  std::unique_ptr<server::FerrydProcess> ferryd = StartBenchFerryd(options);
  Device device = connect(ferryd->address());
  EvalVersusPing(options, ferryd->address(), device, rows);
  CachedVersusFirst(options, device, rows);
  ProfiledVersusPlain(options, device, rows);
  OneGraphVersusOpAtATime(options, ferryd->address(), device, rows);
  Transfers(options, device, rows);
  SharedMemoryTransfers(options, ferryd->address(), rows);
  CheckpointLoads(options, ferryd->address(), rows);
  TlsTransfers(options, rows);
  Concurrency(options, ferryd->address(), rows);
}

}  // namespace ferry::bench
