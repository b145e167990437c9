// The client against a real ferryd over loopback: every op gives on the remote device what
// it gives on the local one, and the remote device makes the round trips it should (host
// arrays uploaded once, cached graphs sent by id, one Execute per eval), with the daemon's
// errors surfacing as ferry::Error.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "core/ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ferryd_process.h"

namespace ferry {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::unique_ptr<server::FerrydProcess> StartFerryd(std::vector<std::string> flags = {}) {
  const std::string path = server::FindFerryd(nullptr);
  EXPECT_FALSE(path.empty()) << "ferryd is not in this test's runfiles";
  auto process = server::FerrydProcess::Start(path, std::move(flags));
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? *std::move(process) : nullptr;
}

// Every element as a double (exact for every dtype ferry has).
std::vector<double> Values(Array a) {
  auto widen = [](const auto& values) { return std::vector<double>(values.begin(), values.end()); };
  switch (a.dtype()) {
    case Dtype::kBool:
      return widen(a.to_vector<bool>());
    case Dtype::kUInt8:
      return widen(a.to_vector<uint8_t>());
    case Dtype::kUInt32:
      return widen(a.to_vector<uint32_t>());
    case Dtype::kInt32:
      return widen(a.to_vector<int32_t>());
    case Dtype::kInt64:
      return widen(a.to_vector<int64_t>());
    case Dtype::kFloat16: {
      std::vector<double> out;
      for (float16_t v : a.to_vector<float16_t>()) out.push_back(static_cast<float>(v));
      return out;
    }
    case Dtype::kBFloat16: {
      std::vector<double> out;
      for (bfloat16_t v : a.to_vector<bfloat16_t>()) out.push_back(static_cast<float>(v));
      return out;
    }
    case Dtype::kFloat32:
      return widen(a.to_vector<float>());
    case Dtype::kFloat64:
      return widen(a.to_vector<double>());
  }
  return {};
}

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
const std::map<std::string, OpCase>& Cases() {
  static const auto* cases = new std::map<std::string, OpCase>{
      {"full", {true, [](Inputs& in) { return full({3, 4}, 2.5, float16, in.device()); }}},
      {"arange", {true, [](Inputs& in) { return arange(-3, 7, 0.5, float32, in.device()); }}},
      {"random_uniform",
       {true,
        [](Inputs& in) {
          return random::uniform({64}, float32, -1, 2, random::key(5), in.device());
        }}},
      {"random_normal",
       {true,
        [](Inputs& in) {
          return random::normal({8, 8}, float32, 1, 3, random::key(6), in.device());
        }}},
      {"neg", {true, [](Inputs& in) { return -in.Ints({3, 4}, int32, -9, 9); }}},
      {"abs", {true, [](Inputs& in) { return abs(in.Uniform({3, 4}, float32, -2, 2)); }}},
      {"exp", {true, [](Inputs& in) { return exp(in.Uniform({3, 4}, float32, -3, 3)); }}},
      {"log", {true, [](Inputs& in) { return log(in.Uniform({3, 4}, float32, 0.01, 9)); }}},
      {"sqrt", {false, [](Inputs& in) { return sqrt(in.Uniform({3, 4}, float64, 0, 9)); }}},
      {"rsqrt", {true, [](Inputs& in) { return rsqrt(in.Uniform({3, 4}, float32, 0.1, 9)); }}},
      {"sin", {true, [](Inputs& in) { return sin(in.Uniform({3, 4}, float32, -6, 6)); }}},
      {"cos", {true, [](Inputs& in) { return cos(in.Uniform({3, 4}, float32, -6, 6)); }}},
      {"tanh", {true, [](Inputs& in) { return tanh(in.Uniform({3, 4}, float32, -3, 3)); }}},
      {"sigmoid",
       {true, [](Inputs& in) { return sigmoid(in.Uniform({3, 4}, float32, -5, 5)); }}},
      {"relu", {true, [](Inputs& in) { return relu(in.Uniform({3, 4}, float16, -2, 2)); }}},
      {"gelu", {true, [](Inputs& in) { return gelu(in.Uniform({3, 4}, float32, -3, 3)); }}},
      {"erf", {true, [](Inputs& in) { return erf(in.Uniform({3, 4}, float32, -2, 2)); }}},
      {"add",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) + in.Uniform({4}, float32, -1, 1);
        }}},
      {"sub",
       {true,
        [](Inputs& in) { return in.Ints({2, 3}, int64, -99, 99) - in.Ints({2, 1}, int64, 0, 9); }}},
      {"mul", {true, [](Inputs& in) { return in.Uniform({5}, float16, -2, 2) * 1.5; }}},
      {"div",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) / in.Uniform({3, 4}, float32, 0.5, 2);
        }}},
      {"pow",
       {true,
        [](Inputs& in) {
          return power(in.Uniform({3, 4}, float32, 0.1, 3), in.Uniform({3, 4}, float32, -2, 2));
        }}},
      {"maximum",
       {true,
        [](Inputs& in) {
          return maximum(in.Ints({3, 4}, int32, -5, 5), in.Ints({3, 4}, int32, -5, 5));
        }}},
      {"minimum",
       {true,
        [](Inputs& in) { return minimum(in.Uniform({3, 4}, float32, -1, 1), 0.25f); }}},
      {"equal",
       {true,
        [](Inputs& in) { return in.Ints({3, 4}, int32, 0, 2) == in.Ints({4}, int32, 0, 2); }}},
      {"less",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) < in.Uniform({3, 4}, float32, -1, 1);
        }}},
      {"greater",
       {true, [](Inputs& in) { return in.Ints({3, 4}, uint8, 0, 255) > 128; }}},
      {"logical_and", {true, [](Inputs& in) { return in.Bools({3, 4}) && in.Bools({3, 4}); }}},
      {"logical_or", {true, [](Inputs& in) { return in.Bools({3, 4}) || in.Bools({1, 4}); }}},
      {"where",
       {true,
        [](Inputs& in) {
          return where(in.Bools({3, 4}), in.Uniform({3, 4}, float32, -1, 1),
                       in.Uniform({4}, float32, 5, 6));
        }}},
      {"astype",
       {true, [](Inputs& in) { return astype(in.Uniform({3, 4}, float32, -99, 99), int32); }}},
      {"sum",
       {false, [](Inputs& in) { return sum(in.Uniform({4, 5, 6}, float32, -1, 1), {0, -1}); }}},
      {"prod",
       {false, [](Inputs& in) { return prod(in.Uniform({4, 5}, float32, 0.5, 1.5), 1, true); }}},
      {"mean",
       {false, [](Inputs& in) { return mean(in.Uniform({4, 5, 6}, float64, -1, 1), 1); }}},
      {"max", {true, [](Inputs& in) { return max(in.Uniform({4, 5}, float32, -1, 1), 0); }}},
      {"min", {true, [](Inputs& in) { return min(in.Ints({4, 5}, int32, -50, 50)); }}},
      {"argmax",
       {true, [](Inputs& in) { return argmax(in.Uniform({4, 5}, float32, -1, 1), -1); }}},
      {"argmin",
       {true, [](Inputs& in) { return argmin(in.Ints({4, 5}, int64, -9, 9), 0, true); }}},
      {"matmul",
       {false,
        [](Inputs& in) {
          return matmul(in.Uniform({2, 8, 16}, float32, -1, 1), in.Uniform({16, 4}, float32, -1, 1));
        }}},
      {"reshape",
       {true, [](Inputs& in) { return reshape(in.Ints({4, 6}, int32, 0, 99), {2, -1, 3}); }}},
      {"transpose",
       {true,
        [](Inputs& in) { return transpose(in.Ints({2, 3, 4}, int32, 0, 99), {2, 0, 1}); }}},
      {"broadcast_to",
       {true, [](Inputs& in) { return broadcast_to(in.Bools({3, 1}), {2, 3, 4}); }}},
      {"slice",
       {true,
        [](Inputs& in) {
          return slice(in.Ints({6, 7}, int32, 0, 99), {-1, 1}, {-100, 6}, {-2, 2});
        }}},
      {"concatenate",
       {true,
        [](Inputs& in) {
          return concatenate({in.Uniform({2, 3}, float32, -1, 1), in.Ints({2, 1}, int32, 0, 9)},
                             1);
        }}},
      {"softmax",
       {false, [](Inputs& in) { return softmax(in.Uniform({4, 10}, float32, -5, 5), -1); }}},
      {"logsumexp",
       {false, [](Inputs& in) { return logsumexp(in.Uniform({4, 10}, float32, -5, 5), 1); }}},
      // ---- part A: elementwise, all/any, scans ----
      {"square", {true, [](Inputs& in) { return square(in.Ints({3, 4}, int32, -99, 99)); }}},
      {"log1p", {true, [](Inputs& in) { return log1p(in.Uniform({3, 4}, float32, 0, 9)); }}},
      {"expm1", {true, [](Inputs& in) { return expm1(in.Uniform({3, 4}, float16, -2, 2)); }}},
      {"log2", {true, [](Inputs& in) { return log2(in.Uniform({3, 4}, float32, 0.1, 9)); }}},
      {"log10", {true, [](Inputs& in) { return log10(in.Ints({3, 4}, int32, 1, 999)); }}},
      {"floor", {true, [](Inputs& in) { return floor(in.Uniform({3, 4}, bfloat16, -9, 9)); }}},
      {"ceil", {true, [](Inputs& in) { return ceil(in.Uniform({3, 4}, float32, -9, 9)); }}},
      {"round",
       {true, [](Inputs& in) { return round(in.Uniform({3, 4}, float32, -9, 9) * 2.0f); }}},
      {"sign", {true, [](Inputs& in) { return sign(in.Ints({3, 4}, int64, -2, 2)); }}},
      {"isnan",
       {true, [](Inputs& in) { return isnan(log(in.Uniform({3, 4}, float32, -1, 1))); }}},
      {"isinf",
       {true, [](Inputs& in) { return isinf(1.0f / in.Ints({3, 4}, int32, 0, 2)); }}},
      {"logical_not", {true, [](Inputs& in) { return logical_not(in.Ints({3, 4}, uint8, 0, 2)); }}},
      {"bitwise_invert",
       {true, [](Inputs& in) { return ~in.Ints({3, 4}, int32, -999, 999); }}},
      {"not_equal",
       {true,
        [](Inputs& in) { return in.Ints({3, 4}, int32, 0, 2) != in.Ints({4}, int32, 0, 2); }}},
      {"less_equal",
       {true,
        [](Inputs& in) {
          return in.Uniform({3, 4}, float32, -1, 1) <= in.Uniform({3, 1}, float32, -1, 1);
        }}},
      {"greater_equal",
       {true, [](Inputs& in) { return in.Ints({3, 4}, uint8, 0, 255) >= 128; }}},
      {"arctan2",
       {true,
        [](Inputs& in) {
          return arctan2(in.Uniform({3, 4}, float32, -1, 1), in.Uniform({4}, float32, -1, 1));
        }}},
      {"logaddexp",
       {true,
        [](Inputs& in) {
          return logaddexp(in.Uniform({3, 4}, float32, -50, 50),
                           in.Uniform({3, 4}, float32, -50, 50));
        }}},
      {"floor_divide",
       {true,
        [](Inputs& in) {
          return floor_divide(in.Ints({3, 4}, int32, -99, 99), in.Ints({4}, int32, -9, 9));
        }}},
      {"remainder",
       {true,
        [](Inputs& in) {
          return remainder(in.Uniform({3, 4}, float32, -9, 9), in.Uniform({3, 4}, float32, -3, 3));
        }}},
      {"bitwise_and",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, int64, -999, 999) & in.Ints({4}, int64, 0, 255);
        }}},
      {"bitwise_or",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, uint8, 0, 255) | in.Ints({3, 4}, uint8, 0, 255);
        }}},
      {"bitwise_xor", {true, [](Inputs& in) { return in.Bools({3, 4}) ^ in.Bools({3, 4}); }}},
      {"left_shift",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, int32, -99, 99) << in.Ints({3, 4}, int32, -1, 33);
        }}},
      {"right_shift",
       {true,
        [](Inputs& in) {
          return in.Ints({3, 4}, uint32, 0, 1 << 30) >> in.Ints({4}, uint32, 0, 31);
        }}},
      {"all", {true, [](Inputs& in) { return all(in.Ints({4, 5}, int32, 0, 3), 1, true); }}},
      {"any", {true, [](Inputs& in) { return any(in.Bools({4, 5, 2}), {0, -1}); }}},
      {"cumsum",
       {false, [](Inputs& in) { return cumsum(in.Uniform({4, 5}, float32, -1, 1), 1, true); }}},
      {"cumprod",
       {true, [](Inputs& in) { return cumprod(in.Ints({4, 5}, int64, -3, 3), 0, false, false); }}},
      {"cummax",
       {true, [](Inputs& in) { return cummax(in.Uniform({4, 5}, float16, -1, 1), -1); }}},
      {"cummin",
       {true, [](Inputs& in) { return cummin(in.Ints({4, 5}, int32, -9, 9), 0, true, false); }}},
      // ---- Ops part B ----
      {"random_bits",
       {true,
        [](Inputs& in) {
          return random::bits({3, 5}, random::key(21), in.device());
        }}},
      {"gather",
       {true,
        [](Inputs& in) {
          return gather(in.Uniform({5, 6}, float32, -1, 1),
                        {in.Ints({4, 1}, int32, -5, 4), in.Ints({3}, int64, 0, 4)}, {0, 1}, {1, 2});
        }}},
      {"scatter",
       {true,
        [](Inputs& in) {
          return scatter(in.Ints({6, 3}, int32, 0, 9), {in.Ints({4}, int32, -6, 5)},
                         in.Ints({4, 1, 3}, int32, 10, 99), {0});
        }}},
      {"scatter_add",
       {true,
        [](Inputs& in) {
          return scatter_add(in.Uniform({6}, float16, -1, 1), {in.Ints({8}, int32, 0, 5)},
                             in.Uniform({8, 1}, float16, -1, 1), {0});
        }}},
      {"scatter_prod",
       {true,
        [](Inputs& in) {
          return scatter_prod(in.Ints({2, 4}, int64, 1, 5), {in.Ints({3}, uint32, 0, 3)},
                              in.Ints({3, 2, 1}, int64, 1, 5), {1});
        }}},
      {"scatter_max",
       {true,
        [](Inputs& in) {
          return scatter_max(in.Uniform({5}, float32, -1, 1), {in.Ints({7}, int32, 0, 4)},
                             in.Uniform({7, 1}, float32, -1, 1), {0});
        }}},
      {"scatter_min",
       {true,
        [](Inputs& in) {
          return scatter_min(in.Uniform({5}, bfloat16, -1, 1), {in.Ints({7}, int32, 0, 4)},
                             in.Uniform({7, 1}, bfloat16, -1, 1), {0});
        }}},
      {"slice_update",
       {true,
        [](Inputs& in) {
          return slice_update(in.Ints({5, 6}, int32, 0, 9), in.Ints({3}, int32, 10, 19), {4, 0},
                              {0, 6}, {-2, 2});
        }}},
      {"sort",
       {true,
        [](Inputs& in) {
          return sort(in.Uniform({4, 7}, float32, -1, 1), 0);
        }}},
      {"argsort",
       {true,
        [](Inputs& in) {
          return argsort(in.Ints({3, 9}, int32, 0, 4), -1);
        }}},
      {"partition",
       {true,
        [](Inputs& in) {
          return partition(in.Uniform({3, 8}, float16, -1, 1), -3, 1);
        }}},
      {"argpartition",
       {true,
        [](Inputs& in) {
          return argpartition(in.Uniform({8, 3}, float32, -1, 1), 2, 0);
        }}},
      {"convolution",
       {false,
        [](Inputs& in) {
          return conv2d(in.Uniform({2, 7, 6, 4}, float32, -1, 1),
                        in.Uniform({6, 3, 2, 2}, float32, -1, 1), {2, 1}, {1, 1}, {1, 2}, 2);
        }}},
  };
  return *cases;
}

// Builds `op_case` from the same seeded inputs on the local device and on `remote`, and
// expects the same dtype, shape and values.
void ExpectSameOnBothDevices(const OpCase& op_case, const Device& remote, uint32_t seed) {
  Inputs local_inputs(local(), seed);
  Inputs remote_inputs(remote, seed);
  Array expected = op_case.build(local_inputs);
  Array actual = op_case.build(remote_inputs);
  EXPECT_EQ(actual.device(), remote);
  ASSERT_EQ(actual.dtype(), expected.dtype());
  ASSERT_EQ(actual.shape(), expected.shape());
  std::vector<double> want = Values(expected);
  std::vector<double> got = Values(actual);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << "element " << i;
    } else if (op_case.exact) {
      EXPECT_EQ(got[i], want[i]) << "element " << i;
    } else {
      EXPECT_NEAR(got[i], want[i], 1e-6 * std::max(1.0, std::abs(want[i]))) << "element " << i;
    }
  }
}

class RemoteTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = StartFerryd().release();
    ASSERT_NE(daemon_, nullptr);
    remote_ = new Device(connect(daemon_->address()));
  }
  static void TearDownTestSuite() {
    delete remote_;  // closes the session
    remote_ = nullptr;
    delete daemon_;
    daemon_ = nullptr;
  }

  static server::FerrydProcess* daemon_;
  static Device* remote_;
};

server::FerrydProcess* RemoteTest::daemon_ = nullptr;
Device* RemoteTest::remote_ = nullptr;

TEST_F(RemoteTest, EveryOpMatchesTheLocalDevice) {
  for (const std::string& op : core::OpNames()) {
    if (op == "parameter" || op == "constant") continue;  // in every graph, implicitly
    SCOPED_TRACE(op);
    auto found = Cases().find(op);
    ASSERT_NE(found, Cases().end()) << "no remote-vs-local case for op " << op;
    ExpectSameOnBothDevices(found->second, *remote_, 1234);
  }
}

// ---- Ops part B: the composed ops and functions --------------------------------------------

TEST_F(RemoteTest, OpsPartBCompositesMatchTheLocalDevice) {
  const std::map<std::string, OpCase> cases = {
      {"take",
       {true,
        [](Inputs& in) {
          return take(in.Ints({4, 5}, int32, 0, 99), in.Ints({2, 3}, int32, -5, 4), 1);
        }}},
      {"take_along_axis",
       {true,
        [](Inputs& in) {
          return take_along_axis(in.Uniform({4, 5}, float32, -1, 1), in.Ints({4, 2}, int32, -5, 4),
                                 -1);
        }}},
      {"put_along_axis",
       {true,
        [](Inputs& in) {
          return put_along_axis(in.Uniform({4, 5}, float32, -1, 1), in.Ints({1, 5}, int32, 0, 3),
                                in.Uniform({1, 5}, float32, 5, 6), 0);
        }}},
      {"topk",
       {true,
        [](Inputs& in) {
          return topk(in.Uniform({3, 9}, float32, -1, 1), 3);
        }}},
      {"conv1d",
       {false,
        [](Inputs& in) {
          return conv1d(in.Uniform({2, 9, 3}, float32, -1, 1),
                        in.Uniform({4, 3, 3}, float32, -1, 1), 2, 1, 1);
        }}},
      {"addmm",
       {false,
        [](Inputs& in) {
          return addmm(in.Uniform({4}, float32, -1, 1), in.Uniform({3, 5}, float32, -1, 1),
                       in.Uniform({5, 4}, float32, -1, 1), 0.5f, 2.0f);
        }}},
      {"einsum",
       {false,
        [](Inputs& in) {
          return einsum("bij,bjk,ii->bk", {in.Uniform({2, 3, 4}, float32, -1, 1),
                                           in.Uniform({2, 4, 5}, float32, -1, 1),
                                           in.Uniform({3, 3}, float32, -1, 1)});
        }}},
      {"layer_norm",
       {false,
        [](Inputs& in) {
          return fast::layer_norm(in.Uniform({3, 16}, bfloat16, -2, 2),
                                  in.Uniform({16}, float32, 0, 1), in.Uniform({16}, float32, 0, 1));
        }}},
      {"rms_norm",
       {false,
        [](Inputs& in) {
          return fast::rms_norm(in.Uniform({3, 16}, float32, -2, 2),
                                in.Uniform({16}, float32, 0, 1));
        }}},
      {"rope",
       {false,
        [](Inputs& in) {
          return fast::rope(in.Uniform({2, 3, 5, 8}, float32, -1, 1), 8, true, 10000.0f, 1.0f, 7);
        }}},
      {"scaled_dot_product_attention",
       {false,
        [](Inputs& in) {
          return fast::scaled_dot_product_attention(
              in.Uniform({1, 4, 3, 8}, float32, -1, 1), in.Uniform({1, 2, 6, 8}, float32, -1, 1),
              in.Uniform({1, 2, 6, 4}, float32, -1, 1), 0.35f, "causal");
        }}},
      {"split", {true, [](Inputs& in) { return random::split(in.Ints({2}, uint32, 0, 1000), 3); }}},
      {"bernoulli",
       {true,
        [](Inputs& in) { return random::bernoulli(0.3, {50}, random::key(31), in.device()); }}},
      {"randint",
       {true,
        [](Inputs& in) {
          return random::randint(-50, 50, {40}, int32, random::key(32), in.device());
        }}},
      {"categorical",
       {true,
        [](Inputs& in) {
          return random::categorical(in.Uniform({3, 6}, float32, -2, 2), -1, 4, random::key(33));
        }}},
  };
  for (const auto& [name, op_case] : cases) {
    SCOPED_TRACE(name);
    ExpectSameOnBothDevices(op_case, *remote_, 4321);
  }
}

TEST_F(RemoteTest, OpsPartBIndexOutOfRangeFailsOnTheDaemon) {
  Array a = from_host(std::vector<float>{1, 2, 3}, {3}, *remote_);
  Array bad = take(a, from_host(std::vector<int32_t>{3}, {1}, *remote_), 0);
  try {
    bad.to_vector<float>();  // eval() does not wait: a daemon's error surfaces at the read
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("index 3 is out of range for axis 0 of length 3"));
  }
}

// ---- part A: the client-side compositions (each one is built from core ops) -------------

// One computation per composite of part A.
const std::map<std::string, OpCase>& PartACompositeCases() {
  static const auto* cases = new std::map<std::string, OpCase>{
      {"reciprocal",
       {true,
        [](Inputs& in) {
          return reciprocal(in.Uniform({3, 4}, float32, 0.5, 2));
        }}},
      {"round_decimals",
       {true,
        [](Inputs& in) {
          return round(in.Uniform({3, 4}, float32, -9, 9), 2);
        }}},
      {"silu",
       {true,
        [](Inputs& in) {
          return silu(in.Uniform({3, 4}, float32, -4, 4));
        }}},
      {"softplus",
       {true,
        [](Inputs& in) {
          return softplus(in.Uniform({3, 4}, bfloat16, -4, 4));
        }}},
      {"clip",
       {true,
        [](Inputs& in) {
          return clip(in.Uniform({3, 4}, float32, -2, 2), in.Uniform({4}, float32, -1, 0), 0.5f);
        }}},
      {"var",
       {false,
        [](Inputs& in) {
          return var(in.Uniform({4, 5}, float32, -1, 1), 1, false, 1);
        }}},
      {"std",
       {false,
        [](Inputs& in) {
          return std(in.Uniform({4, 5, 2}, float64, -1, 1), {0, 2}, true);
        }}},
      {"squeeze",
       {true,
        [](Inputs& in) {
          return squeeze(in.Ints({1, 3, 1, 4}, int32, 0, 99), 2);
        }}},
      {"expand_dims",
       {true,
        [](Inputs& in) {
          return expand_dims(in.Ints({3, 4}, int32, 0, 99), {0, -1});
        }}},
      {"flatten",
       {true,
        [](Inputs& in) {
          return flatten(in.Ints({2, 3, 4}, int32, 0, 99), 1);
        }}},
      {"swapaxes",
       {true,
        [](Inputs& in) {
          return swapaxes(in.Ints({2, 3, 4}, int32, 0, 99), 0, 2);
        }}},
      {"moveaxis",
       {true,
        [](Inputs& in) {
          return moveaxis(in.Ints({2, 3, 4}, int32, 0, 99), 0, -1);
        }}},
      {"stack",
       {true,
        [](Inputs& in) {
          return stack({in.Uniform({2, 3}, float32, -1, 1), in.Uniform({2, 3}, float32, -1, 1)}, 1);
        }}},
      {"split",
       {true,
        [](Inputs& in) {
          return split(in.Ints({6, 4}, int32, 0, 99), Shape{1, 4}, 0)[1];
        }}},
      {"pad",
       {true,
        [](Inputs& in) {
          return pad(in.Ints({2, 3}, int64, 0, 99), {{1, 2}, {0, 1}}, -7);
        }}},
      {"tile",
       {true,
        [](Inputs& in) {
          return tile(in.Bools({2, 3}), {2, 1, 2});
        }}},
      {"repeat",
       {true,
        [](Inputs& in) {
          return repeat(in.Uniform({2, 3}, float16, -1, 1), 3, 1);
        }}},
      {"roll",
       {true,
        [](Inputs& in) {
          return roll(in.Ints({3, 4}, int32, 0, 99), {1, -5}, {0, 1});
        }}},
  };
  return *cases;
}

TEST_F(RemoteTest, EveryPartACompositeMatchesTheLocalDevice) {
  for (const auto& [name, op_case] : PartACompositeCases()) {
    SCOPED_TRACE(name);
    ExpectSameOnBothDevices(op_case, *remote_, 4321);
  }
}

TEST_F(RemoteTest, PartABadArgumentsThrowBeforeAnythingIsSent) {
  Array f = ones({2}, float32, *remote_);
  const DeviceStats before = remote_->stats();
  EXPECT_THROW(bitwise_and(f, f), Error);
  EXPECT_THROW(cumsum(f, 1), Error);
  EXPECT_THROW(squeeze(f, 0), Error);
  EXPECT_THROW(split(f, 3), Error);
  EXPECT_EQ(remote_->stats().executes, before.executes);
}

TEST_F(RemoteTest, DescribesTheDaemon) {
  EXPECT_THAT(remote_->description(), HasSubstr("remote " + daemon_->address() + " (cpu: "));
  DeviceInfo info = remote_->info();
  EXPECT_TRUE(info.remote);
  EXPECT_EQ(info.address, daemon_->address());
  EXPECT_EQ(info.protocol_version, 1u);
  EXPECT_GT(info.chunk_bytes, 0);
  EXPECT_GT(info.max_inline_bytes, 0);
}

TEST_F(RemoteTest, LargeHostArraysAreUploadedOnce) {
  std::vector<float> weights(256 * 256, 0.5f);  // 256 KiB: past the inline limit
  const DeviceStats before = remote_->stats();
  Array w = from_host(weights, {256, 256}, *remote_);  // uploaded here or at the first eval
  Array x = ones({4, 256}, float32, *remote_);
  Array y1 = matmul(x, w);
  y1.eval();
  Array y2 = sum(w);
  y2.eval();
  Array y3 = matmul(x * 2.0f, w);
  y3.eval();
  const DeviceStats after = remote_->stats();
  EXPECT_EQ(after.uploads - before.uploads, 1);
  EXPECT_EQ(after.upload_bytes - before.upload_bytes, 256 * 256 * 4);
  EXPECT_EQ(after.executes - before.executes, 3);
  EXPECT_EQ(y1.to_vector<float>(), std::vector<float>(4 * 256, 128.0f));
  EXPECT_EQ(y2.item<float>(), 32768.0f);
  EXPECT_EQ(y3.to_vector<float>()[0], 256.0f);
}

TEST_F(RemoteTest, SmallHostArraysRideInline) {
  const DeviceStats before = remote_->stats();
  Array a = from_host(std::vector<float>{1, 2, 3}, {3}, *remote_);
  EXPECT_THAT((a * a).to_vector<float>(), ElementsAre(1, 4, 9));
  EXPECT_THAT((a + a).to_vector<float>(), ElementsAre(2, 4, 6));
  const DeviceStats after = remote_->stats();
  EXPECT_EQ(after.uploads, before.uploads);
  EXPECT_EQ(after.downloads, before.downloads);  // the results came back inline
  EXPECT_EQ(after.executes - before.executes, 2);
}

TEST_F(RemoteTest, EvaluatingAHostArrayUploadsIt) {
  Array small = from_host(std::vector<int32_t>{1, 2, 3}, {3}, *remote_);
  Array empty = from_host(std::vector<float>{}, {0, 2}, *remote_);
  const DeviceStats before = remote_->stats();
  eval({small, empty});
  small.eval();  // already there
  const DeviceStats after = remote_->stats();
  EXPECT_EQ(after.uploads - before.uploads, 2);
  EXPECT_EQ(after.executes, before.executes);
  EXPECT_THAT((small * 2).to_vector<int32_t>(), ElementsAre(2, 4, 6));
  EXPECT_EQ(sum(empty, 0).to_vector<float>(), (std::vector<float>{0, 0}));
  EXPECT_EQ(remote_->stats().uploads, after.uploads);
}

TEST_F(RemoteTest, SecondEvalOfTheSameStructureSendsOnlyTheGraphId) {
  auto step = [&](float value) {
    Array x = from_host(std::vector<float>(100, value), {10, 10}, *remote_);
    Array y = softmax(matmul(x, transpose(x)) * 0.5f, -1);
    y.eval();
    return y;
  };
  const DeviceStats before = remote_->stats();
  step(1.0f);
  const DeviceStats first = remote_->stats();
  Array y = step(2.0f);
  const DeviceStats second = remote_->stats();
  EXPECT_EQ(first.graphs_sent - before.graphs_sent, 1);
  EXPECT_EQ(second.graphs_sent - first.graphs_sent, 0);
  EXPECT_EQ(second.executes - first.executes, 1);
  // Only the id, the binding and the output requests travel the second time.
  EXPECT_LT(second.bytes_sent - first.bytes_sent, first.bytes_sent - before.bytes_sent);
  EXPECT_NEAR(y.to_vector<float>()[0], 0.1f, 1e-6);
}

TEST_F(RemoteTest, ThreeOutputsAreOneExecute) {
  Array x = from_host(std::vector<float>{1, 2, 3, 4}, {2, 2}, *remote_);
  Array a = sum(x, 0);
  Array b = x * 10.0f;
  Array c = argmax(x, 1);
  const DeviceStats before = remote_->stats();
  eval({a, b, c});
  const DeviceStats after = remote_->stats();
  EXPECT_EQ(after.executes - before.executes, 1);
  EXPECT_THAT(a.to_vector<float>(), ElementsAre(4, 6));
  EXPECT_THAT(b.to_vector<float>(), ElementsAre(10, 20, 30, 40));
  EXPECT_THAT(c.to_vector<uint32_t>(), ElementsAre(1, 1));
  EXPECT_EQ(remote_->stats().downloads, after.downloads);  // all three came back inline
  EXPECT_EQ(remote_->stats().executes, after.executes);
}

TEST_F(RemoteTest, ResultsStayResidentAndFeedLaterEvals) {
  Array x = random::normal({64, 64}, float32, 0, 1, random::key(9), *remote_);
  x.eval();
  const DeviceStats before = remote_->stats();
  Array y = sum(x * x);
  const float remote_sum = y.item<float>();
  const DeviceStats after = remote_->stats();
  EXPECT_EQ(after.uploads, before.uploads);  // x was already on the daemon
  EXPECT_EQ(after.executes - before.executes, 1);
  Array local_x = random::normal({64, 64}, float32, 0, 1, random::key(9), local());
  EXPECT_EQ(remote_sum, sum(local_x * local_x).item<float>());
}

// A large result streams straight into the reader's memory and no host copy is kept (it
// may be gigabytes): each read is one download, as PyTorch's .cpu() is.
TEST_F(RemoteTest, LargeResultsAreDownloadedWhenRead) {
  Array big = ones({512, 1024}, float32, *remote_);  // 2 MiB: past max_inline_bytes
  big.eval();
  const DeviceStats before = remote_->stats();
  std::vector<float> values = big.to_vector<float>();
  EXPECT_EQ(values.size(), 512u * 1024u);
  EXPECT_EQ(values.back(), 1.0f);
  std::vector<float> again(values.size(), 0.0f);
  big.copy_to(again.data(), again.size() * sizeof(float));
  EXPECT_EQ(again, values);
  const DeviceStats after = remote_->stats();
  EXPECT_EQ(after.downloads - before.downloads, 2);
  EXPECT_EQ(after.download_bytes - before.download_bytes, 2 * 512 * 1024 * 4);
  EXPECT_THROW(big.copy_to(again.data(), 4), Error);  // room for one float, not 512 Ki
}

TEST_F(RemoteTest, DroppedArraysAreReleasedWithTheNextExecute) {
  {
    Array scratch = ones({8}, float32, *remote_);
    scratch.eval();
  }
  const DeviceStats before = remote_->stats();
  (ones({2}, float32, *remote_) + 1.0f).eval();
  const DeviceStats after = remote_->stats();
  EXPECT_GE(after.released - before.released, 1);
  EXPECT_EQ(after.executes - before.executes, 1);  // no separate Release call
}

TEST_F(RemoteTest, LongChainsTravelAsOneGraph) {
  auto chain = [](const Device& device) {
    Array y = zeros({4}, float32, device);
    for (int i = 0; i < 10000; ++i) y = y * 0.5f + 1.0f;
    return y;
  };
  const DeviceStats before = remote_->stats();
  std::vector<float> got = chain(*remote_).to_vector<float>();
  EXPECT_EQ(remote_->stats().executes - before.executes, 1);
  EXPECT_EQ(got, chain(local()).to_vector<float>());
  EXPECT_EQ(got[0], 2.0f);
}

TEST_F(RemoteTest, TheDefaultDeviceCanBeRemote) {
  set_default_device(*remote_);
  Array a = ones({2});
  Array u = random::uniform({3});  // the global key moves to the daemon by itself
  set_default_device(local());
  EXPECT_EQ(a.device(), *remote_);
  EXPECT_EQ(u.device(), *remote_);
  EXPECT_EQ(sum(a).item<float>(), 2.0f);
  EXPECT_EQ(u.to_vector<float>().size(), 3u);
  EXPECT_EQ(ones({2}).device(), local());
}

TEST_F(RemoteTest, ArraysOnDifferentDevicesDoNotMix) {
  Array a = ones({2}, float32, local());
  Array b = ones({2}, float32, *remote_);
  try {
    a + b;
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[add]"));
    EXPECT_THAT(e.what(), HasSubstr("local (cpu"));
    EXPECT_THAT(e.what(), HasSubstr("remote " + daemon_->address()));
  }
}

TEST(RemoteErrorsTest, DaemonErrorsKeepTheirCode) {
  auto daemon = StartFerryd({"--max_memory=1M", "--graph_cache_size=1", "--chunk_bytes=64K"});
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  Array big = zeros({1 << 20}, float32, remote);  // 4 MiB on a daemon with 1 MiB
  big.eval();  // sent without waiting: the failure comes with the next read
  try {
    big.to_vector<float>();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
  }
  // The session survives the failed step.
  EXPECT_EQ((ones({2}, int32, remote) + 1).to_vector<int32_t>(), (std::vector<int32_t>{2, 2}));
}

TEST(RemoteErrorsTest, ChunkedUploadsAndAnEvictedGraphAreSentAgain) {
  auto daemon = StartFerryd({"--graph_cache_size=1", "--chunk_bytes=64K"});
  ASSERT_NE(daemon, nullptr);
  Device remote = connect(daemon->address());
  EXPECT_EQ(remote.info().chunk_bytes, 64 << 10);
  Array w = from_host(std::vector<float>(100000, 2.0f), {100000}, remote);  // 7 chunks
  auto graph_a = [&] { return sum(w).item<float>(); };
  auto graph_b = [&] { return max(w).item<float>(); };
  EXPECT_EQ(graph_a(), 200000.0f);
  EXPECT_EQ(graph_b(), 2.0f);  // evicts graph a from the daemon's one-entry cache
  const DeviceStats before = remote.stats();
  EXPECT_EQ(graph_a(), 200000.0f);  // the id is unknown now: the client ships the graph
  const DeviceStats after = remote.stats();
  // On the pipeline the daemon asks for the graph and the same execute goes on.
  EXPECT_EQ(after.executes - before.executes, 1);
  EXPECT_EQ(after.graphs_resent - before.graphs_resent, 1);
  EXPECT_EQ(after.graphs_sent - before.graphs_sent, 1);
  EXPECT_EQ(after.uploads, 1);
}

TEST(RemoteErrorsTest, AStoppedDaemonIsUnavailable) {
  auto daemon = StartFerryd({"--drain_seconds=0"});
  ASSERT_NE(daemon, nullptr);
  const std::string address = daemon->address();
  Device remote = connect(address);
  daemon->Stop();
  try {
    (ones({2}, float32, remote) * 2.0f).eval();
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(address));
  }
}

}  // namespace
}  // namespace ferry
