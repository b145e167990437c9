#ifndef FERRY_BENCH_TRANSPORT_H_
#define FERRY_BENCH_TRANSPORT_H_

// Pieces of the transport benchmarks the network benchmarks reuse.

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/report.h"
#include "client/ferry.h"
#include "core/stream_socket.h"
#include "core/tls_stream.h"
#include "server/ferryd_process.h"

namespace ferry::bench {

// A ferryd from the runfiles on a free loopback port, with `flags` added; throws if it
// cannot start.
std::unique_ptr<server::FerrydProcess> StartBenchFerryd(const Options& options,
                                                        std::vector<std::string> flags = {});

// relu(x * 2 + 1) of a 4-element x, evaluated and read back: the smallest useful eval.
std::vector<float> SmallInput();
void SmallEval(const Array& x);

// Median seconds of a grpc.health.v1 Check to `address` on a channel of its own.
double PingSeconds(const std::string& address, int repeats);

// A connected loopback TCP socket pair with a receiver thread: the floor under ferry's
// transfers. A transfer is what an upload is at its leanest: a size, the bytes, received
// whole into memory the receiver reuses, and a one-byte acknowledgement. With TLS contexts,
// the same over an OpenSSL session of the pair (the floor under TLS transfers).
class TcpLoopback {
 public:
  TcpLoopback(const core::TlsContext* server_tls = nullptr,
              const core::TlsContext* client_tls = nullptr);
  ~TcpLoopback();
  TcpLoopback(const TcpLoopback&) = delete;
  TcpLoopback& operator=(const TcpLoopback&) = delete;

  // Seconds to send `data` into `sink` (as large) and have it acknowledged.
  double Seconds(const std::vector<char>& data, std::vector<char>& sink);

 private:
  void Receive();

  int listener_ = -1;
  int sender_ = -1;
  int receiver_ = -1;
  std::unique_ptr<core::ByteStream> send_stream_, receive_stream_;
  std::atomic<char*> sink_{nullptr};
  std::thread receiver_thread_;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_TRANSPORT_H_
