#ifndef FERRY_SERVER_FLAGS_H_
#define FERRY_SERVER_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "server/byte_size.h"
#include "server/server_options.h"

// ferryd's flags, each defined once in flags.cc where its help text lives.
ABSL_DECLARE_FLAG(std::string, listen);
ABSL_DECLARE_FLAG(std::string, port_file);
ABSL_DECLARE_FLAG(std::string, backend);
ABSL_DECLARE_FLAG(int32_t, device);
ABSL_DECLARE_FLAG(bool, allow_tf32);
ABSL_DECLARE_FLAG(ferry::server::ByteSize, max_memory);
ABSL_DECLARE_FLAG(std::string, upload_cache);
ABSL_DECLARE_FLAG(std::string, upload_cache_dir);
ABSL_DECLARE_FLAG(ferry::server::ByteSize, upload_cache_disk);
ABSL_DECLARE_FLAG(int64_t, lease_seconds);
ABSL_DECLARE_FLAG(ferry::server::ByteSize, chunk_bytes);
ABSL_DECLARE_FLAG(ferry::server::ByteSize, max_inline_bytes);
ABSL_DECLARE_FLAG(ferry::server::ByteSize, max_message_bytes);
ABSL_DECLARE_FLAG(int32_t, bulk_port);
ABSL_DECLARE_FLAG(int64_t, max_graph_nodes);
ABSL_DECLARE_FLAG(int64_t, graph_cache_size);
ABSL_DECLARE_FLAG(int64_t, drain_seconds);
// Operations: metrics, logs, TLS and tokens.
ABSL_DECLARE_FLAG(int32_t, metrics_port);
ABSL_DECLARE_FLAG(std::string, log_level);
ABSL_DECLARE_FLAG(std::string, tls_cert);
ABSL_DECLARE_FLAG(std::string, tls_key);
ABSL_DECLARE_FLAG(std::string, tls_client_ca);
ABSL_DECLARE_FLAG(std::string, peer_ca);
ABSL_DECLARE_FLAG(std::string, peer_networks);
ABSL_DECLARE_FLAG(std::string, auth_tokens_file);

namespace ferry::server {

// The ServerOptions the parsed flags describe, or INVALID_ARGUMENT naming the flag that is
// out of range. --max_memory=0 (the default) means half of this machine's RAM.
absl::StatusOr<ServerOptions> OptionsFromFlags();

}  // namespace ferry::server

#endif  // FERRY_SERVER_FLAGS_H_
