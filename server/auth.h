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

 private:
  std::vector<std::string> tokens_;
};

// The daemon's transport credentials: plaintext when `cert_file` is empty, else TLS with that
// certificate chain and `key_file`; with `client_ca_file`, clients must present a
// certificate signed by that CA (mTLS). INVALID_ARGUMENT naming the flag for an incomplete
// combination or an unreadable file.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file);

// The bulk channel's TLS, from the same flags: null when `cert_file` is empty (plaintext,
// as the gRPC port), else the daemon's certificate and key, requiring client certificates
// from `client_ca_file` when given. INVALID_ARGUMENT as MakeServerCredentials.
absl::StatusOr<std::shared_ptr<const core::TlsContext>> MakeBulkTlsContext(
    const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file);

}  // namespace ferry::server

#endif  // FERRY_SERVER_AUTH_H_
