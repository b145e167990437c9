#ifndef FERRY_CORE_TLS_STREAM_H_
#define FERRY_CORE_TLS_STREAM_H_

// TLS over a connected socket with OpenSSL, for the bulk channel beside a TLS gRPC port: the
// same certificates, the same checks (the daemon's certificate against the client's roots
// and the host it dialled; client certificates where the daemon asks for them).

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/stream_socket.h"

namespace ferry::core {

// A TLS configuration (an OpenSSL context), shared by the connections made with it.
class TlsContext {
 public:
  // The daemon's side, from PEM text: its certificate chain and key, and, when `client_ca`
  // is not empty, the CA that client certificates must chain to (then required).
  static absl::StatusOr<std::shared_ptr<TlsContext>> ForServer(const std::string& cert_chain,
                                                               const std::string& private_key,
                                                               const std::string& client_ca);
  // The client's side: the roots the daemon's certificate must chain to (empty: the
  // system's), and an optional client certificate and key.
  static absl::StatusOr<std::shared_ptr<TlsContext>> ForClient(const std::string& root_certs,
                                                               const std::string& cert_chain,
                                                               const std::string& private_key);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // The handshake on `fd` as the daemon (Accept) or as a client of `host` (Connect: a DNS
  // name or an IP address the certificate must name), within the socket's timeouts.
  // UNAUTHENTICATED naming what OpenSSL refused; UNAVAILABLE when the peer went away.
  absl::StatusOr<std::unique_ptr<ByteStream>> Accept(int fd) const;
  absl::StatusOr<std::unique_ptr<ByteStream>> Connect(int fd, const std::string& host) const;

 private:
  explicit TlsContext(void* ctx) : ctx_(ctx) {}
  void* const ctx_;  // SSL_CTX, kept out of this header
};

}  // namespace ferry::core

#endif  // FERRY_CORE_TLS_STREAM_H_
