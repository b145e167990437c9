#ifndef FERRY_CLIENT_LM_SERVER_HTTP_CLIENT_TESTING_H_
#define FERRY_CLIENT_LM_SERVER_HTTP_CLIENT_TESTING_H_

// For tests: an HTTP/1.1 client over a plain socket, keeping its connection between
// requests, and the events of a text/event-stream body.

#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "core/stream_socket.h"

namespace ferry::lm::server::testing {

struct HttpReply {
  int status = 0;                              // 0: no answer (the connection failed or closed)
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

class HttpConnection {
 public:
  explicit HttpConnection(int port) {
    absl::StatusOr<int> fd = core::ConnectTcp("127.0.0.1", std::to_string(port), absl::Seconds(5));
    fd_ = fd.ok() ? *fd : -1;
  }
  ~HttpConnection() { Close(); }
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  // Sends `raw` as it is (a malformed request, part of one).
  bool Send(const std::string& raw) {
    return fd_ >= 0 && core::SendAll(fd_, raw.data(), raw.size()).ok();
  }
  // Sends `raw`, then reads one reply.
  HttpReply SendRaw(const std::string& raw) { return Send(raw) ? Read() : HttpReply(); }
  HttpReply Request(const std::string& method, const std::string& path,
                    const std::string& body = "") {
    std::string raw = absl::StrCat(method, " ", path, " HTTP/1.1\r\nHost: localhost\r\n");
    if (method == "POST") {
      absl::StrAppend(&raw, "Content-Type: application/json\r\nContent-Length: ", body.size(),
                      "\r\n");
    }
    return SendRaw(absl::StrCat(raw, "\r\n", body));
  }
  // Reads the status line and headers only (an event stream's start).
  HttpReply ReadHead() {
    HttpReply reply;
    size_t end;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return reply;
    }
    const std::vector<std::string> lines = absl::StrSplit(buffer_.substr(0, end), "\r\n");
    buffer_.erase(0, end + 4);
    const std::vector<std::string> start = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
    if (start.size() < 2 || !absl::SimpleAtoi(start[1], &reply.status)) return reply;
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t colon = lines[i].find(':');
      reply.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    return reply;
  }
  // Reads until `text` arrived (part of an event stream); false if the connection ended.
  bool ReadUntil(const std::string& text) {
    while (buffer_.find(text) == std::string::npos) {
      if (!Fill()) return false;
    }
    return true;
  }
  // One reply (past any "100 Continue"): its body by Content-Length, else to the close.
  HttpReply Read() {
    HttpReply reply = ReadHead();
    while (reply.status == 100) reply = ReadHead();
    if (reply.status == 0) return reply;
    auto length = reply.headers.find("content-length");
    size_t n = 0;
    if (length != reply.headers.end() && absl::SimpleAtoi(length->second, &n)) {
      while (buffer_.size() < n && Fill()) {
      }
    } else {
      while (Fill()) {  // no length: the body ends with the connection
      }
      n = buffer_.size();
    }
    reply.body = buffer_.substr(0, n);
    buffer_.erase(0, reply.body.size());
    return reply;
  }

 private:
  bool Fill() {
    char chunk[16384];
    const ssize_t got = fd_ < 0 ? -1 : recv(fd_, chunk, sizeof(chunk), 0);
    if (got <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(got));
    return true;
  }

  int fd_ = -1;
  std::string buffer_;
};

// The data of each "data: ..." event of a text/event-stream body.
inline std::vector<std::string> EventData(const std::string& body) {
  std::vector<std::string> events;
  for (absl::string_view event : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&event, "data: ")) events.emplace_back(event);
  }
  return events;
}

}  // namespace ferry::lm::server::testing

#endif  // FERRY_CLIENT_LM_SERVER_HTTP_CLIENT_TESTING_H_
