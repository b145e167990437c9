#ifndef FERRY_CLIENT_LM_SERVER_HTTP_SERVER_H_
#define FERRY_CLIENT_LM_SERVER_HTTP_SERVER_H_

// A small HTTP/1.1 server for ferry_lm_server's OpenAI-style API: one thread per connection,
// keep-alive, Content-Length request bodies (with `Expect: 100-continue`, as curl sends for
// larger bodies), whole responses and server-sent event streams. What it refuses gets a
// status naming why (400, 404 from the handler, 411, 413, 431, 501, 503), never a crash.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace ferry::lm::server {

struct HttpRequest {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // the target without its query ("/v1/completions")
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// How a handler answers: one Send, or StartEvents then SendEvent calls (the connection
// closes after an event stream).
class HttpResponder {
 public:
  explicit HttpResponder(int fd, bool keep_alive) : fd_(fd), keep_alive_(keep_alive) {}
  // The whole response. False when the client is gone.
  bool Send(int status, const std::string& content_type, const std::string& body);
  // A text/event-stream response's headers; then each SendEvent writes "data: <data>\n\n".
  // False when the client is gone (a generation then stops).
  bool StartEvents();
  bool SendEvent(const std::string& data);
  bool answered() const { return answered_; }
  bool keep_alive() const { return keep_alive_ && !events_; }

 private:
  bool Write(const std::string& bytes);
  const int fd_;
  const bool keep_alive_;
  bool answered_ = false;
  bool events_ = false;
};

struct HttpServerOptions {
  // host:port ("127.0.0.1:8080", "[::]:0"; port 0: any free one, HttpServer::port says).
  std::string address = "127.0.0.1:8080";
  size_t max_header_bytes = 64 << 10;
  size_t max_body_bytes = 16 << 20;
  int max_connections = 64;
  int idle_timeout_seconds = 120;  // a connection silent this long is closed
};

class HttpServer {
 public:
  using Handler = std::function<void(const HttpRequest&, HttpResponder&)>;

  // Listens on options.address and serves each request with `handler`, from the connection's
  // thread (handlers may run concurrently). UNAVAILABLE naming the address when it cannot
  // listen (server/tcp_listener.h).
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           Handler handler);
  ~HttpServer();  // Shutdown()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting, ends every connection (a handler's next write fails) and waits for
  // their threads.
  void Shutdown();

 private:
  HttpServer(const HttpServerOptions& options, Handler handler, int listen_fd, int port);
  void Accept();
  void Serve(int fd);
  // Reads one request; false when the connection should close (after answering any error).
  bool ReadRequest(int fd, std::string& buffer, HttpRequest& request, bool& keep_alive);

  const HttpServerOptions options_;
  const Handler handler_;
  const int listen_fd_;
  const int port_;
  std::atomic<bool> stopping_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::vector<int> open_fds_;  // guarded by mu_
  int active_ = 0;             // connection threads running (detached), guarded by mu_
};

// An error's JSON body as OpenAI's API words one: {"error": {"message", "type"}}.
std::string ErrorBody(const std::string& message);

// "OK", "Not Found", ... for the statuses this server and its handlers send.
const char* ReasonPhrase(int status);

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_HTTP_SERVER_H_
