#ifndef FERRY_SERVER_SERVER_OPTIONS_H_
#define FERRY_SERVER_SERVER_OPTIONS_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace ferry::server {

inline constexpr char kServerVersion[] = "ferryd 0.1.0";

// The ferry.v1 protocol versions this daemon speaks (see proto/ferry/v1/CHANGELOG.md).
inline constexpr uint32_t kMinProtocolVersion = 1;
inline constexpr uint32_t kMaxProtocolVersion = 1;

// The daemon's limits, fixed at startup from its flags and reported to every client.
struct ServerOptions {
  int64_t max_memory_bytes = int64_t{1} << 30;  // all resident buffers together
  int64_t max_session_memory_bytes = 0;         // one session's resident buffers; 0: no limit
  int64_t max_sessions = 1024;                  // sessions open at once; 0: no limit
  int64_t upload_cache_bytes = -1;         // --upload_cache; -1: a quarter of the memory budget
  int64_t chunk_bytes = int64_t{1} << 20;  // default Download chunk
  int64_t max_inline_bytes = int64_t{1} << 20;  // largest output returned inline
  int64_t max_graph_nodes = int64_t{1} << 20;
  int64_t max_message_bytes = int64_t{64} << 20;  // gRPC receive limit
  absl::Duration lease = absl::Seconds(300);
  absl::Duration drain = absl::Seconds(30);
  // A client connection silent this long is pinged (gRPC) or probed (the bulk channel's
  // TCP), and dropped when that goes unanswered: a vanished client's session then unpins.
  // As long as the lease, so that a laptop may sleep as long as an idle session may last.
  // Zero: never.
  absl::Duration keepalive = absl::Seconds(300);
  size_t graph_cache_size = 1024;
  bool shared_memory = false;      // same-host transfers through client-registered regions
  bool fusion = true;              // elementwise chains as fused groups (Executor::set_fusion)
  bool device_collectives = true;  // groups' collectives on the backend's own (NCCL)
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_SERVER_OPTIONS_H_
