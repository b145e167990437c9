// The daemon's upload cache through the client library, on real ferryd daemons over
// loopback: weights loaded again (a program that starts again, another session of the same
// token) become resident from the daemon's memory without crossing the network; only
// uploads inside a CachedUploads scope ask, bytes are kept only once the daemon has checked
// them against their digest, sessions of other tokens never see them, a buffer made from
// the cache is never written over by another session's work, and kept bytes give way when
// the daemon's memory is needed.

#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "client/ferry.h"
#include "core/content_digest.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

constexpr int64_t kWeightFloats = int64_t{1} << 22;  // 16 MiB

class UploadCacheTest : public ::testing::Test {
 protected:
  server::FerrydProcess& Start(std::vector<std::string> flags = {}) {
    daemons_.push_back(testing::StartFerryd(std::move(flags)));
    EXPECT_NE(daemons_.back(), nullptr);
    return *daemons_.back();
  }

  // The daemon's upload cache figures, once every upload it was offered has been checked
  // (entries reach `entries`; the check runs off the upload's path).
  v1::UploadCacheStats CacheStats(const server::FerrydProcess& daemon, int64_t entries = -1,
                                  const std::string& token = "") {
    std::unique_ptr<v1::Ferry::Stub> stub = testing::Connect(daemon.address());
    v1::GetInfoResponse info;
    testing::WaitUntil([&] {
      grpc::ClientContext context;
      if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
      EXPECT_TRUE(stub->GetInfo(&context, v1::GetInfoRequest(), &info).ok());
      return entries < 0 || info.upload_cache().entries() >= entries;
    });
    return info.upload_cache();
  }

  std::string Path(const std::string& name) const {
    return std::string(::testing::TempDir()) + "/" + name;
  }

  // A checkpoint of one 16 MiB weight and one small bias.
  std::string WriteCheckpoint(const std::vector<float>& weight) {
    const std::string path = Path("weights.safetensors");
    save_safetensors(path, {{"w", from_host(weight, {1024, 4096}, local())},
                            {"b", from_host(std::vector<float>(4096, 0.5f), {4096}, local())}});
    return path;
  }

  std::vector<std::unique_ptr<server::FerrydProcess>> daemons_;
};

TEST_F(UploadCacheTest, ACheckpointLoadedAgainInANewSessionIsNotSentAgain) {
  server::FerrydProcess& daemon = Start();
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 1);
  const std::string path = WriteCheckpoint(weight);
  {
    Device first = connect(daemon.address());
    SafetensorsLoad loaded = load_safetensors(path, first);
    EXPECT_EQ(first.stats().cached_uploads, 0);  // nothing held yet: the bytes went
    EXPECT_GE(first.stats().bytes_sent, kWeightFloats * 4);
    EXPECT_EQ(loaded.first.at("w").to_vector<float>(), weight);
  }  // the program ends: its session and buffers are gone
  EXPECT_EQ(CacheStats(daemon, 1).entries(), 1);  // the 16 MiB weight, not the 16 KiB bias

  Device second = connect(daemon.address());
  SafetensorsLoad again = load_safetensors(path, second);
  const DeviceStats stats = second.stats();
  EXPECT_EQ(stats.cached_uploads, 1);
  EXPECT_EQ(stats.cached_upload_bytes, kWeightFloats * 4);
  EXPECT_LT(stats.bytes_sent, 1 << 20);  // the query, the bias and nothing else
  Array w = again.first.at("w");
  EXPECT_EQ(w.shape(), (Shape{1024, 4096}));
  EXPECT_EQ(w.to_vector<float>(), weight);
  // It computes like any buffer.
  std::vector<float> row_sums = sum(w, 1).to_vector<float>();
  float expected = 0;
  for (int64_t col = 0; col < 4096; ++col) expected += weight[col];
  EXPECT_NEAR(row_sums[0], expected, 1e-3f * (1.0f + std::abs(expected)));
  const v1::UploadCacheStats cache = CacheStats(daemon);
  EXPECT_EQ(cache.hits(), 1);
  EXPECT_EQ(cache.rejected(), 0);
}

// A checkpoint of many tensors: all of them asked for at once, one round trip in all, on a
// first load and again.
TEST_F(UploadCacheTest, AllTheTensorsOfAFileAreAskedForInOneRoundTrip) {
  server::FerrydProcess& daemon = Start();
  std::unordered_map<std::string, Array> tensors;
  std::vector<std::vector<float>> values;
  for (int i = 0; i < 12; ++i) {
    values.push_back(testing::NormalFloats(int64_t{1} << 18, 100 + i));  // 1 MiB each
    tensors.emplace("layer" + std::to_string(i), from_host(values.back(), {512, 512}, local()));
  }
  tensors.emplace("norm", from_host(std::vector<float>(512, 1.0f), {512}, local()));
  const std::string path = Path("layers.safetensors");
  save_safetensors(path, tensors);
  for (int run = 0; run < 2; ++run) {
    Device gpu = connect(daemon.address());
    const DeviceStats before = gpu.stats();
    SafetensorsLoad loaded = load_safetensors(path, gpu);
    EXPECT_EQ(gpu.stats().round_trips - before.round_trips, 1) << "run " << run;
    EXPECT_EQ(gpu.stats().cached_uploads, run == 0 ? 0 : 12) << "run " << run;
    for (int i = 0; i < 12; ++i) {
      EXPECT_EQ(loaded.first.at("layer" + std::to_string(i)).to_vector<float>(), values[i]);
    }
    EXPECT_EQ(loaded.first.at("norm").to_vector<float>(), std::vector<float>(512, 1.0f));
    if (run == 0) {
      EXPECT_EQ(CacheStats(daemon, 12).entries(), 12);
    }
  }
}

TEST_F(UploadCacheTest, OnlyUploadsInsideACachedUploadsScopeAsk) {
  server::FerrydProcess& daemon = Start();
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 2);
  Device gpu = connect(daemon.address());
  {
    CachedUploads cached;
    from_host(weight, {kWeightFloats}, gpu).eval();
  }
  CacheStats(daemon, 1);
  const DeviceStats before = gpu.stats();
  Array plain = from_host(weight, {kWeightFloats}, gpu);  // outside: sent, never hashed
  EXPECT_EQ(gpu.stats().cached_uploads, before.cached_uploads);
  EXPECT_GE(gpu.stats().bytes_sent - before.bytes_sent, kWeightFloats * 4);
  {
    CachedUploads cached;
    CachedUploads nested;
    Array again = from_host(weight, {2048, 2048}, gpu);  // another shape of the same bytes
    EXPECT_EQ(gpu.stats().cached_uploads, before.cached_uploads + 1);
    EXPECT_EQ(again.shape(), (Shape{2048, 2048}));
    EXPECT_EQ(again.to_vector<float>(), weight);
  }
  // Other bytes of the same size miss and are sent.
  std::vector<float> other = weight;
  other[12345] += 1.0f;
  {
    CachedUploads cached;
    Array changed = from_host(other, {kWeightFloats}, gpu);
    EXPECT_EQ(gpu.stats().cached_uploads, before.cached_uploads + 1);
    EXPECT_EQ(changed.to_vector<float>(), other);
  }
  // ConnectOptions::upload_cache = false: never asks.
  ConnectOptions off;
  off.upload_cache = false;
  Device no_cache = connect(daemon.address(), off);
  CachedUploads cached;
  from_host(weight, {kWeightFloats}, no_cache).eval();
  EXPECT_EQ(no_cache.stats().cached_uploads, 0);
}

// Over gRPC (no bulk channel) and without a pipeline the query takes an Upload call.
TEST_F(UploadCacheTest, QueriesGoOverGrpcToo) {
  server::FerrydProcess& daemon = Start({"--bulk_port=-1"});
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 3);
  ConnectOptions unpipelined;
  unpipelined.pipeline = false;
  for (const ConnectOptions& options : {ConnectOptions(), unpipelined}) {
    Device gpu = connect(daemon.address(), options);
    CachedUploads cached;
    Array w = from_host(weight, {kWeightFloats}, gpu);
    EXPECT_EQ(w.to_vector<float>(), weight);
    CacheStats(daemon, 1);
  }
  EXPECT_EQ(CacheStats(daemon).hits(), 1);
}

// A client that names a digest its bytes do not have plants nothing: the daemon checks
// what arrived before keeping it, so another client's upload of the real bytes misses.
TEST_F(UploadCacheTest, BytesUnderAnotherDigestAreNotKept) {
  server::FerrydProcess& daemon = Start();
  const std::vector<float> real = testing::NormalFloats(kWeightFloats, 4);
  const std::vector<float> fake(kWeightFloats, 0.0f);
  std::unique_ptr<v1::Ferry::Stub> stub = testing::Connect(daemon.address());
  const std::string session = testing::OpenSession(*stub);
  {
    grpc::ClientContext context;
    v1::UploadResponse response;
    auto writer = stub->Upload(&context, &response);
    v1::UploadRequest request;
    request.set_session_id(session);
    request.set_buffer_id(1);
    *request.mutable_spec() = testing::Spec(v1::FLOAT32, {kWeightFloats});
    request.set_total_bytes(kWeightFloats * 4);
    request.set_content_digest(core::ContentDigest(real.data(), real.size() * 4));
    request.set_data(testing::FloatBytes(fake));
    ASSERT_TRUE(writer->Write(request));
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  EXPECT_TRUE(testing::WaitUntil([&] { return CacheStats(daemon).rejected() == 1; }));
  Device gpu = connect(daemon.address());
  CachedUploads cached;
  Array w = from_host(real, {kWeightFloats}, gpu);
  EXPECT_EQ(gpu.stats().cached_uploads, 0);
  EXPECT_EQ(w.to_vector<float>(), real);
  EXPECT_EQ(CacheStats(daemon, 1).entries(), 1);  // the real bytes, once checked
}

TEST_F(UploadCacheTest, SessionsOfAnotherTokenNeverFindThem) {
  const std::string tokens = Path("tokens");
  std::ofstream(tokens) << "team-a-token\nteam-b-token\n";
  server::FerrydProcess& daemon = Start({"--auth_tokens_file=" + tokens});
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 5);
  auto with_token = [](const std::string& token) {
    ConnectOptions options;
    options.token = token;
    return options;
  };
  CachedUploads cached;
  {
    Device a = connect(daemon.address(), with_token("team-a-token"));
    from_host(weight, {kWeightFloats}, a).eval();
  }
  CacheStats(daemon, 1, "team-a-token");
  Device b = connect(daemon.address(), with_token("team-b-token"));
  from_host(weight, {kWeightFloats}, b).eval();
  EXPECT_EQ(b.stats().cached_uploads, 0);
  Device a_again = connect(daemon.address(), with_token("team-a-token"));
  from_host(weight, {kWeightFloats}, a_again).eval();
  EXPECT_EQ(a_again.stats().cached_uploads, 1);
}

// A buffer made from the cache is the same memory as the entry (on the CPU): work that may
// write in place (an elementwise op whose input dies with it) must leave the entry alone.
TEST_F(UploadCacheTest, WorkOnABufferFromTheCacheLeavesTheCacheAlone) {
  server::FerrydProcess& daemon = Start();
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 6);
  Device gpu = connect(daemon.address());
  CachedUploads cached;
  from_host(weight, {kWeightFloats}, gpu).eval();
  CacheStats(daemon, 1);
  for (int round = 0; round < 2; ++round) {
    std::optional<Array> w = from_host(weight, {kWeightFloats}, gpu);
    EXPECT_EQ(gpu.stats().cached_uploads, round + 1);
    Array doubled = *w * 2.0f;
    w.reset();  // dies with the step: its memory could be written over
    doubled.eval();
    EXPECT_EQ(doubled.to_vector<float>()[7], weight[7] * 2.0f) << "round " << round;
  }
  Array last = from_host(weight, {kWeightFloats}, gpu);
  EXPECT_EQ(last.to_vector<float>(), weight);
}

TEST_F(UploadCacheTest, KeptBytesGiveWayWhenTheDaemonNeedsTheMemory) {
  server::FerrydProcess& daemon = Start({"--max_memory=40M", "--upload_cache=24M"});
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 7);
  {
    Device gpu = connect(daemon.address());
    CachedUploads cached;
    from_host(weight, {kWeightFloats}, gpu).eval();
  }
  EXPECT_EQ(CacheStats(daemon, 1).bytes(), kWeightFloats * 4);
  // 32 MiB of new work fits only if the kept 16 MiB go.
  Device gpu = connect(daemon.address());
  Array big = ones({int64_t{1} << 23}, float32, gpu);
  EXPECT_EQ(sum(big).item<float>(), static_cast<float>(int64_t{1} << 23));
  EXPECT_EQ(CacheStats(daemon).entries(), 0);
}

// --upload_cache_dir: what the cache holds is on disk too, and a daemon started again over
// the directory (an upgrade, a pod restarted) still has it.
TEST_F(UploadCacheTest, WithADirectoryTheyOutliveARestartOfTheDaemon) {
  const std::string dir = Path("upload_cache_dir");
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 10);
  {
    server::FerrydProcess& daemon = Start({"--upload_cache_dir=" + dir});
    Device gpu = connect(daemon.address());
    CachedUploads cached;
    from_host(weight, {kWeightFloats}, gpu).eval();
    // Written to disk before it is kept in memory.
    EXPECT_EQ(CacheStats(daemon, 1).disk_entries(), 1);
  }
  daemons_.clear();  // stopped
  const int metrics = server::FreeLoopbackPort();
  server::FerrydProcess& again =
      Start({"--upload_cache_dir=" + dir, "--metrics_port=" + std::to_string(metrics)});
  EXPECT_EQ(CacheStats(again).disk_bytes(), kWeightFloats * 4);
  Device gpu = connect(again.address());
  CachedUploads cached;
  Array w = from_host(weight, {kWeightFloats}, gpu);
  EXPECT_EQ(gpu.stats().cached_uploads, 1);
  EXPECT_LT(gpu.stats().bytes_sent, 1 << 20);
  EXPECT_EQ(w.to_vector<float>(), weight);
  EXPECT_EQ(testing::ScrapeMetric(metrics, "ferry_upload_cache_queries_total{result=\"hit\"}"), 1);
  EXPECT_EQ(testing::ScrapeMetric(metrics, "ferry_upload_cache_disk_bytes"), kWeightFloats * 4);
  EXPECT_EQ(testing::ScrapeMetric(metrics, "ferry_upload_cache_bytes{device=\"cpu:0\"}"),
            kWeightFloats * 4);  // read back into memory
}

TEST_F(UploadCacheTest, ADaemonStartedWithoutOneOffersNone) {
  server::FerrydProcess& daemon = Start({"--upload_cache=0"});
  Device gpu = connect(daemon.address());
  const std::vector<float> weight = testing::NormalFloats(kWeightFloats, 8);
  CachedUploads cached;
  const DeviceStats before = gpu.stats();
  from_host(weight, {kWeightFloats}, gpu).eval();
  from_host(weight, {kWeightFloats}, gpu).eval();
  EXPECT_EQ(gpu.stats().cached_uploads, 0);
  EXPECT_EQ(gpu.stats().round_trips - before.round_trips, 0);  // no query was sent
}

}  // namespace
}  // namespace ferry
