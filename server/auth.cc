#include "server/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/read_file.h"

namespace ferry::server {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

// The file a flag names; a failure is INVALID_ARGUMENT naming the flag.
absl::StatusOr<std::string> ReadFile(const char* flag, const std::string& path) {
  absl::StatusOr<std::string> contents = core::ReadFile(path);
  if (!contents.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", contents.status().message()));
  }
  return contents;
}

// Compares in time that depends only on the lengths, so a caller cannot learn a token
// byte by byte from response times.
bool SameToken(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (size_t i = 0; i < a.size(); ++i) difference |= a[i] ^ b[i];
  return difference == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenAuth>> TokenAuth::FromFile(const std::string& path) {
  absl::StatusOr<std::string> contents = ReadFile("auth_tokens_file", path);
  if (!contents.ok()) return contents.status();
  std::vector<std::string> tokens;
  for (absl::string_view line : absl::StrSplit(*contents, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (!line.empty() && line[0] != '#') tokens.emplace_back(line);
  }
  if (tokens.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--auth_tokens_file=", path, " holds no token (one per line)"));
  }
  return std::make_unique<TokenAuth>(std::move(tokens));
}

int TokenAuth::Match(const grpc::ServerContextBase& context, bool* carried) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  *carried = it != metadata.end();
  if (!*carried) return -1;
  absl::string_view value(it->second.data(), it->second.size());
  int match = -1;
  if (absl::ConsumePrefix(&value, kBearer)) {
    // Every token is compared, so the time says nothing of which one matched.
    for (size_t i = 0; i < tokens_.size(); ++i) {
      if (SameToken(value, tokens_[i])) match = static_cast<int>(i);
    }
  }
  return match;
}

grpc::Status TokenAuth::Check(const grpc::ServerContextBase& context) const {
  bool carried = false;
  if (Match(context, &carried) >= 0) return grpc::Status::OK;
  if (!carried) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "this ferryd requires a bearer token (authorization: Bearer <token>)");
  }
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "the bearer token is not accepted");
}

std::string TokenAuth::Holder(const grpc::ServerContextBase& context) const {
  bool carried = false;
  const int match = Match(context, &carried);
  return match < 0 ? "" : absl::StrCat("token ", match + 1);
}

absl::StatusOr<TransportSecurity> MakeTransportSecurity(const std::string& cert_file,
                                                        const std::string& key_file,
                                                        const std::string& client_ca_file,
                                                        const std::string& peer_ca_file) {
  if (cert_file.empty()) {
    if (!key_file.empty() || !client_ca_file.empty() || !peer_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_key, --tls_client_ca and --peer_ca need --tls_cert (the server's certificate "
          "chain)");
    }
    return TransportSecurity{grpc::InsecureServerCredentials(), nullptr};
  }
  if (key_file.empty()) return absl::InvalidArgumentError("--tls_cert needs --tls_key");
  absl::StatusOr<std::string> cert = ReadFile("tls_cert", cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile("tls_key", key_file);
  if (!key.ok()) return key.status();
  std::string ca;
  if (!client_ca_file.empty()) {
    absl::StatusOr<std::string> read = ReadFile("tls_client_ca", client_ca_file);
    if (!read.ok()) return read.status();
    ca = *std::move(read);
  }
  grpc::SslServerCredentialsOptions options(
      ca.empty() ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
                 : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = ca;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  absl::StatusOr<std::shared_ptr<core::TlsContext>> bulk =
      core::TlsContext::ForServer(*cert, *key, ca);
  if (!bulk.ok()) return bulk.status();
  TransportSecurity security{grpc::SslServerCredentials(options), *std::move(bulk), nullptr};
  if (!peer_ca_file.empty()) {
    absl::StatusOr<std::string> peer_ca = ReadFile("peer_ca", peer_ca_file);
    if (!peer_ca.ok()) return peer_ca.status();
    absl::StatusOr<std::shared_ptr<core::TlsContext>> peers =
        core::TlsContext::ForClient(*peer_ca, *cert, *key);
    if (!peers.ok()) return peers.status();
    security.peers = *std::move(peers);
  }
  return security;
}

}  // namespace ferry::server
