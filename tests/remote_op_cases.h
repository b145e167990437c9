#ifndef FERRY_TESTS_REMOTE_OP_CASES_H_
#define FERRY_TESTS_REMOTE_OP_CASES_H_

// What the remote tests build alike on a daemon and on the local device: one computation per
// op and per composite, from seeded inputs, and how the two results are compared.

#include <cstdint>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "client/ferry.h"

namespace ferry::testing {

// Every element as a double (exact for every dtype ferry has).
std::vector<double> Values(Array a);

// Deterministic host data put on one device: the same seed gives the same arrays on both.
class Inputs {
 public:
  Inputs(Device device, uint32_t seed) : device_(std::move(device)), rng_(seed) {}

  const Device& device() const { return device_; }

  Array Uniform(const Shape& shape, Dtype dtype, double low, double high) {
    std::uniform_real_distribution<double> dist(low, high);
    std::vector<double> values(Count(shape));
    for (double& v : values) v = dist(rng_);
    return astype(from_host(values, shape, device_), dtype);
  }

  Array Ints(const Shape& shape, Dtype dtype, int64_t low, int64_t high) {
    std::uniform_int_distribution<int64_t> dist(low, high);
    std::vector<int64_t> values(Count(shape));
    for (int64_t& v : values) v = dist(rng_);
    return astype(from_host(values, shape, device_), dtype);
  }

  Array Bools(const Shape& shape) { return astype(Ints(shape, int32, 0, 1), bool_); }

 private:
  static size_t Count(const Shape& shape) {
    size_t n = 1;
    for (int64_t d : shape) n *= static_cast<size_t>(d);
    return n;
  }

  Device device_;
  std::mt19937 rng_;
};

struct OpCase {
  // Exact for integer, bool and layout results and for float32 elementwise work (the same
  // CPU kernels run on both sides); else within 1e-6 relative.
  bool exact;
  std::function<Array(Inputs&)> build;
};

// One computation per op of core::OpNames(); the keys must cover them all.
const std::map<std::string, OpCase>& CoreOpCases();
// One per composite of ops part B (indexing, sorting, convolution, nn blocks, random).
const std::map<std::string, OpCase>& PartBCompositeCases();
// One per composite of ops part A (the client-side compositions of core ops).
const std::map<std::string, OpCase>& PartACompositeCases();
// The composites of ops part C (trig, tolerance comparisons, triangles, linspace,
// tensordot), several to a case.
const std::map<std::string, OpCase>& PartCCompositeCases();

// Which kernels the daemon runs, against the local device's CPU kernels.
enum class DaemonKernels {
  kCpu,    // the same: exact cases are exact, the others within 1e-6 relative
  kOther,  // another backend's (CUDA): integers and bools exact, floats within their
           // dtype's tolerance (float64 1e-11, float32 1e-5, float16 2e-3, bfloat16 1.6e-2,
           // relative, and absolute near zero)
};

// Builds `op_case` from the same seeded inputs on the local device and on `remote`, and
// expects the same dtype, shape and values.
void ExpectSameOnBothDevices(const OpCase& op_case, const Device& remote, uint32_t seed,
                             DaemonKernels kernels = DaemonKernels::kCpu);

}  // namespace ferry::testing

#endif  // FERRY_TESTS_REMOTE_OP_CASES_H_
