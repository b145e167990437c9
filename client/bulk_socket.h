#ifndef FERRY_CLIENT_BULK_SOCKET_H_
#define FERRY_CLIENT_BULK_SOCKET_H_

// Internal to the client library: a session's bulk channel (feature "bulk_tcp"; the wire
// format is in ferry.proto, "Bulk channel").

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/stream_socket.h"
#include "core/tls_stream.h"
#include "proto/ferry/v1/ferry.pb.h"

namespace ferry::detail {

// "host" of a gRPC target ("host:port", "[::1]:port", "dns:///host:port", "ipv4:..."); none
// for targets without one (unix sockets).
std::optional<std::string> TargetHost(const std::string& target);

// One TCP connection (in TLS beside a TLS gRPC channel) to ferryd's bulk port, admitted for one
// session, that carries its large transfers one at a time: an upload goes from the caller's memory
// to the socket, a download from the socket into the reader's memory, with no copy in between.
// Thread-safe (transfers take turns). After a broken connection every call fails with UNAVAILABLE.
class BulkSocket {
 public:
  // Connects to `channel.port` on the host of `target` (or to `address`, "host:port", when
  // not empty) within `timeout`, completes a TLS handshake with `tls` when given (the
  // daemon's certificate must name the host of `target`, as for gRPC), and presents the
  // session's ticket. Null, with the reason in `why`, when that fails. The connection is
  // probed once silent for `keepalive` (core::KeepAlive), so a vanished daemon ends it.
  static std::unique_ptr<BulkSocket> Connect(const std::string& target, const std::string& address,
                                             const v1::BulkChannel& channel,
                                             const std::string& session_id,
                                             std::chrono::milliseconds timeout,
                                             std::chrono::milliseconds keepalive,
                                             const core::TlsContext* tls, std::string* why);
  ~BulkSocket();
  BulkSocket(const BulkSocket&) = delete;
  BulkSocket& operator=(const BulkSocket&) = delete;

  // Makes `request.total_bytes()` bytes at `data` a resident buffer of the session, as
  // `request` (buffer_id, spec, total_bytes) describes, after releasing `releases`; the
  // daemon's error otherwise. With resume_offset, only the bytes from there on go (the
  // daemon kept those before). `for_pipeline`: returns once the bytes are sent, without an
  // answer (a PipelineUpload step with bulk_channel takes the buffer).
  absl::Status Upload(const v1::UploadRequest& request, const char* data,
                      const std::vector<uint64_t>& releases, bool for_pipeline);
  // The answer to a query `request` (resume_query or cache_query set), which sends no
  // bytes: how many bytes of the upload the daemon holds now (see UploadRequest).
  absl::StatusOr<uint64_t> HeldBytes(const v1::UploadRequest& request);
  // The answers to `queries`, all sent before any answer is read: one round trip. At most
  // kMaxQueries at a time (their answers must fit the socket buffers while the rest are
  // sent).
  static constexpr size_t kMaxQueries = 256;
  std::vector<absl::StatusOr<uint64_t>> HeldBytes(const std::vector<v1::UploadRequest>& queries);
  // Reads the resident buffer `buffer_id`, exactly `bytes` long, into `dst`, from byte
  // `*done` on; `*done` counts the bytes in place as they arrive, so a download that broke
  // can go on from there.
  absl::Status Download(uint64_t buffer_id, char* dst, size_t bytes, size_t* done);

  // Whether the connection is gone: it failed a transfer, or, looked at between transfers,
  // the daemon's end closed or reset it (a network change, a daemon restarted).
  bool broken();
  // Ends the connection now, from any thread: a transfer on it fails at once (ferry::cancel).
  void Interrupt();

 private:
  BulkSocket(int fd, std::unique_ptr<core::ByteStream> stream)
      : fd_(fd), stream_(std::move(stream)) {}
  // The answer to a request, or the connection's failure (then the socket is broken).
  absl::Status ReadAnswer(v1::BulkResponse* answer);
  absl::Status Broke(absl::Status status);

  const int fd_;
  std::unique_ptr<core::ByteStream> stream_;  // over fd_: plain or TLS
  mutable std::mutex mu_;
  bool broken_ = false;  // guarded by mu_
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_BULK_SOCKET_H_
