// ferryd: serves ferry graphs over gRPC (the ferry.v1.Ferry service, grpc.health.v1 and
// server reflection). See server/flags.cc for its flags.

#include <errno.h>
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/executor.h"
#include "server/auth.h"
#include "server/bulk_channel.h"
#include "server/byte_size.h"
#include "server/ferry_service.h"
#include "server/flags.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/rpc_observer.h"
#include "server/server_options.h"
#include "server/session_manager.h"
#include "server/systemd_notify.h"
#include "server/tcp_listener.h"

namespace ferry::server {
namespace {

constexpr char kReadinessService[] = "ready";

int g_stop_pipe[2] = {-1, -1};

void OnStopSignal(int signal_number) {
  const int saved_errno = errno;
  unsigned char byte = static_cast<unsigned char>(signal_number);
  // Only async-signal-safe calls here; a full pipe means a stop is already pending.
  ssize_t ignored = write(g_stop_pipe[1], &byte, 1);
  (void)ignored;
  errno = saved_errno;
}

int Fail(absl::string_view message, int code = 2) {
  Log(LogLevel::kError, message);
  return code;
}

// --backend: cpu; cuda (or fail saying why); auto: cuda when usable, else cpu with the
// reason logged. The CUDA budget is --max_memory when given, else the GPU's memory.
absl::StatusOr<std::unique_ptr<kernels::Backend>> MakeBackend(const std::string& name,
                                                              int64_t memory_limit) {
  if (name == "cpu") return kernels::MakeCpuBackend(memory_limit);
  if (name != "cuda" && name != "auto") {
    return absl::InvalidArgumentError(
        absl::StrCat("--backend=", name, " is not a backend: use cpu, cuda or auto"));
  }
  kernels::CudaOptions cuda;
  cuda.device = absl::GetFlag(FLAGS_device);
  cuda.memory_limit_bytes = absl::GetFlag(FLAGS_max_memory).bytes;
  cuda.allow_tf32 = absl::GetFlag(FLAGS_allow_tf32);
  absl::StatusOr<std::unique_ptr<kernels::Backend>> backend = kernels::MakeCudaBackend(cuda);
  if (backend.ok() || name == "cuda") {
    if (!backend.ok()) {
      return absl::Status(backend.status().code(),
                          absl::StrCat("--backend=cuda: ", backend.status().message()));
    }
    return backend;
  }
  LogEvent(absl::StrCat("--backend=auto: using the CPU (", backend.status().message(), ")"));
  return kernels::MakeCpuBackend(memory_limit);
}

std::string BoundAddress(const std::string& listen, int port) {
  size_t colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return absl::StrCat(host, ":", port);
}

int Run() {
  absl::StatusOr<ServerOptions> flags = OptionsFromFlags();
  if (!flags.ok()) return Fail(flags.status().message());
  const ServerOptions options = *flags;
  const std::string backend_name = absl::GetFlag(FLAGS_backend);
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  const int metrics_port = absl::GetFlag(FLAGS_metrics_port);
  absl::StatusOr<LogLevel> log_level = ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!log_level.ok()) return Fail(log_level.status().message());
  SetLogLevel(*log_level);
  if (metrics_port < 0 || metrics_port > 65535) {
    return Fail(absl::StrCat("--metrics_port=", metrics_port, " is out of range: 0 to 65535"));
  }
  absl::StatusOr<TransportSecurity> security =
      MakeTransportSecurity(absl::GetFlag(FLAGS_tls_cert), absl::GetFlag(FLAGS_tls_key),
                            absl::GetFlag(FLAGS_tls_client_ca), absl::GetFlag(FLAGS_peer_ca));
  if (!security.ok()) return Fail(security.status().message());
  std::unique_ptr<TokenAuth> auth;
  if (const std::string tokens = absl::GetFlag(FLAGS_auth_tokens_file); !tokens.empty()) {
    absl::StatusOr<std::unique_ptr<TokenAuth>> loaded = TokenAuth::FromFile(tokens);
    if (!loaded.ok()) return Fail(loaded.status().message());
    auth = *std::move(loaded);
  }

  // Libraries start threads before main (OpenBLAS does), so a signal mask cannot route
  // SIGTERM to one thread; a handler that only writes to a pipe works in any thread.
  if (pipe2(g_stop_pipe, O_CLOEXEC) != 0) return Fail("cannot create the signal pipe", 1);
  struct sigaction action = {};
  action.sa_handler = &OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<kernels::Backend>> backend =
      MakeBackend(backend_name, options.max_memory_bytes);
  if (!backend.ok()) return Fail(backend.status().message());
  kernels::Executor executor(**backend, options.graph_cache_size,
                             core::GraphLimits{options.max_graph_nodes});
  executor.set_fusion(options.fusion);
  SessionManager sessions(options.lease, options.max_session_memory_bytes);
  sessions.SetMaxSessions(options.max_sessions);
  sessions.SetQueueFactory([&backend] { return (*backend)->NewQueue(); });
  std::unique_ptr<UploadCacheDisk> upload_cache_disk;
  if (const std::string dir = absl::GetFlag(FLAGS_upload_cache_dir); !dir.empty()) {
    absl::StatusOr<std::unique_ptr<UploadCacheDisk>> opened =
        UploadCacheDisk::Open(dir, absl::GetFlag(FLAGS_upload_cache_disk).bytes);
    if (!opened.ok()) return Fail(opened.status().message());
    upload_cache_disk = *std::move(opened);
    LogEvent(absl::StrCat("upload cache on disk: ", dir, ", ", upload_cache_disk->entries(),
                          " entries (", upload_cache_disk->bytes(), " bytes) of up to ",
                          upload_cache_disk->capacity(), " bytes"));
  }
  UploadCache upload_cache(options.upload_cache_bytes >= 0 ? options.upload_cache_bytes
                                                           : (*backend)->budget().limit() / 4,
                           **backend, std::move(upload_cache_disk));
  sessions.SetUploadCache(&upload_cache);
  // A full device gives up broken uploads kept for a resume, then uploads kept by the
  // cache, before refusing work.
  (*backend)->budget().set_reclaimer([&sessions, &upload_cache](int64_t needed) {
    const int64_t dropped = sessions.DropKeptUploads(needed);
    return dropped >= needed ? dropped : dropped + upload_cache.Reclaim(needed - dropped);
  });
  absl::Cleanup no_reclaimer = [&backend] { (*backend)->budget().set_reclaimer(nullptr); };
  sessions.StartReaper();
  FerryService service(executor, sessions, options, auth.get());
  // Groups' links (collectives): the networks they may use, and what they did (metrics).
  absl::StatusOr<PeerNetworks> peer_networks =
      PeerNetworks::Parse(absl::GetFlag(FLAGS_peer_networks));
  if (!peer_networks.ok()) return Fail(peer_networks.status().message());
  PeerLinks peer_links(security->peers, *std::move(peer_networks));
  Metrics metrics(sessions, executor, service.graph_cache(), peer_links.stats());
  service.set_execute_observer(
      [&metrics](absl::Duration latency) { metrics.RecordExecute(latency); });
  if (metrics_port > 0) {
    const std::string metrics_address = BoundAddress(listen, metrics_port);
    if (absl::Status served = metrics.Serve(metrics_address); !served.ok()) {
      return Fail(served.message(), 1);
    }
    LogEvent(absl::StrCat("serving Prometheus metrics on http://", metrics_address, "/metrics"));
  }

  // The bulk channel: large transfers on TCP beside gRPC, in TLS with the same certificates
  // when gRPC is; the daemon serves without it if it cannot listen.
  std::unique_ptr<BulkChannelServer> bulk;
  const int bulk_port = absl::GetFlag(FLAGS_bulk_port);
  if (bulk_port < -1 || bulk_port > 65535) {
    return Fail(absl::StrCat("--bulk_port=", bulk_port, " is out of range: -1 (off) to 65535"));
  }
  // Links of groups' rings arrive on the bulk channel (collectives): plaintext, or in TLS
  // when --peer_ca says which daemons to trust.
  const bool plaintext = security->bulk == nullptr || security->peers != nullptr;
  if (bulk_port >= 0) {
    absl::StatusOr<std::unique_ptr<BulkChannelServer>> started = BulkChannelServer::Start(
        BoundAddress(listen, bulk_port), sessions, **backend,
        [&metrics](absl::string_view method, absl::StatusCode code, absl::Duration latency,
                   int64_t received, int64_t sent) {
          metrics.RecordCall(method, static_cast<grpc::StatusCode>(code), latency, received, sent);
        },
        security->bulk, plaintext ? &peer_links : nullptr, options.keepalive);
    if (started.ok()) {
      bulk = *std::move(started);
      service.set_bulk_port(bulk->port());
      if (plaintext) service.set_peer_links(&peer_links);
    } else {
      Log(LogLevel::kWarning,
          absl::StrCat("no bulk channel (transfers go over gRPC): ", started.status().message()));
    }
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, security->grpc, &port);
  builder.RegisterService(&service);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> observers;
  observers.push_back(std::make_unique<RpcObserverFactory>(&metrics));
  builder.experimental().SetInterceptorCreators(std::move(observers));
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  // Bulk transfers: large HTTP/2 frames and a deep per-stream window (see the README's
  // Transport section), so chunks are neither cut small nor wait on window updates.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, (1 << 24) - 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 8 << 20);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_WRITE_BUFFER_SIZE, 8 << 20);
  if (options.keepalive > absl::ZeroDuration()) {
    // Pings go on through a long silent run (no limit on pings without data); an unanswered
    // one ends the connection, and with it a vanished client's Pipeline stream and session.
    // Only connections with calls in flight are pinged: a sync gRPC client reads its socket
    // only while it has one, so an idle one could not answer.
    const int64_t ms = absl::ToInt64Milliseconds(options.keepalive);
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(ms));
    builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                               static_cast<int>(std::min<int64_t>(ms, 20000)));
    builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  }
  // Clients ping too (ConnectOptions::keepalive), as often as once a second.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 500);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    return Fail(absl::StrCat("cannot listen on ", listen), 1);
  }
  if (!port_file.empty()) {
    if (absl::Status written = WritePortFile(port_file, port); !written.ok()) {
      server->Shutdown();
      return Fail(written.message(), 1);
    }
  }
  const kernels::DeviceFacts& facts = (*backend)->facts();
  const std::string serving = absl::StrCat(
      "serving ferry.v1 on ", BoundAddress(listen, port), " with backend ", facts.backend, " (",
      facts.name, "), max memory ", FormatByteSize((*backend)->budget().limit()), ", lease ",
      absl::FormatDuration(options.lease), auth ? ", bearer tokens required" : "",
      absl::GetFlag(FLAGS_tls_cert).empty() ? ", plaintext" : ", TLS",
      absl::GetFlag(FLAGS_tls_client_ca).empty() ? "" : " with client certificates",
      bulk ? absl::StrCat(", bulk channel on port ", bulk->port()) : "",
      options.fusion ? "" : ", fusion off", ", ", kServerVersion);
  LogEvent(serving);
  // "" is liveness; "ready" says the backend is up and the daemon is not draining.
  server->GetHealthCheckService()->SetServingStatus(kReadinessService, true);
  NotifySystemd(absl::StrCat("READY=1\nSTATUS=", serving));

  std::atomic<bool> stopping{false};
  std::thread watchdog;
  if (const absl::Duration interval = SystemdWatchdogInterval(); interval > absl::ZeroDuration()) {
    // Pings only while the executor makes progress, so a hung kernel gets ferryd restarted.
    watchdog = std::thread([&, interval] {
      while (!stopping.load()) {
        if (executor.StalledFor() < interval) NotifySystemd("WATCHDOG=1");
        absl::SleepFor(std::min(interval / 4, absl::Seconds(1)));
      }
    });
  }

  std::thread waiter([&] {
    unsigned char signal_number = 0;
    while (read(g_stop_pipe[0], &signal_number, 1) < 0 && errno == EINTR) {
    }
    LogEvent(absl::StrCat("got ", signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
                          "; draining in-flight calls for up to ",
                          absl::FormatDuration(options.drain)));
    NotifySystemd("STOPPING=1\nSTATUS=draining in-flight calls");
    server->GetHealthCheckService()->SetServingStatus(false);
    service.Drain();  // open Pipeline streams end once their queued steps ran
    server->Shutdown(std::chrono::system_clock::now() + absl::ToChronoSeconds(options.drain));
  });
  server->Wait();
  waiter.join();
  stopping.store(true);
  if (watchdog.joinable()) watchdog.join();
  LogEvent(absl::StrCat("stopped; ", sessions.num_sessions(), " session(s) were open"));
  // Every call has ended. Tearing gRPC down from here (grpc_shutdown) waits for its executor
  // thread's poll timeout, about 10 s after a transfer; nothing is left to clean up that the
  // kernel does not (memory, sockets, shared-memory mappings), so exit now.
  std::fflush(nullptr);
  std::_Exit(0);
}

}  // namespace
}  // namespace ferry::server

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "ferryd: runs ferry graphs for remote clients over gRPC.\n"
      "  ferryd --listen=0.0.0.0:7070 --max_memory=8G");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  // gRPC's socket read buffers are allocated per read, and past glibc's mmap threshold
  // each was a fresh mapping whose pages faulted and were zeroed on every transfer (15% of
  // an upload's profile). Serve those from the heap and keep freed memory for reuse.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  // Without NDEBUG, absl::Mutex checks every lock for deadlock cycles, which showed up in
  // profiles of small evals (GraphCycles::GetId); the tests exercise the locking instead.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  if (positional.size() > 1) {
    return ferry::server::Fail(
        absl::StrCat("unexpected argument \"", positional[1], "\": ferryd takes only flags"));
  }
  return ferry::server::Run();
}
