#include "core/stream_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace ferry::core {
namespace {

// A send to a peer that has gone fails with EPIPE instead of raising SIGPIPE: a flag of each
// send on Linux, an option of the socket on macOS (which has no MSG_NOSIGNAL).
#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;
#endif

// A non-blocking, close-on-exec socket for `address`: one call on Linux, fcntl on macOS.
int OpenSocket(const addrinfo& address) {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  return socket(address.ai_family, address.ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                address.ai_protocol);
#else
  const int fd = socket(address.ai_family, address.ai_socktype, address.ai_protocol);
  if (fd < 0) return fd;
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
#ifdef SO_NOSIGPIPE
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof(one));
#endif
  return fd;
#endif
}

// Connects to one address within `timeout`; -1 with `why` set otherwise.
int ConnectWithin(const addrinfo& address, absl::Duration timeout, std::string* why) {
  const int fd = OpenSocket(address);
  if (fd < 0) {
    *why = std::strerror(errno);
    return -1;
  }
  int error = 0;
  if (connect(fd, address.ai_addr, address.ai_addrlen) != 0) {
    error = errno;
    if (error == EINPROGRESS) {
      pollfd writable{fd, POLLOUT, 0};
      const int ready = poll(&writable, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
      socklen_t length = sizeof(error);
      if (ready <= 0) {
        error = ETIMEDOUT;
      } else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
        error = errno;
      }
    }
  }
  if (error != 0) {
    *why = std::strerror(error);
    close(fd);
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

void KeepAlive(int fd, absl::Duration idle) {
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
  if (idle <= absl::ZeroDuration()) return;
  const int seconds = static_cast<int>(std::max<int64_t>(1, absl::ToInt64Seconds(idle)));
  const int interval = std::max(1, seconds / 3);
  const int probes = 3;
#ifdef TCP_KEEPIDLE
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seconds, sizeof(seconds));
#else  // macOS names the idle time TCP_KEEPALIVE
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPALIVE, &seconds, sizeof(seconds));
#endif
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
}

absl::StatusOr<int> ConnectTcp(const std::string& host, const std::string& port,
                               absl::Duration timeout) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int err = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); err != 0) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host, ": ", gai_strerror(err)));
  }
  int fd = -1;
  std::string why;
  for (addrinfo* a = found; a != nullptr && fd < 0; a = a->ai_next) {
    fd = ConnectWithin(*a, timeout, &why);
  }
  freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to ", host, ":", port, ": ", why));
  }
  return fd;
}

namespace {

absl::Status Broken(const char* what, size_t done, size_t bytes, int error) {
  const std::string why = error == 0 ? "the peer closed the connection" : std::strerror(error);
  const std::string at =
      absl::StrCat("bulk channel: ", what, " stopped after ", done, " of ", bytes, " bytes: ", why);
  if (error == EAGAIN || error == EWOULDBLOCK) return absl::DeadlineExceededError(at);
  return absl::UnavailableError(at);
}

// Repeats `step(bytes done so far)` (a send or recv of the rest) until all `bytes` are
// done, retrying EINTR; the error says how far it got.
template <typename Step>
absl::Status WholeRun(const char* what, size_t bytes, Step step) {
  size_t done = 0;
  while (done < bytes) {
    const ssize_t n = step(done);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return Broken(what, done, bytes, n < 0 ? errno : 0);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SendAll(int fd, const void* data, size_t bytes) {
  const char* at = static_cast<const char*>(data);
  return WholeRun("send", bytes,
                  [&](size_t done) { return ::send(fd, at + done, bytes - done, kSendFlags); });
}

absl::Status ReceiveAll(int fd, void* data, size_t bytes) {
  char* at = static_cast<char*>(data);
  return WholeRun("receive", bytes,
                  [&](size_t done) { return ::recv(fd, at + done, bytes - done, MSG_WAITALL); });
}

absl::Status SendMessage(ByteStream& stream, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  std::string frame(4 + size, '\0');
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  if (!message.SerializeToArray(frame.data() + 4, static_cast<int>(size))) {
    return absl::InternalError("bulk channel: cannot serialize a message");
  }
  return stream.Send(frame.data(), frame.size());
}

absl::Status ReceiveMessage(ByteStream& stream, google::protobuf::MessageLite* message) {
  unsigned char prefix[4];
  if (absl::Status received = stream.Receive(prefix, sizeof(prefix)); !received.ok()) {
    return received;
  }
  const uint32_t size = uint32_t{prefix[0]} | uint32_t{prefix[1]} << 8 | uint32_t{prefix[2]} << 16 |
                        uint32_t{prefix[3]} << 24;
  if (size > kMaxBulkMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat("bulk channel: a message of ", size,
                                                   " bytes; the limit is ", kMaxBulkMessageBytes));
  }
  std::string bytes(size, '\0');
  if (absl::Status received = stream.Receive(bytes.data(), size); !received.ok()) {
    return received;
  }
  if (!message->ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bulk channel: ", size, " bytes that are not a ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

absl::Status SendMessage(int fd, const google::protobuf::MessageLite& message) {
  ByteStream plain(fd);
  return SendMessage(plain, message);
}

absl::Status ReceiveMessage(int fd, google::protobuf::MessageLite* message) {
  ByteStream plain(fd);
  return ReceiveMessage(plain, message);
}

}  // namespace ferry::core
