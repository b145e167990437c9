#include "core/tls_stream.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ferry::core {
namespace {

// OpenSSL's queued errors as one line (and the queue cleared).
std::string OpenSslErrors() {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char line[256];
    ERR_error_string_n(code, line, sizeof(line));
    absl::StrAppend(&text, text.empty() ? "" : "; ", line);
  }
  return text.empty() ? "no detail from OpenSSL" : text;
}

// OpenSSL writes to the socket with write(2), which raises SIGPIPE when the peer is gone:
// that would end a client program that does not ignore it. While one is alive, this thread
// holds SIGPIPE blocked, and one raised meanwhile is taken off the queue (the write fails
// with EPIPE, which is all the caller needs). macOS has no sigtimedwait, and needs none: its
// sockets carry SO_NOSIGPIPE (core/stream_socket.cc).
#ifdef SO_NOSIGPIPE
class SigpipeBlocked {
 public:
  SigpipeBlocked() = default;
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;
};
#else
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &previous_);
  }
  ~SigpipeBlocked() {
    const int saved_errno = errno;  // the caller's, from the write, outlives this
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      const timespec now{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &now) < 0 && errno == EINTR) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
    errno = saved_errno;
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_, previous_;
  bool was_pending_ = false;
};
#endif

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};

// Every certificate in `pem`, in order; INVALID_ARGUMENT naming `what` when none parses.
absl::StatusOr<std::vector<X509*>> Certificates(const std::string& pem, const char* what) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  std::vector<X509*> certs;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.push_back(cert);
  }
  ERR_clear_error();  // the read past the last certificate
  if (certs.empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": no PEM certificate"));
  return certs;
}

absl::Status Trust(SSL_CTX* ctx, const std::string& pem, const char* what) {
  absl::StatusOr<std::vector<X509*>> certs = Certificates(pem, what);
  if (!certs.ok()) return certs.status();
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (X509* cert : *certs) {
    X509_STORE_add_cert(store, cert);
    X509_free(cert);
  }
  return absl::OkStatus();
}

absl::Status UseIdentity(SSL_CTX* ctx, const std::string& chain, const std::string& key) {
  absl::StatusOr<std::vector<X509*>> certs = Certificates(chain, "certificate chain");
  if (!certs.ok()) return certs.status();
  bool ok = SSL_CTX_use_certificate(ctx, (*certs)[0]) == 1;
  X509_free((*certs)[0]);
  for (size_t i = 1; i < certs->size(); ++i) {
    // add_extra_chain_cert takes ownership on success.
    if (ok && SSL_CTX_add_extra_chain_cert(ctx, (*certs)[i]) == 1) continue;
    X509_free((*certs)[i]);
    ok = false;
  }
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(key.data(), static_cast<int>(key.size())));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  ok = ok && pkey != nullptr && SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
       SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(pkey);
  if (!ok) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS certificate or key not usable: ", OpenSslErrors()));
  }
  return absl::OkStatus();
}

// Bytes over an established TLS connection. SSL_read and SSL_write are each used by one
// thread at a time (the bulk channel's transfers take turns on a connection).
class TlsStream : public ByteStream {
 public:
  TlsStream(int fd, SSL* ssl) : ByteStream(fd), ssl_(ssl) {}
  ~TlsStream() override {
    SigpipeBlocked quiet;
    SSL_shutdown(ssl_);  // best effort: the peer may be gone
    SSL_free(ssl_);
  }

  absl::Status Send(const void* data, size_t bytes) override {
    SigpipeBlocked quiet;
    const char* at = static_cast<const char*>(data);
    return Whole("send", bytes,
                 [&](size_t done, int run) { return SSL_write(ssl_, at + done, run); });
  }

  absl::Status Receive(void* data, size_t bytes) override {
    char* at = static_cast<char*>(data);
    return Whole("receive", bytes,
                 [&](size_t done, int run) { return SSL_read(ssl_, at + done, run); });
  }

  bool Buffered() const override { return SSL_pending(ssl_) > 0; }
  bool FullDuplex() const override { return false; }

 private:
  // Repeats `step(bytes done so far, run)` (an SSL_write or SSL_read of up to `run` bytes)
  // until all `bytes` are done; the error says how far it got.
  template <typename Step>
  absl::Status Whole(const char* what, size_t bytes, Step step) {
    for (size_t done = 0; done < bytes;) {
      const int n = step(done, static_cast<int>(std::min<size_t>(bytes - done, INT_MAX / 2)));
      if (n <= 0) return Broken(what, done, bytes, n);
      done += static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Broken(const char* what, size_t done, size_t bytes, int result) {
    const int saved_errno = errno;  // before any other call can change it
    const int error = SSL_get_error(ssl_, result);
    std::string why;
    if (error == SSL_ERROR_ZERO_RETURN || (error == SSL_ERROR_SYSCALL && saved_errno == 0)) {
      why = "the peer closed the connection";
    } else if (error == SSL_ERROR_SYSCALL) {
      why = std::strerror(saved_errno);
    } else {
      why = OpenSslErrors();
    }
    ERR_clear_error();
    const std::string at = absl::StrCat("bulk channel (TLS): ", what, " stopped after ", done,
                                        " of ", bytes, " bytes: ", why);
    if (error == SSL_ERROR_SYSCALL && (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
      return absl::DeadlineExceededError(at);
    }
    return absl::UnavailableError(at);
  }

  SSL* const ssl_;
};

absl::StatusOr<std::unique_ptr<ByteStream>> Handshake(SSL* ssl, int fd, bool accept) {
  SSL_set_fd(ssl, fd);
  int result = 0;
  {
    SigpipeBlocked quiet;
    result = accept ? SSL_accept(ssl) : SSL_connect(ssl);
  }
  const int saved_errno = errno;
  if (result == 1) return std::unique_ptr<ByteStream>(new TlsStream(fd, ssl));
  const int error = SSL_get_error(ssl, result);
  std::string why = OpenSslErrors();
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    absl::StrAppend(&why, " (certificate: ", X509_verify_cert_error_string(verify), ")");
  }
  SSL_free(ssl);
  if (error == SSL_ERROR_SYSCALL) {
    return absl::UnavailableError(absl::StrCat(
        "bulk channel: the TLS handshake broke off: ",
        saved_errno == 0 ? "the peer closed the connection" : std::strerror(saved_errno)));
  }
  return absl::UnauthenticatedError(absl::StrCat("bulk channel: TLS handshake refused: ", why));
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(static_cast<SSL_CTX*>(ctx_)); }

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::ForServer(const std::string& cert_chain,
                                                                  const std::string& private_key,
                                                                  const std::string& client_ca) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + OpenSslErrors());
  std::shared_ptr<TlsContext> context(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (absl::Status ok = UseIdentity(ctx, cert_chain, private_key); !ok.ok()) return ok;
  if (!client_ca.empty()) {
    if (absl::Status ok = Trust(ctx, client_ca, "client CA"); !ok.ok()) return ok;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return context;
}

absl::StatusOr<std::shared_ptr<TlsContext>> TlsContext::ForClient(const std::string& root_certs,
                                                                  const std::string& cert_chain,
                                                                  const std::string& private_key) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new: " + OpenSslErrors());
  std::shared_ptr<TlsContext> context(new TlsContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if (root_certs.empty()) {
    SSL_CTX_set_default_verify_paths(ctx);  // the system's roots, as gRPC falls back to
  } else if (absl::Status ok = Trust(ctx, root_certs, "root certificates"); !ok.ok()) {
    return ok;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (!cert_chain.empty()) {
    if (absl::Status ok = UseIdentity(ctx, cert_chain, private_key); !ok.ok()) return ok;
  }
  return context;
}

absl::StatusOr<std::unique_ptr<ByteStream>> TlsContext::Accept(int fd) const {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
  if (ssl == nullptr) return absl::InternalError("SSL_new: " + OpenSslErrors());
  return Handshake(ssl, fd, /*accept=*/true);
}

absl::StatusOr<std::unique_ptr<ByteStream>> TlsContext::Connect(int fd,
                                                                const std::string& host) const {
  SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ctx_));
  if (ssl == nullptr) return absl::InternalError("SSL_new: " + OpenSslErrors());
  // The certificate must name the host dialled, as gRPC checks for its own connection: an
  // IP address against its IP entries, a name against its DNS entries.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  unsigned char address[16];
  const bool is_ip = inet_pton(AF_INET, host.c_str(), address) == 1 ||
                     inet_pton(AF_INET6, host.c_str(), address) == 1;
  const bool named = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1
                           : (SSL_set1_host(ssl, host.c_str()) == 1 &&
                              SSL_set_tlsext_host_name(ssl, host.c_str()) == 1);
  if (!named) {
    SSL_free(ssl);
    return absl::InvalidArgumentError(
        absl::StrCat("bulk channel: cannot check host \"", host, "\": ", OpenSslErrors()));
  }
  return Handshake(ssl, fd, /*accept=*/false);
}

}  // namespace ferry::core
