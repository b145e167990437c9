#include "server/flags.h"

#include <unistd.h>

#include "absl/flags/flag.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/validate.h"

ABSL_FLAG(std::string, listen, "0.0.0.0:7070",
          "host:port to serve on; port 0 picks a free port (see --port_file)");
ABSL_FLAG(std::string, port_file, "",
          "if set, the bound port is written to this file once the server is serving "
          "(atomically, via rename)");
ABSL_FLAG(std::string, backend, "auto",
          "cpu, cuda, or auto (cuda when this build has it and a GPU is usable, else cpu)");
ABSL_FLAG(int32_t, device, 0, "with --backend=cuda or auto: the CUDA device ordinal to serve");
ABSL_FLAG(bool, allow_tf32, false,
          "with the CUDA backend: let float32 matmul use TF32 tensor cores (faster, about "
          "3 significant digits per product)");
ABSL_FLAG(ferry::server::ByteSize, max_memory, ferry::server::ByteSize{0},
          "memory for all resident buffers and intermediates together, e.g. 512M, 8G; "
          "0: half of this machine's RAM (the CUDA backend: all of the GPU's memory)");
ABSL_FLAG(ferry::server::ByteSize, max_session_memory, ferry::server::ByteSize{0},
          "the most one session may keep resident, e.g. 16G, so that one user cannot take a "
          "shared node's memory; 0: no limit but --max_memory");
ABSL_FLAG(int64_t, max_sessions, 1024,
          "sessions open at once at most: OpenSession past it is refused with "
          "RESOURCE_EXHAUSTED until one closes or an idle one's lease ends; 0: no limit");
ABSL_FLAG(std::string, upload_cache, "auto",
          "memory that uploads' bytes may stay in after their buffers are freed, found again "
          "by content (a client that starts again does not send its weights again), e.g. 4G; "
          "given way when memory is needed; auto: a quarter of --max_memory; 0: off");
ABSL_FLAG(std::string, upload_cache_dir, "",
          "a directory (local disk) where the upload cache also keeps what it holds: entries "
          "then survive a restart of ferryd and outlive their place in memory; empty: none");
ABSL_FLAG(ferry::server::ByteSize, upload_cache_disk, ferry::server::ByteSize{0},
          "the most --upload_cache_dir holds, least recently used removed first; 0: half "
          "the free space of its filesystem at start");
ABSL_FLAG(int64_t, lease_seconds, 300,
          "a session idle this long expires and its buffers are freed");
ABSL_FLAG(int64_t, keepalive_seconds, 300,
          "ping a client connection silent this long during a call and drop it when the ping "
          "goes unanswered (a vanished client's session's lease then runs); 0: never");
ABSL_FLAG(ferry::server::ByteSize, chunk_bytes, ferry::server::ByteSize{1 << 20},
          "default Upload/Download chunk size");
ABSL_FLAG(ferry::server::ByteSize, max_inline_bytes, ferry::server::ByteSize{1 << 20},
          "largest Execute output returned inline in the response");
ABSL_FLAG(ferry::server::ByteSize, max_message_bytes, ferry::server::ByteSize{64 << 20},
          "gRPC receive limit: must cover an upload chunk and the largest graph");
ABSL_FLAG(bool, shared_memory, false,
          "let clients on this host register POSIX shared-memory regions for uploads and "
          "downloads (feature \"shared_memory\")");
ABSL_FLAG(int32_t, bulk_port, 0,
          "port of the bulk channel (TCP beside gRPC for large transfers, feature "
          "\"bulk_tcp\"; in TLS with --tls_cert), on --listen's host; 0: any free port, "
          "-1: off");
ABSL_FLAG(bool, device_collectives, true,
          "run a group's collectives between device memories (NCCL between GPUs) when every "
          "rank's daemon can (feature \"device_collectives\"); false: through host memory");
ABSL_FLAG(bool, fusion, true,
          "run each chain of elementwise ops as one pass over memory (one generated kernel per "
          "group on CUDA); false: every op its own kernel");
ABSL_FLAG(int64_t, max_graph_nodes, 1 << 20, "largest graph Execute accepts, in nodes");
ABSL_FLAG(int64_t, graph_cache_size, 1024, "prepared graphs kept, least recently used out");
ABSL_FLAG(int64_t, drain_seconds, 30,
          "on SIGTERM/SIGINT, how long in-flight calls may take to finish");
ABSL_FLAG(int32_t, metrics_port, 0,
          "serve Prometheus metrics over HTTP at /metrics on this port, on --listen's host; "
          "0: no metrics endpoint");
ABSL_FLAG(std::string, log_level, "info",
          "least severe events logged: debug (adds one line per call), info, warning, error");
ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain: serve gRPC over TLS (needs --tls_key); empty: plaintext");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA certificates: clients must present a certificate they signed (mTLS)");
ABSL_FLAG(std::string, peer_ca, "",
          "PEM CA certificates other daemons' certificates chain to: with --tls_cert, this "
          "daemon joins groups (collectives) and copies arrays to and from other daemons, in "
          "TLS, presenting --tls_cert");
ABSL_FLAG(std::string, peer_networks, "",
          "networks other daemons of a group may be reached at and link from, and copies be "
          "fetched from and to, comma-separated (10.0.0.0/8,fd00::/8); empty: any. Limits "
          "where a client's JoinGroup or copy can have this daemon connect");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "file of bearer tokens, one a line: every ferry.v1 call must carry "
          "'authorization: Bearer <token>' with one of them (health checks need none)");

namespace ferry::server {
namespace {

int64_t HalfOfRam() {
  long pages = sysconf(_SC_PHYS_PAGES);
  long page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return int64_t{1} << 30;
  return static_cast<int64_t>(pages) * page_size / 2;
}

absl::Status AtLeast(const char* flag, int64_t value, int64_t minimum) {
  if (value >= minimum) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, "=", value, " is out of range: it must be at least ", minimum));
}

}  // namespace

absl::StatusOr<ServerOptions> OptionsFromFlags() {
  ServerOptions options;
  options.max_memory_bytes = absl::GetFlag(FLAGS_max_memory).bytes;
  if (options.max_memory_bytes == 0) options.max_memory_bytes = HalfOfRam();
  options.max_session_memory_bytes = absl::GetFlag(FLAGS_max_session_memory).bytes;
  options.max_sessions = absl::GetFlag(FLAGS_max_sessions);
  if (const std::string cache = absl::GetFlag(FLAGS_upload_cache); cache != "auto") {
    absl::StatusOr<int64_t> bytes = ParseByteSize(cache);
    if (!bytes.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--upload_cache=", cache, ": ", bytes.status().message()));
    }
    options.upload_cache_bytes = *bytes;
  }
  options.chunk_bytes = absl::GetFlag(FLAGS_chunk_bytes).bytes;
  options.max_inline_bytes = absl::GetFlag(FLAGS_max_inline_bytes).bytes;
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes).bytes;
  options.max_graph_nodes = absl::GetFlag(FLAGS_max_graph_nodes);
  options.shared_memory = absl::GetFlag(FLAGS_shared_memory);
  options.fusion = absl::GetFlag(FLAGS_fusion);
  options.device_collectives = absl::GetFlag(FLAGS_device_collectives);
  const int64_t lease_seconds = absl::GetFlag(FLAGS_lease_seconds);
  const int64_t drain_seconds = absl::GetFlag(FLAGS_drain_seconds);
  const int64_t keepalive_seconds = absl::GetFlag(FLAGS_keepalive_seconds);
  const int64_t graph_cache_size = absl::GetFlag(FLAGS_graph_cache_size);
  for (absl::Status status : {
           AtLeast("lease_seconds", lease_seconds, 1),
           AtLeast("max_sessions", options.max_sessions, 0),
           AtLeast("drain_seconds", drain_seconds, 0),
           AtLeast("keepalive_seconds", keepalive_seconds, 0),
           AtLeast("chunk_bytes", options.chunk_bytes, 1),
           AtLeast("max_inline_bytes", options.max_inline_bytes, 0),
           AtLeast("max_graph_nodes", options.max_graph_nodes, 1),
           AtLeast("graph_cache_size", graph_cache_size, 1),
           // A chunk and its message header must fit under the receive limit.
           AtLeast("max_message_bytes", options.max_message_bytes, options.chunk_bytes + 64 * 1024),
       }) {
    if (!status.ok()) return status;
  }
  // The executor validates graphs with core's default limits; a larger flag would
  // promise clients graphs it then refuses.
  if (options.max_graph_nodes > core::GraphLimits().max_nodes) {
    return absl::InvalidArgumentError(absl::StrCat("--max_graph_nodes=", options.max_graph_nodes,
                                                   " is out of range: at most ",
                                                   core::GraphLimits().max_nodes));
  }
  if (options.max_message_bytes > int64_t{2047} << 20) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_message_bytes=", options.max_message_bytes,
                     " is out of range: gRPC messages are limited to under 2 GiB"));
  }
  options.lease = absl::Seconds(lease_seconds);
  options.drain = absl::Seconds(drain_seconds);
  options.keepalive = absl::Seconds(keepalive_seconds);
  options.graph_cache_size = static_cast<size_t>(graph_cache_size);
  return options;
}

}  // namespace ferry::server
