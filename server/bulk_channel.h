#ifndef FERRY_SERVER_BULK_CHANNEL_H_
#define FERRY_SERVER_BULK_CHANNEL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/stream_socket.h"
#include "core/tls_stream.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/peer_links.h"
#include "server/session_manager.h"

namespace ferry::server {

// ferryd's bulk channel (feature "bulk_tcp"; the wire format is in ferry.proto, "Bulk
// channel"): a TCP listener beside the gRPC port, speaking TLS when that port does. Each connection
// belongs to one session (its hello names the session and its ticket) and carries that session's
// large uploads and downloads one at a time, between the socket and the tensor's own memory on a
// host-addressable backend (through a 4 MiB staging buffer on a device). A thread per
// connection; a connection whose session closed is answered NOT_FOUND, as gRPC calls are.
// A connection whose hello is a PeerHello is instead a link of a group's ring from another
// daemon, handed to `peers` (server/peer_links.h) for the JoinGroup that expects it; one
// whose hello is a PeerFetch is another daemon fetching a buffer offered to it
// (server/peer_copy.h).
class BulkChannelServer {
 public:
  // What each finished transfer reports: method ("bulk/Upload", "bulk/Download"), status,
  // time taken and bytes in and out (Metrics::RecordCall).
  using Observer =
      std::function<void(absl::string_view method, absl::StatusCode code, absl::Duration latency,
                         int64_t bytes_received, int64_t bytes_sent)>;

  // Listens on `address` ("0.0.0.0:0": any free port) and serves until destroyed; each
  // connection first completes a TLS handshake with `tls` when given, and is probed once
  // silent for `keepalive` (core::KeepAlive).
  static absl::StatusOr<std::unique_ptr<BulkChannelServer>> Start(
      const std::string& address, SessionManager& sessions, kernels::Backend& backend,
      Observer observer = nullptr, std::shared_ptr<const core::TlsContext> tls = nullptr,
      PeerLinks* peers = nullptr, absl::Duration keepalive = absl::Seconds(300));
  ~BulkChannelServer();  // closes the listener and every connection, joins their threads
  BulkChannelServer(const BulkChannelServer&) = delete;
  BulkChannelServer& operator=(const BulkChannelServer&) = delete;

  int port() const { return port_; }

  // Connections served at once; more are closed as they arrive.
  static constexpr int kMaxConnections = 256;

 private:
  struct Connection {
    int fd;
    std::thread thread;
    std::atomic<bool> done{false};
  };

  BulkChannelServer(int listen_fd, int port, SessionManager& sessions, kernels::Backend& backend,
                    Observer observer, std::shared_ptr<const core::TlsContext> tls,
                    PeerLinks* peers, absl::Duration keepalive);
  void AcceptLoop();
  void Serve(int fd);
  // The magic bytes and the hello that follows them.
  absl::StatusOr<v1::BulkHello> ReceiveHello(core::ByteStream& stream);
  // The session the hello names, once its ticket matches; the answer has been sent.
  absl::StatusOr<std::string> Admit(core::ByteStream& stream, const v1::BulkHello& hello);
  // Answers a peer's hello and, when a JoinGroup expects the link, hands it over and waits
  // until its group lets it go (or the channel stops).
  void ServePeer(std::unique_ptr<core::ByteStream> stream, const v1::PeerHello& peer);
  void Release(const std::string& session_id,
               const google::protobuf::RepeatedField<uint64_t>& buffer_ids);
  // False when the connection is broken and must close. `for_pipeline`: no answer; the
  // session's pipeline step takes the result (Session::TakeArrival).
  bool Upload(core::ByteStream& stream, const std::string& session_id,
              const v1::UploadRequest& request, bool for_pipeline);
  bool Download(core::ByteStream& stream, const std::string& session_id,
                const v1::DownloadRequest& request);
  void Observe(absl::string_view method, const absl::Status& status, absl::Time start,
               int64_t received, int64_t sent);

  const int listen_fd_;
  const int port_;
  SessionManager& sessions_;
  kernels::Backend& backend_;
  const Observer observer_;
  const std::shared_ptr<const core::TlsContext> tls_;  // null: plain TCP
  PeerLinks* const peers_;                             // null: no group links
  const absl::Duration keepalive_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::list<std::unique_ptr<Connection>> connections_;  // guarded by mu_
  std::thread acceptor_;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_BULK_CHANNEL_H_
