#include "core/stream_socket.h"

#include <errno.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace ferry::core {
namespace {

absl::Status Broken(const char* what, size_t done, size_t bytes, int error) {
  const std::string why = error == 0 ? "the peer closed the connection" : std::strerror(error);
  const std::string at =
      absl::StrCat("bulk channel: ", what, " stopped after ", done, " of ", bytes, " bytes: ", why);
  if (error == EAGAIN || error == EWOULDBLOCK) return absl::DeadlineExceededError(at);
  return absl::UnavailableError(at);
}

}  // namespace

absl::Status SendAll(int fd, const void* data, size_t bytes) {
  const char* at = static_cast<const char*>(data);
  size_t sent = 0;
  while (sent < bytes) {
    ssize_t n = ::send(fd, at + sent, bytes - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return Broken("send", sent, bytes, n < 0 ? errno : 0);
    }
  }
  return absl::OkStatus();
}

absl::Status ReceiveAll(int fd, void* data, size_t bytes) {
  char* at = static_cast<char*>(data);
  size_t received = 0;
  while (received < bytes) {
    ssize_t n = ::recv(fd, at + received, bytes - received, MSG_WAITALL);
    if (n > 0) {
      received += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return Broken("receive", received, bytes, n < 0 ? errno : 0);
    }
  }
  return absl::OkStatus();
}

absl::Status SendMessage(int fd, const google::protobuf::MessageLite& message) {
  const size_t size = message.ByteSizeLong();
  std::string frame(4 + size, '\0');
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  if (!message.SerializeToArray(frame.data() + 4, static_cast<int>(size))) {
    return absl::InternalError("bulk channel: cannot serialize a message");
  }
  return SendAll(fd, frame.data(), frame.size());
}

absl::Status ReceiveMessage(int fd, google::protobuf::MessageLite* message) {
  unsigned char prefix[4];
  if (absl::Status received = ReceiveAll(fd, prefix, sizeof(prefix)); !received.ok()) {
    return received;
  }
  const uint32_t size = uint32_t{prefix[0]} | uint32_t{prefix[1]} << 8 | uint32_t{prefix[2]} << 16 |
                        uint32_t{prefix[3]} << 24;
  if (size > kMaxBulkMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat("bulk channel: a message of ", size,
                                                   " bytes; the limit is ", kMaxBulkMessageBytes));
  }
  std::string bytes(size, '\0');
  if (absl::Status received = ReceiveAll(fd, bytes.data(), size); !received.ok()) return received;
  if (!message->ParseFromString(bytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bulk channel: ", size, " bytes that are not a ", message->GetTypeName()));
  }
  return absl::OkStatus();
}

}  // namespace ferry::core
