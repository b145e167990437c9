// ferryctl: talks to a ferryd from the command line.
//
//   ferryctl [--address=HOST:PORT] [credentials] COMMAND
//     ping              round trips to the daemon, with their latency
//     health            liveness ("") and readiness ("ready"); exits 1 unless both serve
//     info              version, protocol, device, limits, sessions, memory, uptime
//     sessions          the open sessions (ids cut to 8 hex digits)
//     cache             graph-cache hits, misses, entries
//     bench             a quick remote benchmark: matmuls through the client library
//     upload FILE       a .npy or .safetensors file as resident buffers, with a progress bar

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "client/ferry.h"
#include "client/status.h"
#include "core/codec.h"
#include "core/content_digest.h"
#include "core/gguf.h"
#include "core/gguf_tensors.h"
#include "core/page_aligned.h"
#include "core/read_file.h"
#include "core/tensor_file.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "proto/grpc/health/v1/health.grpc.pb.h"

ABSL_FLAG(std::string, address, "127.0.0.1:7070", "the ferryd to talk to, host:port");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM file of the CA that signed ferryd's certificate: connect with TLS");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate, for a ferryd that requires one");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, token_file, "",
          "file holding the bearer token (default: $FERRY_TOKEN, if set)");
ABSL_FLAG(int, timeout_seconds, 10, "deadline of each call");
ABSL_FLAG(int, pings, 5, "ping: how many round trips");
ABSL_FLAG(int, bench_size, 512, "bench: n of the n x n float32 matmuls");
ABSL_FLAG(int, bench_iterations, 10, "bench: timed evals");
ABSL_FLAG(std::string, session, "",
          "upload: the session to upload into (default: a new one, left open until its lease "
          "runs out)");
ABSL_FLAG(uint64_t, first_buffer_id, 1, "upload: buffer id of the first tensor; the next get +1");

namespace ferry::ctl {
namespace {

using core::DescribeTensor;
using core::FileTensor;
using core::ReadTensorIndex;

using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::string& path) {
  absl::StatusOr<std::string> contents = core::ReadFile(path);
  if (!contents.ok()) {
    throw Error(static_cast<ErrorCode>(contents.status().code()),
                std::string(contents.status().message()));
  }
  return *std::move(contents);
}

// The address and credentials from the flags, as the client library takes them.
ConnectOptions Credentials() {
  ConnectOptions options;
  options.client_name = "ferryctl";
  options.timeout = std::chrono::seconds(absl::GetFlag(FLAGS_timeout_seconds));
  if (!absl::GetFlag(FLAGS_tls_ca).empty())
    options.root_certs = ReadFile(absl::GetFlag(FLAGS_tls_ca));
  if (!absl::GetFlag(FLAGS_tls_cert).empty()) {
    options.client_cert = ReadFile(absl::GetFlag(FLAGS_tls_cert));
    options.client_key = ReadFile(absl::GetFlag(FLAGS_tls_key));
  }
  if (!absl::GetFlag(FLAGS_token_file).empty()) {
    options.token =
        std::string(absl::StripTrailingAsciiWhitespace(ReadFile(absl::GetFlag(FLAGS_token_file))));
  } else if (const char* token = std::getenv("FERRY_TOKEN"); token != nullptr) {
    options.token = token;
  }
  return options;
}

// A raw gRPC connection, for the calls the client library does not make.
class Connection {
 public:
  Connection() : options_(Credentials()) {
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!options_.root_certs.empty() || !options_.client_cert.empty()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = options_.root_certs;
      ssl.pem_cert_chain = options_.client_cert;
      ssl.pem_private_key = options_.client_key;
      credentials = grpc::SslCredentials(ssl);
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel(absl::GetFlag(FLAGS_address), credentials, args);
    ferry_ = v1::Ferry::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  const ConnectOptions& options() const { return options_; }
  v1::Ferry::Stub& ferry() { return *ferry_; }
  grpc::health::v1::Health::Stub& health() { return *health_; }

  std::unique_ptr<grpc::ClientContext> Context() {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(absl::GetFlag(FLAGS_timeout_seconds)));
    context->AddMetadata("x-request-id", absl::StrFormat("ferryctl-%d-%d", getpid(), ++calls_));
    if (!options_.token.empty()) context->AddMetadata("authorization", "Bearer " + options_.token);
    return context;
  }

  v1::GetInfoResponse GetInfo() {
    v1::GetInfoResponse info;
    Check(ferry_->GetInfo(Context().get(), v1::GetInfoRequest(), &info));
    return info;
  }

  void Check(const grpc::Status& status) {
    if (status.ok()) return;
    throw Error(
        static_cast<ErrorCode>(status.error_code()),
        absl::StrCat("ferryd at ", absl::GetFlag(FLAGS_address), ": ", status.error_message()));
  }

 private:
  const ConnectOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Ferry::Stub> ferry_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  int calls_ = 0;
};

std::string Bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.1f %s", value, units[unit]);
}

double Milliseconds(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

int Ping(Connection& connection) {
  std::vector<double> rtts;
  v1::GetInfoResponse info;
  for (int i = 0; i < std::max(1, absl::GetFlag(FLAGS_pings)); ++i) {
    const Clock::time_point start = Clock::now();
    info = connection.GetInfo();
    rtts.push_back(Milliseconds(Clock::now() - start));
  }
  std::cout << absl::StrFormat("pong from %s (%s): %d round trips, min %.3f ms, median %.3f ms\n",
                               absl::GetFlag(FLAGS_address), info.server_version(), rtts.size(),
                               *std::min_element(rtts.begin(), rtts.end()), Median(rtts));
  return 0;
}

int Health(Connection& connection) {
  bool all_serving = true;
  for (const char* service : {"", "ready"}) {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(service);
    grpc::health::v1::HealthCheckResponse response;
    grpc::Status status = connection.health().Check(connection.Context().get(), request, &response);
    std::string state =
        status.ok() ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())
                    : absl::StrCat("error: ", status.error_message());
    all_serving &=
        status.ok() && response.status() == grpc::health::v1::HealthCheckResponse::SERVING;
    std::cout << (*service == '\0' ? "liveness  (\"\")     " : "readiness (\"ready\") ") << state
              << "\n";
  }
  return all_serving ? 0 : 1;
}

int Info(Connection& connection) {
  v1::GetInfoResponse info = connection.GetInfo();
  const v1::DeviceInfo& device = info.device();
  const v1::Limits& limits = info.limits();
  std::cout << "server        " << info.server_version() << " at " << absl::GetFlag(FLAGS_address)
            << ", up " << info.uptime_seconds() << " s\n"
            << "protocol      " << info.min_protocol_version() << " to "
            << info.max_protocol_version() << "\n"
            << "device        " << device.backend() << ": " << device.name() << ", "
            << Bytes(device.memory_bytes());
  if (!device.compute_capability().empty()) {
    std::cout << ", sm " << device.compute_capability() << ", driver " << device.driver_version()
              << ", runtime " << device.runtime_version();
  }
  std::cout << "\n"
            << "memory        " << Bytes(info.resident_bytes()) << " resident of "
            << Bytes(limits.max_memory_bytes()) << " (--max_memory)"
            << (limits.max_session_memory_bytes() > 0
                    ? absl::StrCat(", at most ", Bytes(limits.max_session_memory_bytes()),
                                   " a session")
                    : "")
            << "\n"
            << "sessions      " << info.sessions()
            << (limits.max_sessions() > 0 ? absl::StrCat(" of at most ", limits.max_sessions())
                                          : "")
            << ", lease " << limits.lease_seconds() << " s\n"
            << "graphs cached " << info.cached_graphs() << "\n"
            << "limits        chunk " << Bytes(limits.chunk_bytes()) << ", inline up to "
            << Bytes(limits.max_inline_bytes()) << ", message " << Bytes(limits.max_message_bytes())
            << ", " << limits.max_graph_nodes() << " nodes per graph\n"
            << "features     ";
  for (const std::string& feature : info.features()) std::cout << " " << feature;
  std::cout << "\n";
  return 0;
}

int Sessions(Connection& connection) {
  v1::GetInfoResponse info = connection.GetInfo();
  // PEAK: the most its buffers and one eval's intermediates held at once; KEPT: bytes of
  // broken uploads the session holds for its client to resume; OFFERED: of buffers it
  // released that are still offered to another daemon, not fetched yet.
  std::cout << absl::StrFormat("%-10s %8s %12s %12s %10s %10s %10s %7s %-5s  %s\n", "SESSION",
                               "BUFFERS", "RESIDENT", "PEAK", "KEPT", "OFFERED", "IDLE", "GROUPS",
                               "STATE", "CLIENT");
  for (const v1::SessionSummary& session : info.session_list()) {
    // busy: a call in flight; gone: its client vanished mid-stream, not back yet (it ends at
    // its lease).
    const char* state = session.abandoned() ? "gone" : session.idle_ms() == 0 ? "busy" : "idle";
    std::cout << absl::StrFormat(
        "%-10s %8d %12s %12s %10s %10s %9.1fs %7d %-5s  %s\n", session.id_prefix(),
        session.buffers(), Bytes(session.resident_bytes()), Bytes(session.peak_bytes()),
        Bytes(session.kept_upload_bytes()), Bytes(session.offered_bytes()),
        session.idle_ms() / 1000.0, session.groups(), state, session.client_name());
  }
  std::cout << info.session_list_size() << " session(s)\n";
  return 0;
}

int Cache(Connection& connection) {
  const v1::GetInfoResponse info = connection.GetInfo();
  const v1::GraphCacheStats& cache = info.graph_cache();
  const int64_t lookups = cache.hits() + cache.misses();
  std::cout << "entries  " << cache.entries() << " of " << cache.capacity() << "\n"
            << "hits     " << cache.hits() << "\n"
            << "misses   " << cache.misses() << "\n"
            << absl::StrFormat("hit rate %.1f%%\n",
                               lookups > 0 ? 100.0 * cache.hits() / lookups : 0.0);
  // The upload cache (--upload_cache): uploads' bytes kept for sessions that load them again.
  if (info.has_upload_cache()) {
    const v1::UploadCacheStats& uploads = info.upload_cache();
    std::cout << absl::StrFormat("uploads  %d kept, %s of %s; %d hits, %d misses, %d rejected\n",
                                 uploads.entries(), Bytes(uploads.bytes()),
                                 Bytes(uploads.capacity_bytes()), uploads.hits(), uploads.misses(),
                                 uploads.rejected());
    if (uploads.disk_entries() > 0) {
      std::cout << absl::StrFormat("on disk  %d kept, %s\n", uploads.disk_entries(),
                                   Bytes(uploads.disk_bytes()));
    }
  }
  return 0;
}

int Bench(Connection& connection) {
  const int n = absl::GetFlag(FLAGS_bench_size);
  const int iterations = std::max(1, absl::GetFlag(FLAGS_bench_iterations));
  Device device = connect(absl::GetFlag(FLAGS_address), connection.options());
  std::vector<float> host(static_cast<size_t>(n) * n, 1.0f / n);
  Array a = from_host(host, {n, n}, device);
  Array b = random::normal({n, n}, float32, device);
  b.eval();
  auto step = [&] {
    Array c = matmul(a, b) + 1.0f;
    c.eval();  // c stays on the daemon; one Execute per eval, the graph sent by id after the first
    return c;
  };
  step();  // warm up: ships the graph and uploads a
  std::vector<double> latencies;
  for (int i = 0; i < iterations; ++i) {
    const Clock::time_point start = Clock::now();
    step();
    latencies.push_back(Milliseconds(Clock::now() - start));
  }
  Array total = sum(step());
  const float checksum = total.to_vector<float>()[0];
  const double median = Median(latencies);
  std::cout << absl::StrFormat(
      "bench %s: %d x matmul %dx%d float32 (+1), median %.3f ms per eval, %.1f GFLOP/s, "
      "checksum %.4g\n",
      device.description(), iterations, n, n, median, 2.0 * n * n * n / (median * 1e6), checksum);
  return 0;
}

// Draws "[#####.....]  45%  12.3 MiB / 27.0 MiB" over itself on stderr.
void Progress(const std::string& name, uint64_t done, uint64_t total) {
  constexpr int kWidth = 30;
  const double fraction = total == 0 ? 1.0 : static_cast<double>(done) / total;
  const int filled = static_cast<int>(fraction * kWidth);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  std::fprintf(stderr, "\r%-16.16s [%s] %3d%%  %s / %s", name.c_str(), bar.c_str(),
               static_cast<int>(fraction * 100), Bytes(done).c_str(), Bytes(total).c_str());
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

// One array `upload` sends: `tensor`'s bytes at its offset in the file, or, for a GGUF
// tensor repacked here (Q4_0, Q4_1, Q8_0), array `part` of `gguf` as load_gguf sends it.
struct UploadArray {
  FileTensor tensor;
  const core::GgufTensor* gguf = nullptr;
  int part = 0;
};

// The arrays of a .npy, .safetensors or .gguf file (told by its first bytes), as the client
// library's load functions send them, so that uploads warm the cache for them.
std::vector<UploadArray> ArraysOf(const std::string& path, core::GgufIndex& gguf) {
  char magic[4] = {};
  std::ifstream(path, std::ios::binary).read(magic, 4);
  std::vector<UploadArray> arrays;
  if (std::string(magic, 4) != "GGUF") {
    for (FileTensor& tensor : detail::ValueOrThrow(ReadTensorIndex(path))) {
      arrays.push_back({std::move(tensor)});
    }
    return arrays;
  }
  gguf = detail::ValueOrThrow(core::ReadGgufIndex(path));
  for (const core::GgufTensor& tensor : gguf.tensors) {
    const std::vector<core::GgufArray> loaded = detail::ValueOrThrow(core::GgufArraysOf(tensor));
    for (size_t k = 0; k < loaded.size(); ++k) {
      const core::GgufArray& array = loaded[k];
      FileTensor file{array.name, array.dtype, array.shape, tensor.offset, 0};
      file.nbytes =
          static_cast<uint64_t>(core::NumElements(array.shape)) * core::SizeOf(array.dtype);
      const bool as_is = core::GgmlLoadsAsIs(tensor.type);
      arrays.push_back({std::move(file), as_is ? nullptr : &tensor, static_cast<int>(k)});
    }
  }
  return arrays;
}

int Upload(Connection& connection, const std::string& path) {
  core::GgufIndex gguf;
  const std::vector<UploadArray> arrays = ArraysOf(path, gguf);
  std::string session = absl::GetFlag(FLAGS_session);
  int64_t chunk = 1 << 20;
  // With the daemon's upload cache, tensors of 1 MiB or more name their content digest:
  // one the daemon holds is not sent again, and the others stay for clients that load the
  // same file later (a node warmed before its users come).
  bool upload_cache = false;
  if (session.empty()) {
    v1::OpenSessionRequest request;
    request.set_min_protocol_version(1);
    request.set_max_protocol_version(1);
    request.set_client_name(absl::StrCat("ferryctl upload ", path));
    v1::OpenSessionResponse opened;
    connection.Check(connection.ferry().OpenSession(connection.Context().get(), request, &opened));
    session = opened.session_id();
    if (opened.limits().chunk_bytes() > 0) chunk = opened.limits().chunk_bytes();
    const auto& features = opened.features();
    upload_cache = std::find(features.begin(), features.end(), "upload_cache") != features.end();
  }
  std::cout << "session " << session << "\n";
  std::ifstream in(path, std::ios::binary);
  uint64_t buffer_id = absl::GetFlag(FLAGS_first_buffer_id);
  core::PageAlignedBuffer data(static_cast<size_t>(chunk));  // file reads at full speed
  if (data.data() == nullptr) {
    throw Error(ErrorCode::kResourceExhausted, absl::StrCat("cannot allocate ", chunk, " bytes"));
  }
  std::string decoded;  // a GGUF array that is not the file's bytes
  // Its tensor's blocks, read once for the tensor's three arrays.
  std::unique_ptr<core::PageAlignedBuffer> raw;
  const core::GgufTensor* raw_tensor = nullptr;
  for (const UploadArray& array : arrays) {
    const FileTensor& tensor = array.tensor;
    const std::string name = tensor.name.empty() ? path.substr(path.rfind('/') + 1) : tensor.name;
    if (array.gguf != nullptr) {
      if (raw_tensor != array.gguf) {
        raw = std::make_unique<core::PageAlignedBuffer>(array.gguf->nbytes);
        if (raw->data() == nullptr) {
          throw Error(ErrorCode::kResourceExhausted,
                      absl::StrCat("cannot allocate ", array.gguf->nbytes, " bytes"));
        }
        in.seekg(static_cast<std::streamoff>(array.gguf->offset));
        in.read(raw->data(), static_cast<std::streamsize>(raw->size()));
        if (!in) throw Error(ErrorCode::kDataLoss, absl::StrCat("cannot read ", path));
        raw_tensor = array.gguf;
      }
      decoded.resize(tensor.nbytes);
      core::DecodeGgufArray(*array.gguf, raw->data(), array.part, decoded.data());
    }
    // `n` bytes of the array from byte `at` into `dst`.
    auto read = [&](uint64_t at, size_t n, char* dst) {
      if (array.gguf != nullptr) {
        std::memcpy(dst, decoded.data() + at, n);
        return absl::OkStatus();
      }
      in.seekg(static_cast<std::streamoff>(tensor.offset + at));
      in.read(dst, static_cast<std::streamsize>(n));
      return in ? absl::OkStatus() : absl::DataLossError(absl::StrCat("cannot read ", path));
    };
    v1::UploadRequest header;
    header.set_session_id(session);
    header.set_buffer_id(buffer_id);
    header.mutable_spec()->set_dtype(core::DTypeToProto(tensor.dtype));
    for (int64_t dim : tensor.shape) header.mutable_spec()->add_shape(dim);
    header.set_total_bytes(tensor.nbytes);
    if (upload_cache && tensor.nbytes >= (uint64_t{1} << 20)) {
      header.set_content_digest(
          detail::ValueOrThrow(core::ContentDigestOfPieces(tensor.nbytes, read)));
      v1::UploadRequest query = header;
      query.set_cache_query(true);
      std::unique_ptr<grpc::ClientContext> asking = connection.Context();
      v1::UploadResponse held;
      auto writer = connection.ferry().Upload(asking.get(), &held);
      writer->Write(query);
      writer->WritesDone();
      connection.Check(writer->Finish());
      if (held.bytes_received() == tensor.nbytes) {
        std::cout << "buffer " << buffer_id << " " << name << " " << DescribeTensor(tensor) << " "
                  << tensor.nbytes << " bytes (held by the upload cache: not sent)\n";
        ++buffer_id;
        continue;
      }
    }
    std::unique_ptr<grpc::ClientContext> context = connection.Context();
    context->set_deadline(std::chrono::system_clock::time_point::max());  // any size streams
    v1::UploadResponse response;
    auto writer = connection.ferry().Upload(context.get(), &response);
    uint64_t sent = 0;
    bool open = true;
    do {
      v1::UploadRequest request;
      if (sent == 0) request = header;
      const uint64_t n = std::min<uint64_t>(data.size(), tensor.nbytes - sent);
      detail::ThrowIfError(read(sent, n, data.data()));
      request.set_data(data.data(), n);
      open = writer->Write(request);
      sent += n;
      Progress(name, sent, tensor.nbytes);
    } while (open && sent < tensor.nbytes);
    writer->WritesDone();
    connection.Check(writer->Finish());
    std::cout << "buffer " << buffer_id << " " << name << " " << DescribeTensor(tensor) << " "
              << tensor.nbytes << " bytes\n";
    ++buffer_id;
  }
  return 0;
}

int Run(const std::vector<char*>& args) {
  if (args.size() < 2) {
    std::cerr << absl::ProgramUsageMessage() << "\n";
    return 2;
  }
  const std::string command = args[1];
  Connection connection;
  if (command == "upload") {
    if (args.size() != 3) {
      std::cerr << "ferryctl upload takes one FILE (.npy, .safetensors or .gguf)\n";
      return 2;
    }
    return Upload(connection, args[2]);
  }
  if (args.size() != 2) {
    std::cerr << "ferryctl " << command << " takes no arguments\n";
    return 2;
  }
  if (command == "ping") return Ping(connection);
  if (command == "health") return Health(connection);
  if (command == "info") return Info(connection);
  if (command == "sessions") return Sessions(connection);
  if (command == "cache") return Cache(connection);
  if (command == "bench") return Bench(connection);
  std::cerr << "ferryctl: unknown command \"" << command
            << "\": use ping, health, info, sessions, cache, bench or upload\n";
  return 2;
}

}  // namespace
}  // namespace ferry::ctl

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ferryctl: talks to a ferryd.\n"
      "  ferryctl [--address=HOST:PORT] [--tls_ca=PEM [--tls_cert=PEM --tls_key=PEM]]\n"
      "           [--token_file=FILE] COMMAND\n"
      "  commands: ping | health | info | sessions | cache | bench | upload FILE");
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  try {
    return ferry::ctl::Run(args);
  } catch (const ferry::Error& error) {
    std::cerr << "ferryctl: " << ferry::ErrorCodeName(error.code()) << ": " << error.what() << "\n";
    return 1;
  }
}
