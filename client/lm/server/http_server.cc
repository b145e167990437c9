#include "client/lm/server/http_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "core/stream_socket.h"
#include "nlohmann/json.hpp"
#include "server/tcp_listener.h"

namespace ferry::lm::server {
std::string ErrorBody(const std::string& message) {
  return nlohmann::json{{"error", {{"message", message}, {"type", "invalid_request_error"}}}}
      .dump();
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

bool HttpResponder::Write(const std::string& bytes) {
  return core::SendAll(fd_, bytes.data(), bytes.size()).ok();
}

bool HttpResponder::Send(int status, const std::string& content_type, const std::string& body) {
  answered_ = true;
  std::string head = absl::StrCat("HTTP/1.1 ", status, " ", ReasonPhrase(status), "\r\n");
  if (!content_type.empty()) absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
  // Browsers' chat front ends call from another origin, as with mlx_lm.server.
  absl::StrAppend(&head, "Access-Control-Allow-Origin: *\r\n",
                  "Access-Control-Allow-Methods: *\r\nAccess-Control-Allow-Headers: *\r\n",
                  "Content-Length: ", body.size(), "\r\n",
                  keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n", "\r\n");
  return Write(head + body);
}

bool HttpResponder::StartEvents() {
  answered_ = true;
  events_ = true;
  return Write(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
      "Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n");
}

bool HttpResponder::SendEvent(const std::string& data) {
  return Write(absl::StrCat("data: ", data, "\n\n"));
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              Handler handler) {
  absl::StatusOr<::ferry::server::TcpListener> listener =
      ::ferry::server::ListenTcp(options.address, "HTTP");
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<HttpServer>(
      new HttpServer(options, std::move(handler), listener->fd, listener->port));
}

HttpServer::HttpServer(const HttpServerOptions& options, Handler handler, int listen_fd, int port)
    : options_(options), handler_(std::move(handler)), listen_fd_(listen_fd), port_(port) {
  acceptor_ = std::thread([this] { Accept(); });
}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Shutdown() {
  if (stopping_.exchange(true)) return;
  shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  acceptor_.join();
  close(listen_fd_);
  std::unique_lock<std::mutex> lock(mu_);
  for (int fd : open_fds_) shutdown(fd, SHUT_RDWR);  // wakes reads; fails writes
  idle_.wait(lock, [this] { return active_ == 0; });
}

void HttpServer::Accept() {
  while (!stopping_) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) continue;
      return;  // shut down
    }
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));  // each event at once
    timeval idle{options_.idle_timeout_seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || active_ >= options_.max_connections) {
      HttpResponder(fd, false).Send(
          503, "application/json",
          ErrorBody(absl::StrCat("the server has ", options_.max_connections,
                                 " connections open; try again later")));
      close(fd);
      continue;
    }
    ++active_;
    open_fds_.push_back(fd);
    std::thread([this, fd] { Serve(fd); }).detach();
  }
}

void HttpServer::Serve(int fd) {
  std::string buffer;
  HttpRequest request;
  bool keep_alive = true;
  while (!stopping_ && ReadRequest(fd, buffer, request, keep_alive)) {
    HttpResponder responder(fd, keep_alive);
    handler_(request, responder);
    if (!responder.answered()) {
      responder.Send(500, "application/json", ErrorBody("the handler gave no answer"));
    }
    if (!responder.keep_alive()) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
  close(fd);
  --active_;
  idle_.notify_all();  // under the lock: Shutdown may destroy this server once it is released
}

bool HttpServer::ReadRequest(int fd, std::string& buffer, HttpRequest& request, bool& keep_alive) {
  auto refuse = [&](int status, const std::string& message) {
    HttpResponder(fd, false).Send(status, "application/json", ErrorBody(message));
    return false;
  };
  size_t end;
  while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
    if (buffer.size() > options_.max_header_bytes) {
      return refuse(
          431, absl::StrCat("the request's headers pass ", options_.max_header_bytes, " bytes"));
    }
    char chunk[16384];
    const ssize_t got = recv(fd, chunk, sizeof(chunk), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;  // closed, idle too long, or shut down
    buffer.append(chunk, static_cast<size_t>(got));
  }
  if (end > options_.max_header_bytes) {
    return refuse(431,
                  absl::StrCat("the request's headers pass ", options_.max_header_bytes, " bytes"));
  }
  const std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(buffer).substr(0, end), "\r\n");
  const std::vector<absl::string_view> start = absl::StrSplit(lines[0], ' ');
  if (start.size() != 3 || !absl::StartsWith(start[2], "HTTP/1.")) {
    return refuse(400, "the request line is not \"METHOD /path HTTP/1.1\"");
  }
  request.method = std::string(start[0]);
  const absl::string_view target = start[1];
  request.path = std::string(target.substr(0, target.find('?')));
  request.headers.clear();
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == absl::string_view::npos) return refuse(400, "a header line has no ':'");
    request.headers[absl::AsciiStrToLower(absl::StripAsciiWhitespace(lines[i].substr(0, colon)))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  buffer.erase(0, end + 4);
  const auto header = [&](const char* name) -> std::string {
    auto it = request.headers.find(name);
    return it == request.headers.end() ? "" : absl::AsciiStrToLower(it->second);
  };
  // HTTP/1.1 keeps the connection by default, 1.0 closes it unless asked.
  keep_alive = start[2] == "HTTP/1.1" ? header("connection") != "close"
                                      : header("connection") == "keep-alive";
  if (!header("transfer-encoding").empty()) {
    return refuse(501, "chunked request bodies are not supported; send Content-Length");
  }
  size_t length = 0;
  const std::string content_length = header("content-length");
  if (content_length.empty()) {
    if (request.method == "POST") return refuse(411, "a POST needs a Content-Length header");
  } else if (!absl::SimpleAtoi(content_length, &length)) {
    return refuse(400, absl::StrCat("Content-Length is not a number: ", content_length));
  }
  if (length > options_.max_body_bytes) {
    return refuse(413, absl::StrCat("the body has ", length, " bytes; at most ",
                                    options_.max_body_bytes, " are taken"));
  }
  if (header("expect") == "100-continue" && buffer.size() < length) {
    if (!core::SendAll(fd, "HTTP/1.1 100 Continue\r\n\r\n", 25).ok()) return false;
  }
  request.body = buffer.substr(0, std::min(length, buffer.size()));
  buffer.erase(0, request.body.size());
  if (request.body.size() < length) {
    const size_t have = request.body.size();
    request.body.resize(length);
    if (!core::ReceiveAll(fd, request.body.data() + have, length - have).ok()) return false;
  }
  return true;
}

}  // namespace ferry::lm::server
