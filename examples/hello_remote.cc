// The smallest ferry program, and the one the CMake build (a Mac's) makes: a layer evaluated
// on a ferryd and checked against the same layer on the local device. It needs only the
// client library.
//
//   hello_remote gpu-node-0:7070     # a running ferryd
//   hello_remote                     # FERRY_DEVICE's ferryd, or the local device alone

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "client/ferry.h"

namespace {

// relu(x @ w + 1) of fixed inputs on `device`, as host floats.
std::vector<float> Layer(const ferry::Device& device) {
  ferry::Array x =
      ferry::random::normal({64, 256}, ferry::float32, 0, 1, ferry::random::key(1), device);
  ferry::Array w =
      ferry::random::normal({256, 128}, ferry::float32, 0, 0.1, ferry::random::key(2), device);
  ferry::Array y = ferry::relu(ferry::matmul(x, w) + 1.0f);
  y.eval();
  return y.to_vector<float>();
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::vector<float> local = Layer(ferry::local());
    ferry::Device remote = argc >= 2 ? ferry::connect(argv[1]) : ferry::device_from_environment();
    if (remote == ferry::local()) {
      std::printf("local: %zu values, first %.6f\n", local.size(), local[0]);
      return 0;
    }
    std::printf("connected: %s\n", remote.description().c_str());
    const std::vector<float> there = Layer(remote);
    double worst = 0;
    for (size_t i = 0; i < local.size(); ++i) {
      worst = std::fmax(worst, std::fabs(there[i] - local[i]));
    }
    std::printf("remote: %zu values, largest difference from local %.3g\n", there.size(), worst);
    return worst <= 1e-4 ? 0 : 1;
  } catch (const ferry::Error& error) {
    std::fprintf(stderr, "hello_remote: %s\n", error.what());
    return 2;
  }
}
