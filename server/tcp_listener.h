#ifndef FERRY_SERVER_TCP_LISTENER_H_
#define FERRY_SERVER_TCP_LISTENER_H_

#include <string>

#include "absl/status/statusor.h"

namespace ferry::server {

// A listening TCP socket beside gRPC's (metrics, the bulk channel).
struct TcpListener {
  int fd = -1;
  int port = 0;  // the bound port: the one asked for, or the one the kernel picked for 0
};

// Listens on `address` ("0.0.0.0:9464", "[::]:0", "127.0.0.1:0"; port 0 picks a free one).
// `what` names the listener in errors: INVALID_ARGUMENT "<what> address 'x' is not
// host:port", UNAVAILABLE "cannot serve <what> on x: Address already in use".
absl::StatusOr<TcpListener> ListenTcp(const std::string& address, const std::string& what);

// Writes `port` and a newline to `path` (a --port_file: how tests and scripts learn the port
// a server picked), beside it first and renamed over it, so a reader never sees half a number.
absl::Status WritePortFile(const std::string& path, int port);

}  // namespace ferry::server

#endif  // FERRY_SERVER_TCP_LISTENER_H_
