#ifndef FERRY_SERVER_METRICS_HTTP_H_
#define FERRY_SERVER_METRICS_HTTP_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace ferry::server {

// A minimal HTTP/1.0 server for Prometheus scrapes: GET /metrics answers with `render()`,
// anything else 404. One thread with a normal-sized stack; ferryd links libraries with
// large static TLS (OpenBLAS, CUDA), which overflows the 100 KiB thread stacks of the
// civetweb server prometheus-cpp's exposer would start.
class MetricsHttpServer {
 public:
  // Listens on `address` ("host:port"; port 0 picks one) and serves until destroyed.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& address, std::function<std::string()> render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer(int listen_fd, int port, std::function<std::string()> render);
  void Loop();
  void Answer(int fd);

  const int listen_fd_;
  const int port_;
  const std::function<std::string()> render_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ferry::server

#endif  // FERRY_SERVER_METRICS_HTTP_H_
