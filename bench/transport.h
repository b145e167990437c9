#ifndef FERRY_BENCH_TRANSPORT_H_
#define FERRY_BENCH_TRANSPORT_H_

// Pieces of the transport benchmarks the network benchmarks reuse.

#include <memory>
#include <string>
#include <vector>

#include "bench/report.h"
#include "client/ferry.h"
#include "server/ferryd_process.h"

namespace ferry::bench {

// A ferryd from the runfiles on a free loopback port; throws if it cannot start.
std::unique_ptr<server::FerrydProcess> StartBenchFerryd(const Options& options);

// relu(x * 2 + 1) of a 4-element x, evaluated and read back: the smallest useful eval.
std::vector<float> SmallInput();
void SmallEval(const Array& x);

// Median seconds of a grpc.health.v1 Check to `address` on a channel of its own.
double PingSeconds(const std::string& address, int repeats);

// A connected loopback TCP socket pair: the floor under gRPC transfers.
class TcpLoopback {
 public:
  TcpLoopback();
  ~TcpLoopback();
  TcpLoopback(const TcpLoopback&) = delete;
  TcpLoopback& operator=(const TcpLoopback&) = delete;

  // Seconds to send `data` into `sink` (as large) through the connection.
  double Seconds(const std::vector<char>& data, std::vector<char>& sink);

 private:
  int listener_ = -1;
  int sender_ = -1;
  int receiver_ = -1;
};

}  // namespace ferry::bench

#endif  // FERRY_BENCH_TRANSPORT_H_
