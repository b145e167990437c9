#ifndef FERRY_TESTS_FERRYD_TESTING_H_
#define FERRY_TESTS_FERRYD_TESTING_H_

// Helpers for the ferryd_*_test.cc tests: they talk to a real ferryd over loopback through
// the raw generated stub, so every request is exactly what the test wrote.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "server/ferryd_process.h"

namespace ferry::testing {

// A ferryd from this test's runfiles, started with `flags`; fails the test if it cannot.
std::unique_ptr<server::FerrydProcess> StartFerryd(std::vector<std::string> flags = {});

std::unique_ptr<v1::Ferry::Stub> Connect(const std::string& address);

// A new session speaking protocol 1; fails the test if it cannot be opened.
std::string OpenSession(v1::Ferry::Stub& stub);

// Uploads `data` as buffer `buffer_id` in chunks of `chunk_bytes`, declaring `total_bytes`
// (-1: data.size()).
grpc::Status Upload(v1::Ferry::Stub& stub, const std::string& session, uint64_t buffer_id,
                    const v1::TensorSpec& spec, const std::string& data,
                    size_t chunk_bytes = 1 << 20, int64_t total_bytes = -1);

// Downloads buffer `buffer_id` into `data` (and its spec into `spec` when given), checking
// that offsets are contiguous and end at total_bytes.
grpc::Status Download(v1::Ferry::Stub& stub, const std::string& session, uint64_t buffer_id,
                      std::string* data, v1::TensorSpec* spec = nullptr);

grpc::Status GetInfo(v1::Ferry::Stub& stub, const std::string& session,
                     v1::GetInfoResponse* info = nullptr);

// Asks `done` every 50 ms until it says so, for at most `limit`; whether it did.
bool WaitUntil(const std::function<bool()>& done,
               std::chrono::milliseconds limit = std::chrono::seconds(30));

// The value of the sample `series` (name and labels, as exposed:
// `ferry_sessions_ended_total{reason="closed"}`) on the /metrics page of a ferryd started
// with --metrics_port=`port`; -1 when absent or the page cannot be read.
double ScrapeMetric(int port, const std::string& series);

// Graph-building shorthands for hand-written requests.
v1::TensorSpec Spec(v1::DType dtype, std::initializer_list<int64_t> shape);
v1::Node Parameter(int64_t index, const v1::TensorSpec& out);
v1::Node ConstantF32(const std::vector<float>& values, std::initializer_list<int64_t> shape);
v1::Node Op(const std::string& op, std::initializer_list<int32_t> inputs,
            const v1::TensorSpec& out);
v1::Attribute IntAttr(const std::string& name, int64_t value);
v1::Attribute IntsAttr(const std::string& name, const std::vector<int64_t>& values);
v1::Attribute FloatAttr(const std::string& name, double value);
v1::Attribute DTypeAttr(const std::string& name, v1::DType dtype);
v1::Tensor F32Tensor(const std::vector<float>& values, std::initializer_list<int64_t> shape);

std::string FloatBytes(const std::vector<float>& values);
// `n` draws of a standard normal from a generator seeded with `seed`: the same test data
// for a daemon and the local device.
std::vector<float> NormalFloats(int64_t n, uint32_t seed);
std::vector<float> BytesToFloats(const std::string& bytes);

// One ferryd for the whole suite and a fresh session per test. A suite whose daemon needs
// flags defines its own static SetUpTestSuite() calling StartDaemon(flags).
class FerrydSuiteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { StartDaemon({}); }
  static void StartDaemon(std::vector<std::string> flags);
  static void TearDownTestSuite();  // stops the daemon, expecting exit status 0

  void SetUp() override;  // connects stub_ and opens session_

  // Closes this test's session, freeing its buffers now rather than at lease expiry.
  grpc::Status CloseSession();

  static server::FerrydProcess* daemon_;
  std::unique_ptr<v1::Ferry::Stub> stub_;
  std::string session_;
};

}  // namespace ferry::testing

#endif  // FERRY_TESTS_FERRYD_TESTING_H_
