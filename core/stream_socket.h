#ifndef FERRY_CORE_STREAM_SOCKET_H_
#define FERRY_CORE_STREAM_SOCKET_H_

// Whole byte runs and length-prefixed messages over a blocking stream socket: the bulk
// channel's framing (proto/ferry/v1/ferry.proto, "Bulk channel"), shared by the client and
// ferryd. A message is its little-endian uint32 length, then its bytes.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"

namespace ferry::core {

// What a client sends first, before its BulkHello.
inline constexpr char kBulkMagic[8] = {'F', 'E', 'R', 'R', 'Y', 'B', 'K', '1'};
// No hello, request or answer comes near this; a larger length means a broken peer.
inline constexpr uint32_t kMaxBulkMessageBytes = 1 << 20;

// Sends all `bytes` (short writes and EINTR retried; never SIGPIPE). UNAVAILABLE naming
// how far it got when the peer is gone.
absl::Status SendAll(int fd, const void* data, size_t bytes);
// Receives exactly `bytes`. UNAVAILABLE naming how far it got on end of stream or error
// (DEADLINE_EXCEEDED when the socket's receive timeout ran out).
absl::Status ReceiveAll(int fd, void* data, size_t bytes);

// A TCP connection to host:port (the first address it resolves to that answers) within
// `timeout`, blocking, with TCP_NODELAY; UNAVAILABLE naming host, port and why otherwise.
// The caller owns the descriptor.
absl::StatusOr<int> ConnectTcp(const std::string& host, const std::string& port,
                               absl::Duration timeout);

// Has the kernel probe the connection on `fd` once it is silent for `idle` (at least 1 s),
// and end it (reads and writes then fail) when three probes over as long again go
// unanswered: a host that vanished without a reset (power, a partition) would otherwise
// leave a blocked receive waiting forever. Zero: the kernel's default (2 hours).
void KeepAlive(int fd, absl::Duration idle);

// A connected stream of bytes over the socket `fd` (which it does not own): plain, or TLS
// (core/tls_stream.h) where the gRPC port speaks TLS.
class ByteStream {
 public:
  explicit ByteStream(int fd) : fd_(fd) {}
  virtual ~ByteStream() = default;
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  int fd() const { return fd_; }
  // As SendAll and ReceiveAll, over this stream.
  virtual absl::Status Send(const void* data, size_t bytes) { return SendAll(fd_, data, bytes); }
  virtual absl::Status Receive(void* data, size_t bytes) { return ReceiveAll(fd_, data, bytes); }
  // Whether received bytes wait to be read here (TLS decrypts whole records), which a poll
  // of fd() would not see.
  virtual bool Buffered() const { return false; }
  // Whether one thread may Send while another Receives (a plain socket may; a TLS session's
  // state is shared by both directions).
  virtual bool FullDuplex() const { return true; }

 private:
  const int fd_;
};

absl::Status SendMessage(ByteStream& stream, const google::protobuf::MessageLite& message);
// INVALID_ARGUMENT when the length passes kMaxBulkMessageBytes or the bytes do not parse.
absl::Status ReceiveMessage(ByteStream& stream, google::protobuf::MessageLite* message);
// The same on a plain socket.
absl::Status SendMessage(int fd, const google::protobuf::MessageLite& message);
absl::Status ReceiveMessage(int fd, google::protobuf::MessageLite* message);

}  // namespace ferry::core

#endif  // FERRY_CORE_STREAM_SOCKET_H_
