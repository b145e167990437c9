#include "server/metrics_http.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/stream_socket.h"
#include "server/tcp_listener.h"

namespace ferry::server {
namespace {

// Best effort: a scraper that went away gets nothing.
void Send(int fd, const std::string& bytes) {
  core::SendAll(fd, bytes.data(), bytes.size()).IgnoreError();
}

std::string Reply(const std::string& status, const std::string& type, const std::string& body) {
  return absl::StrCat("HTTP/1.0 ", status, "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, std::function<std::string()> render) {
  absl::StatusOr<TcpListener> listener = ListenTcp(address, "metrics");
  if (!listener.ok()) return listener.status();
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(listener->fd, listener->port, std::move(render)));
}

MetricsHttpServer::MetricsHttpServer(int listen_fd, int port, std::function<std::string()> render)
    : listen_fd_(listen_fd), port_(port), render_(std::move(render)) {
  thread_ = std::thread([this] { Loop(); });
}

MetricsHttpServer::~MetricsHttpServer() {
  stopping_ = true;
  thread_.join();
  close(listen_fd_);
}

void MetricsHttpServer::Loop() {
  while (!stopping_) {
    pollfd ready{listen_fd_, POLLIN, 0};
    if (poll(&ready, 1, 200) <= 0) continue;  // wakes to notice stopping_
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Answer(fd);
    close(fd);
  }
}

void MetricsHttpServer::Answer(int fd) {
  // A slow or silent peer cannot hold the scrape loop for long.
  timeval timeout{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    request.append(buffer, static_cast<size_t>(n));
  }
  const std::string line = request.substr(0, request.find("\r\n"));
  if (absl::StartsWith(line, "GET /metrics ") || line == "GET /metrics") {
    Send(fd, Reply("200 OK", "text/plain; version=0.0.4; charset=utf-8", render_()));
  } else if (absl::StartsWith(line, "GET ")) {
    Send(fd, Reply("404 Not Found", "text/plain", "only /metrics is served here\n"));
  } else {
    Send(fd, Reply("405 Method Not Allowed", "text/plain", "GET /metrics\n"));
  }
}

}  // namespace ferry::server
