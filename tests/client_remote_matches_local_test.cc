// The client against a real ferryd over loopback: every op gives on the remote device what
// it gives on the local one, and the remote device makes the round trips it should (host
// arrays uploaded once, cached graphs sent by id, one Execute per eval), with the daemon's
// errors surfacing as ferry::Error.

#include <cmath>
#include <cstdint>
#include <cstdlib>
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
#include "tests/remote_op_cases.h"

namespace ferry {
namespace {

using testing::CoreOpCases;
using ::testing::ElementsAre;
using testing::ExpectSameOnBothDevices;
using ::testing::HasSubstr;
using testing::PartACompositeCases;
using testing::PartBCompositeCases;
using testing::PartCCompositeCases;

std::unique_ptr<server::FerrydProcess> StartFerryd(std::vector<std::string> flags = {}) {
  const std::string path = server::FindFerryd(nullptr);
  EXPECT_FALSE(path.empty()) << "ferryd is not in this test's runfiles";
  auto process = server::FerrydProcess::Start(path, std::move(flags));
  EXPECT_TRUE(process.ok()) << process.status();
  return process.ok() ? *std::move(process) : nullptr;
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
    if (core::IsCollective(op)) continue;  // they need a group: //tests:distributed_test
    SCOPED_TRACE(op);
    auto found = CoreOpCases().find(op);
    ASSERT_NE(found, CoreOpCases().end()) << "no remote-vs-local case for op " << op;
    ExpectSameOnBothDevices(found->second, *remote_, 1234);
  }
}

// Every dtype's bytes cross the wire both ways unchanged, and the daemon computes with each
// as the local device does: wrapping arithmetic, MLX's widening sums, sorts, casts.
TEST_F(RemoteTest, EveryDtypeTravelsAndComputesAsLocally) {
  const std::vector<double> values = {-3, 0, 1.5, 100, 250, -129, 70000, 5};
  for (Dtype dtype : core::kAllDTypes) {
    SCOPED_TRACE(core::DTypeName(dtype));
    auto run = [&](const Device& device) {
      Array x = astype(from_host(values, {2, 4}, device), dtype);
      std::vector<Array> outs = {x, sum(x, 1), astype(x, float32)};
      if (!core::IsComplex(dtype)) outs.push_back(sort(x, 1));  // complex64 has no order
      if (dtype != bool_) outs.push_back(x * x + x);
      std::vector<std::vector<double>> got;
      for (const Array& out : outs) got.push_back(testing::Values(out));
      return got;
    };
    EXPECT_EQ(run(*remote_), run(local()));
  }
  const uint64_t top = ~uint64_t{0};
  Array wide = from_host(std::vector<uint64_t>{top, top - 1}, {2}, *remote_);
  EXPECT_THAT((wide + 1).to_vector<uint64_t>(), ElementsAre(0, top));
  Array narrow = from_host(std::vector<int8_t>{-128, 127}, {2}, *remote_);
  EXPECT_THAT((narrow - 1).to_vector<int8_t>(), ElementsAre(127, 126));
  EXPECT_THAT(sum(narrow).to_vector<int32_t>(), ElementsAre(-1));
}

// A checkpoint loads straight onto the daemon, one upload per tensor.
TEST_F(RemoteTest, LoadsACheckpointOntoTheDaemon) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/remote_checkpoint.safetensors";
  Array w = reshape(arange(12, float32), {3, 4});
  save_safetensors(path, {{"w", w}, {"b", astype(arange(4, float32), bfloat16)}});
  auto [arrays, metadata] = load_safetensors(path, *remote_);
  EXPECT_EQ(arrays.at("w").device(), *remote_);
  Array y = matmul(ones({2, 3}, float32, *remote_), arrays.at("w")) + arrays.at("b");
  EXPECT_THAT(y.to_vector<float>(), ElementsAre(12, 16, 20, 24, 12, 16, 20, 24));
}

// A GGUF file's K-quants and IQ4s cross as their blocks and are dequantized on the daemon,
// to the bits the local device computes (client/gguf_blocks.h), Q4_K and Q5_K also as MLX's
// affine quantization; MXFP4 as MLX's mxfp4.
TEST_F(RemoteTest, DequantizesGgufBlocksOnTheDaemon) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  for (const char* file : {"gguf_k_quants.gguf", "gguf_written.gguf", "gguf_mxfp4.gguf"}) {
    const std::string path =
        (srcdir ? std::string(srcdir) + "/ferry/" : std::string()) + "client/testdata/" + file;
    for (bool k_quants_affine : {false, true}) {
      GGUFOptions options;
      options.k_quants_affine = k_quants_affine;
      auto [remote, remote_metadata] = load_gguf(path, *remote_, options);
      auto [local_arrays, local_metadata] = load_gguf(path, local(), options);
      ASSERT_EQ(remote.size(), local_arrays.size());
      for (auto& [name, a] : local_arrays) {
        EXPECT_EQ(remote.at(name).device(), *remote_) << name;
        EXPECT_TRUE(array_equal(remote.at(name).to(local()), a).item<bool>())
            << file << " " << name << " " << k_quants_affine;
      }
    }
  }
}

// ---- Ops part B: the composed ops and functions --------------------------------------------

TEST_F(RemoteTest, OpsPartBCompositesMatchTheLocalDevice) {
  for (const auto& [name, op_case] : PartBCompositeCases()) {
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

TEST_F(RemoteTest, AMatrixTheDaemonCannotFactorIsNamedAndTheSessionGoesOn) {
  Array batch = from_host(std::vector<float>{4, 0, 0, 4, 1, 2, 2, 1}, {2, 2, 2}, *remote_);
  try {
    linalg::cholesky(batch).to_vector<float>();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("[cholesky] matrix 1 of the batch is not positive definite "
                                    "(its leading minor of order 2 is not)"));
  }
  EXPECT_THAT(linalg::cholesky(slice(batch, {0, 0, 0}, {1, 2, 2})).to_vector<float>(),
              ElementsAre(2, 0, 0, 2));
}

// ---- part A: the client-side compositions (each one is built from core ops) -------------
TEST_F(RemoteTest, EveryPartACompositeMatchesTheLocalDevice) {
  for (const auto& [name, op_case] : PartACompositeCases()) {
    SCOPED_TRACE(name);
    ExpectSameOnBothDevices(op_case, *remote_, 4321);
  }
}

TEST_F(RemoteTest, EveryPartCCompositeMatchesTheLocalDevice) {
  for (const auto& [name, op_case] : PartCCompositeCases()) {
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

TEST(RemoteFusionTest, AnUnfusedDaemonGivesTheSameResults) {
  // --fusion=false: every op its own kernel; the fused groups' results are the same bits.
  auto fused = StartFerryd();
  auto unfused = StartFerryd({"--fusion=false"});
  ASSERT_NE(fused, nullptr);
  ASSERT_NE(unfused, nullptr);
  auto chain = [](const Device& device) {
    std::vector<float> values(4096);
    for (size_t i = 0; i < values.size(); ++i) values[i] = std::sin(0.01f * i) * 3;
    Array x = from_host(values, {64, 64}, device);
    Array row = from_host(std::vector<float>(values.begin(), values.begin() + 64), {64}, device);
    Array y = tanh(exp(x * row) - 1.0f) * 2.0f + x;
    return where(y > 0.5f, y * y, abs(y) + row).to_vector<float>();
  };
  const std::vector<float> want = chain(connect(fused->address()));
  EXPECT_EQ(chain(connect(unfused->address())), want);
  EXPECT_EQ(chain(local()), want);
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
