#include "bench/latency_relay.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

namespace ferry::bench {
namespace {

// An echo server on a free loopback port, serving one connection.
class EchoServer {
 public:
  EchoServer() {
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listener_, 1), 0);
    EXPECT_EQ(getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      int fd = accept(listener_, nullptr, nullptr);
      char buffer[4096];
      ssize_t n;
      while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) send(fd, buffer, n, MSG_NOSIGNAL);
      close(fd);
    });
  }
  ~EchoServer() {
    thread_.join();
    close(listener_);
  }
  int port() const { return port_; }

 private:
  int listener_;
  int port_;
  std::thread thread_;
};

int ConnectTo(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  return fd;
}

std::string ReadExactly(int fd, size_t size) {
  std::string out(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = recv(fd, out.data() + got, size - got, 0);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

TEST(LatencyRelayTest, EchoesInOrderAfterTheRoundTrip) {
  EchoServer echo;
  auto relay = LatencyRelay::Start(echo.port(), std::chrono::milliseconds(20));
  ASSERT_TRUE(relay.ok()) << relay.status();
  int fd = ConnectTo((*relay)->port());

  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(send(fd, "ping", 4, 0), 4);
  EXPECT_EQ(ReadExactly(fd, 4), "ping");
  // Held 20 ms each way: the echo cannot come back sooner than 40 ms.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(40));

  // Many sends in a row come back whole and in order.
  std::string sent;
  for (int i = 0; i < 2000; ++i) {
    const std::string chunk = std::to_string(i) + ",";
    ASSERT_EQ(send(fd, chunk.data(), chunk.size(), 0), static_cast<ssize_t>(chunk.size()));
    sent += chunk;
  }
  EXPECT_EQ(ReadExactly(fd, sent.size()), sent);
  shutdown(fd, SHUT_WR);  // the echo server sees EOF and closes; the relay passes it on
  EXPECT_EQ(ReadExactly(fd, 1), "");
  close(fd);
}

TEST(LatencyRelayTest, ALimitedLinkCarriesNoMoreThanItsRate) {
  EchoServer echo;
  auto relay = LatencyRelay::Start(echo.port(), std::chrono::microseconds(0));
  ASSERT_TRUE(relay.ok()) << relay.status();
  (*relay)->LimitBandwidth(1 << 20);  // 1 MiB/s each way
  int fd = ConnectTo((*relay)->port());
  const std::string sent(256 << 10, 'x');
  const auto start = std::chrono::steady_clock::now();
  std::thread writer(
      [&] { ASSERT_EQ(send(fd, sent.data(), sent.size(), 0), static_cast<ssize_t>(sent.size())); });
  EXPECT_EQ(ReadExactly(fd, sent.size()), sent);
  writer.join();
  // 256 KiB at 1 MiB/s: a quarter of a second at least, whole and in order.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(240));
  shutdown(fd, SHUT_RDWR);
  close(fd);
  relay->reset();
}

TEST(LatencyRelayTest, APartitionDropsBytesAndKeepsTheConnectionOpen) {
  EchoServer echo;
  auto relay = LatencyRelay::Start(echo.port(), std::chrono::microseconds(0));
  ASSERT_TRUE(relay.ok()) << relay.status();
  int fd = ConnectTo((*relay)->port());
  ASSERT_EQ(send(fd, "ping", 4, 0), 4);
  EXPECT_EQ(ReadExactly(fd, 4), "ping");

  (*relay)->Partition();
  ASSERT_EQ(send(fd, "lost", 4, 0), 4);  // accepted, never delivered
  timeval wait{0, 300 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  char byte;
  // Nothing comes back, and the connection is not closed either: the receive times out.
  EXPECT_EQ(recv(fd, &byte, 1, 0), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK) << errno;
  shutdown(fd, SHUT_RDWR);  // lets the echo server's connection end with the relay's
  close(fd);
  relay->reset();  // closes the relay's side, so the echo server sees its end
}

}  // namespace
}  // namespace ferry::bench
