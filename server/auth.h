#ifndef FERRY_SERVER_AUTH_H_
#define FERRY_SERVER_AUTH_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tls_stream.h"

namespace ferry::server {

// Bearer tokens: a call must carry "authorization: Bearer <token>" with one of them.
//
// The check runs at the top of every ferry.v1.Ferry handler rather than in an interceptor
// or AuthMetadataProcessor: gRPC 1.51's interceptors cannot fail a call before its handler
// runs, and an AuthMetadataProcessor aborts the process on a plaintext port. The health
// service stays open, so probes need no token.
class TokenAuth {
 public:
  // One token per line; blank lines and lines starting with '#' are skipped, and spaces
  // around a token are trimmed. INVALID_ARGUMENT when the file cannot be read or holds no
  // token, naming the file (never a token).
  static absl::StatusOr<std::unique_ptr<TokenAuth>> FromFile(const std::string& path);

  explicit TokenAuth(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {}

  // OK, or UNAUTHENTICATED saying whether the token was missing or wrong.
  grpc::Status Check(const grpc::ServerContextBase& context) const;
  // Which of the tokens the call carries, for what its sessions share (the upload cache):
  // "token N" for the file's N-th token (from 1), "" when the call carries none of them.
  std::string Holder(const grpc::ServerContextBase& context) const;

 private:
  // The index of the token the call carries, or -1; `*carried`: whether it carries any.
  int Match(const grpc::ServerContextBase& context, bool* carried) const;

  std::vector<std::string> tokens_;
};

// How the daemon's ports are secured, from one reading of the TLS flags' files.
struct TransportSecurity {
  std::shared_ptr<grpc::ServerCredentials> grpc;
  std::shared_ptr<const core::TlsContext> bulk;  // the bulk channel's TLS; null: plain TCP
  // With TLS and --peer_ca: how this daemon opens its links to other daemons' bulk
  // channels (groups), presenting its own certificate; null otherwise.
  std::shared_ptr<const core::TlsContext> peers;
};

// Plaintext for both ports when `cert_file` is empty, else TLS with that certificate chain
// and `key_file`; with `client_ca_file`, clients must present a certificate signed by that
// CA (mTLS); with `peer_ca_file`, links to other daemons check their certificates against
// that CA. INVALID_ARGUMENT naming the flag for an incomplete combination, an unreadable
// file or unusable PEM.
absl::StatusOr<TransportSecurity> MakeTransportSecurity(const std::string& cert_file,
                                                        const std::string& key_file,
                                                        const std::string& client_ca_file,
                                                        const std::string& peer_ca_file = "");

}  // namespace ferry::server

#endif  // FERRY_SERVER_AUTH_H_
