#include "bench/latency_relay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ferry::bench {
namespace {

using Clock = std::chrono::steady_clock;

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat("[latency_relay] ", what, ": ", std::strerror(errno)));
}

void NoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// Chunks read from one socket, each released for writing once its time has come.
class DelayQueue {
 public:
  void Push(std::string bytes, Clock::time_point due) {
    std::lock_guard<std::mutex> lock(mu_);
    chunks_.push_back({std::move(bytes), due});
    cv_.notify_one();
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_one();
  }
  // The next chunk once due; false when closed and drained.
  bool Pop(std::string* bytes) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return closed_ || !chunks_.empty(); });
    if (chunks_.empty()) return false;
    const Clock::time_point due = chunks_.front().due;
    lock.unlock();
    std::this_thread::sleep_until(due);  // chunks are due in order: only the front waits
    lock.lock();
    *bytes = std::move(chunks_.front().bytes);
    chunks_.pop_front();
    return true;
  }

 private:
  struct Chunk {
    std::string bytes;
    Clock::time_point due;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Chunk> chunks_;
  bool closed_ = false;
};

}  // namespace

// One direction of the link every connection shares: a chunk goes once the link has
// carried those before it at the set rate.
class LatencyRelay::Pacer {
 public:
  void set_rate(int64_t bytes_per_second) { rate_.store(bytes_per_second); }
  void Wait(size_t bytes) {
    const int64_t rate = rate_.load();
    if (rate <= 0) return;
    Clock::time_point sent;
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_ = std::max(free_, Clock::now()) +
              std::chrono::nanoseconds(static_cast<int64_t>(1e9 * bytes / rate));
      sent = free_;
    }
    std::this_thread::sleep_until(sent);
  }

 private:
  std::atomic<int64_t> rate_{0};
  std::mutex mu_;
  Clock::time_point free_;
};

namespace {

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

// Two sockets and, per direction, a reader that timestamps chunks and a writer that sends
// them when due.
struct LatencyRelay::Connection {
  int client_fd;
  int server_fd;
  DelayQueue up, down;
  std::vector<std::thread> threads;

  // Set once CutAfter's budget ran out here: the client's end is shut, the daemon's left
  // open and silent.
  std::atomic<bool> cut{false};

  Connection(int client, int server, std::chrono::microseconds delay,
             std::shared_ptr<std::atomic<bool>> partitioned,
             std::shared_ptr<std::atomic<int64_t>> cut_budget, std::shared_ptr<Pacer> upward,
             std::shared_ptr<Pacer> downward)
      : client_fd(client), server_fd(server) {
    threads.emplace_back([this, delay, partitioned, cut_budget] {
      Read(client_fd, up, delay, *partitioned, *cut_budget);
    });
    threads.emplace_back([this, upward] { Write(up, server_fd, *upward); });
    threads.emplace_back([this, delay, partitioned, cut_budget] {
      Read(server_fd, down, delay, *partitioned, *cut_budget);
    });
    threads.emplace_back([this, downward] { Write(down, client_fd, *downward); });
  }
  ~Connection() {
    shutdown(client_fd, SHUT_RDWR);
    shutdown(server_fd, SHUT_RDWR);
    up.Close();
    down.Close();
    for (std::thread& t : threads) t.join();
    close(client_fd);
    close(server_fd);
  }

  void Read(int fd, DelayQueue& queue, std::chrono::microseconds delay,
            const std::atomic<bool>& partitioned, std::atomic<int64_t>& cut_budget) {
    std::string buffer(1 << 20, '\0');
    while (true) {
      ssize_t n = recv(fd, buffer.data(), buffer.size(), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (partitioned.load() || cut.load()) continue;  // dropped: the sender is never blocked
      if (cut_budget.load() >= 0 && cut_budget.fetch_sub(n) <= n) {
        cut_budget.store(-1);
        cut.store(true);
        shutdown(client_fd, SHUT_RDWR);
        continue;
      }
      queue.Push(buffer.substr(0, static_cast<size_t>(n)), Clock::now() + delay);
    }
    // Passes the end on (not across a partition, nor to the daemon's end of a cut).
    if (!partitioned.load() && !(cut.load() && fd == client_fd)) queue.Close();
  }

  // Sends chunks as they come due; at the end, passes the half-close on.
  void Write(DelayQueue& queue, int fd, Pacer& pacer) {
    std::string chunk;
    while (queue.Pop(&chunk)) {
      pacer.Wait(chunk.size());
      if (!WriteAll(fd, chunk.data(), chunk.size())) break;
    }
    shutdown(fd, SHUT_WR);
  }
};

absl::StatusOr<std::unique_ptr<LatencyRelay>> LatencyRelay::Start(
    int target_port, std::chrono::microseconds one_way_delay) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    absl::Status status = Errno("listen");
    close(fd);
    return status;
  }
  return std::unique_ptr<LatencyRelay>(
      new LatencyRelay(fd, ntohs(addr.sin_port), target_port, one_way_delay));
}

LatencyRelay::LatencyRelay(int listen_fd, int port, int target_port,
                           std::chrono::microseconds delay)
    : listen_fd_(listen_fd),
      port_(port),
      target_port_(target_port),
      delay_(delay),
      upward_(std::make_shared<Pacer>()),
      downward_(std::make_shared<Pacer>()) {
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

LatencyRelay::~LatencyRelay() {
  stopping_ = true;
  accept_thread_.join();
  close(listen_fd_);
  std::lock_guard<std::mutex> lock(mu_);
  connections_.clear();
}

void LatencyRelay::ResetConnections() {
  std::lock_guard<std::mutex> lock(mu_);
  connections_.clear();  // each shuts both its sockets and joins its threads
}

void LatencyRelay::LimitBandwidth(int64_t bytes_per_second) {
  upward_->set_rate(bytes_per_second);
  downward_->set_rate(bytes_per_second);
}

std::string LatencyRelay::address() const { return absl::StrCat("127.0.0.1:", port_); }

void LatencyRelay::AcceptLoop() {
  while (!stopping_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;  // wakes up to notice stopping_
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(target_port_));
    if (server < 0 || connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      if (server >= 0) close(server);
      close(client);
      continue;
    }
    NoDelay(client);
    NoDelay(server);
    std::lock_guard<std::mutex> lock(mu_);
    connections_.push_back(std::make_unique<Connection>(client, server, delay_, partitioned_,
                                                        cut_budget_, upward_, downward_));
  }
}

}  // namespace ferry::bench
