// ferry::Profiler against a real ferryd and the local device: each eval's phases on the
// client and on the device, each kernel (or fused group) with its op and result type, the
// summary table and the Chrome trace.

#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/ferry.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

// A small MLP layer: matmul, add, relu and a sum, unfused on a daemon run with
// --fusion=false.
Array Layer(const Array& x, const Array& w) { return sum(relu(matmul(x, w) + 1.0f)); }

const ProfiledStep* FindStep(const ProfiledEval& eval, const std::string& name) {
  for (const ProfiledStep& step : eval.steps) {
    if (step.name() == name) return &step;
  }
  return nullptr;
}

// What every answered eval's record must say, on any device.
void ExpectConsistent(const ProfiledEval& eval) {
  EXPECT_TRUE(eval.error.empty()) << eval.error;
  EXPECT_GT(eval.nodes, 0);
  EXPECT_LE(eval.begin_us, eval.lowered_us);
  EXPECT_LE(eval.lowered_us, eval.sent_us);
  EXPECT_LE(eval.sent_us, eval.answered_us);
  ASSERT_TRUE(eval.profiled_by_device);
  EXPECT_EQ(eval.backend, "cpu");
  EXPECT_GT(eval.run_us, 0);
  EXPECT_FALSE(eval.steps.empty());
  double previous_end = 0;
  for (const ProfiledStep& step : eval.steps) {
    EXPECT_GE(step.start_us, previous_end - 1e-3) << step.name();  // in order, one at a time
    previous_end = step.start_us + step.duration_us;
    EXPECT_GE(step.duration_us, 0);
  }
  EXPECT_LE(previous_end, eval.run_us + 1e-3);  // the steps are within the run
  // The device's time fits within the wait for the answer (same machine, same clock).
  EXPECT_LE(eval.device_us(), eval.answered_us - eval.sent_us + 1);
}

// A ferryd that runs each op as its own step (--fusion=false), and a session on it.
class UnfusedProfilerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = testing::StartFerryd({"--fusion=false"});
    ASSERT_NE(daemon_, nullptr);
    gpu_.emplace(connect(daemon_->address()));
  }

  // Normal draws of `shape` on the daemon, computed before any profiler records.
  Array Computed(const Shape& shape, uint32_t seed) {
    Array a = random::normal(shape, float32, 0, 1, random::key(seed), *gpu_);
    a.eval();
    return a;
  }

  std::unique_ptr<server::FerrydProcess> daemon_;
  std::optional<Device> gpu_;
};

TEST_F(UnfusedProfilerTest, PipelinedEvalsAreTimedStepByStepOnTheDaemon) {
  const Device& gpu = *gpu_;
  Array x = Computed({64, 128}, 1);
  Array w = Computed({128, 32}, 2);

  Profiler profiler;
  Array first = Layer(x, w);
  first.eval();
  Array second = Layer(x, w);  // the same graph: sent by fingerprint
  second.eval();
  profiler.stop();

  const std::vector<ProfiledEval> evals = profiler.evals();
  ASSERT_EQ(evals.size(), 2u);
  for (const ProfiledEval& eval : evals) {
    ExpectConsistent(eval);
    EXPECT_EQ(eval.device, gpu.description());
    const ProfiledStep* matmul = FindStep(eval, "matmul");
    ASSERT_NE(matmul, nullptr);
    EXPECT_EQ(matmul->type, "float32(64, 32)");
    EXPECT_NE(FindStep(eval, "relu"), nullptr);
    EXPECT_NE(FindStep(eval, "sum"), nullptr);
    EXPECT_GT(eval.peak_bytes, 0);
  }
  EXPECT_TRUE(evals[0].graph_sent);
  EXPECT_FALSE(evals[0].plan_cached);
  EXPECT_FALSE(evals[1].graph_sent);
  EXPECT_TRUE(evals[1].plan_cached);
  // Profiling changes no result.
  EXPECT_EQ(first.item<float>(), second.item<float>());
}

// Without device steps the daemon reports its phases only, and runs the graph unprofiled.
TEST_F(UnfusedProfilerTest, PhasesAloneWithoutDeviceSteps) {
  Array x = Computed({64, 128}, 10);
  Array w = Computed({128, 32}, 11);
  ProfilerOptions options;
  options.device_steps = false;
  Profiler profiler(options);
  Layer(x, w).eval();
  const std::vector<ProfiledEval> evals = profiler.evals();
  ASSERT_EQ(evals.size(), 1u);
  ASSERT_TRUE(evals[0].profiled_by_device);
  EXPECT_GT(evals[0].run_us, 0);
  EXPECT_TRUE(evals[0].steps.empty());
  EXPECT_LE(evals[0].device_us(), evals[0].answered_us - evals[0].sent_us + 1);
  EXPECT_EQ(profiler.table().find("% steps"), std::string::npos);  // no op rows
}

TEST_F(UnfusedProfilerTest, UnaryEvalsAreTimedToo) {
  ConnectOptions options;
  options.pipeline = false;
  Device gpu = connect(daemon_->address(), options);
  Array x = random::normal({16, 8}, float32, 0, 1, random::key(3), gpu);
  Array w = random::normal({8, 4}, float32, 0, 1, random::key(4), gpu);
  Profiler profiler;
  Layer(x, w).eval();  // x and w are computed in the same graph
  const std::vector<ProfiledEval> evals = profiler.evals();
  ASSERT_EQ(evals.size(), 1u);
  ExpectConsistent(evals[0]);
  EXPECT_EQ(evals[0].queued_us, 0);  // a unary call waits behind nothing
  EXPECT_NE(FindStep(evals[0], "random_normal"), nullptr) << profiler.table();
}

TEST(ProfilerTest, FusedGroupsAreNamedByTheirOps) {
  auto daemon = testing::StartFerryd();
  ASSERT_NE(daemon, nullptr);
  Device gpu = connect(daemon->address());
  Array x = random::normal({1 << 16}, float32, 0, 1, random::key(5), gpu);
  x.eval();
  Profiler profiler;
  (exp(x) * 2.0f + 1.0f).eval();
  const std::vector<ProfiledEval> evals = profiler.evals();
  ASSERT_EQ(evals.size(), 1u);
  ExpectConsistent(evals[0]);
  ASSERT_EQ(evals[0].steps.size(), 3u) << profiler.table();  // two scalars, the group
  const ProfiledStep& fused = evals[0].steps.back();
  EXPECT_EQ(fused.name(), "fused(exp, mul, add)");
  EXPECT_EQ(fused.type, "float32(65536,)");
}

TEST(ProfilerTest, TheLocalDeviceIsTimedTheSameWay) {
  Device cpu = local();
  Array x = random::normal({32, 16}, float32, 0, 1, random::key(6), cpu);
  Array w = random::normal({16, 8}, float32, 0, 1, random::key(7), cpu);
  eval({x, w});
  Profiler profiler;
  Layer(x, w).eval();
  const std::vector<ProfiledEval> evals = profiler.evals();
  ASSERT_EQ(evals.size(), 1u);
  ExpectConsistent(evals[0]);
  EXPECT_EQ(evals[0].device, cpu.description());
  EXPECT_NE(FindStep(evals[0], "matmul"), nullptr);
}

TEST(ProfilerTest, RecordsOnlyItsOwnThreadWhileRecordingAndTheInnermostProfiler) {
  Device cpu = local();
  Array x = full({4}, 1.0, float32, cpu);
  Profiler outer;
  (x + 1.0f).eval();
  std::thread other([&] { (full({4}, 2.0, float32, cpu) * 3.0f).eval(); });  // another thread
  other.join();
  {
    Profiler inner;
    (x * 5.0f).eval();
    (x * 6.0f).eval();
    EXPECT_EQ(inner.evals().size(), 2u);
  }
  (x - 1.0f).eval();
  outer.stop();
  (x / 2.0f).eval();  // stopped
  const std::vector<ProfiledEval> evals = outer.evals();
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_NE(FindStep(evals[0], "add"), nullptr);
  EXPECT_NE(FindStep(evals[1], "sub"), nullptr);
}

TEST(ProfilerTest, AnOuterProfilerGoneFirstLeavesNothingRecording) {
  Device cpu = local();
  Array x = full({4}, 1.0, float32, cpu);
  auto outer = std::make_unique<Profiler>();
  Profiler inner;
  outer.reset();  // out of order: stopped and destroyed while the inner one records
  (x + 1.0f).eval();
  inner.stop();
  (x + 2.0f).eval();  // nobody records: the outer one is gone
  EXPECT_EQ(inner.evals().size(), 1u);
}

TEST(ProfilerTest, AFailedEvalIsRecordedWithItsError) {
  auto daemon = testing::StartFerryd({"--max_memory=16M"});
  ASSERT_NE(daemon, nullptr);
  Device gpu = connect(daemon->address());
  Profiler profiler;
  Array big = full({8 << 20}, 1.0, float32, gpu) * 2.0f;  // 32 MiB
  big.eval();                                             // pipelined: fails once answered
  EXPECT_THROW(big.item<float>(), Error);
  Array fine = full({4}, 1.0, float32, gpu) + 1.0f;
  fine.eval();
  const std::vector<ProfiledEval> evals = profiler.evals();
  ASSERT_GE(evals.size(), 2u);
  EXPECT_NE(evals.front().error.find("RESOURCE_EXHAUSTED"), std::string::npos)
      << evals.front().error;
  EXPECT_FALSE(evals.front().profiled_by_device);
  ExpectConsistent(evals.back());
  EXPECT_NE(profiler.table().find("1 failed"), std::string::npos) << profiler.table();
}

// Large arrays' uploads and downloads, each with its bytes, route and times.
TEST(ProfilerTest, TransfersAreTimedWithTheirRoute) {
  auto daemon = testing::StartFerryd();
  ASSERT_NE(daemon, nullptr);
  const std::vector<float> host(1 << 20, 0.5f);  // 4 MiB
  ConnectOptions over_grpc;
  over_grpc.bulk_channel = false;
  over_grpc.upload_cache = false;
  for (const ConnectOptions& options : {ConnectOptions{}, over_grpc}) {
    Device gpu = connect(daemon->address(), options);
    const std::string route = options.bulk_channel ? "bulk channel" : "grpc";
    Profiler profiler;
    Array x = from_host(host, {1 << 20}, gpu);  // uploaded now
    Array y = x * 2.0f;
    std::vector<float> back = y.to_vector<float>();  // an eval, then a download
    EXPECT_EQ(back[7], 1.0f);
    const std::vector<ProfiledTransfer> transfers = profiler.transfers();
    ASSERT_EQ(transfers.size(), 2u) << profiler.table();
    for (const ProfiledTransfer& transfer : transfers) {
      EXPECT_EQ(transfer.device, gpu.description());
      EXPECT_EQ(transfer.bytes, 4 << 20);
      EXPECT_EQ(transfer.route, route);
      EXPECT_LE(transfer.begin_us, transfer.end_us);
      EXPECT_GT(transfer.gigabytes_per_second(), 0);
    }
    EXPECT_TRUE(transfers[0].upload);
    EXPECT_FALSE(transfers[1].upload);
    // The eval came between them.
    ASSERT_EQ(profiler.evals().size(), 1u);
    EXPECT_LE(transfers[0].end_us, profiler.evals()[0].begin_us);
    EXPECT_GE(transfers[1].begin_us, profiler.evals()[0].sent_us);
    const std::string table = profiler.table();
    EXPECT_NE(table.find("uploads: 1, 4.2 MB"), std::string::npos) << table;
    EXPECT_NE(table.find("downloads: 1, 4.2 MB"), std::string::npos) << table;
    EXPECT_NE(table.find(route + " 1)"), std::string::npos) << table;
  }
}

TEST_F(UnfusedProfilerTest, TheTableListsOpsByDeviceTime) {
  Array x = Computed({256, 256}, 8);
  Profiler profiler;
  for (int i = 0; i < 3; ++i) sum(matmul(x, x) + 1.0f).eval();
  const std::string table = profiler.table();
  EXPECT_NE(table.find("ferry profile: 3 eval(s)"), std::string::npos) << table;
  EXPECT_NE(table.find("on the device: queued"), std::string::npos) << table;
  // Each op's row counts its three calls.
  std::istringstream rows(table.substr(table.find("% steps")));
  std::string line;
  int op_rows = 0;
  while (std::getline(rows, line)) {
    std::istringstream fields(line);
    std::string op;
    int calls = 0;
    if (fields >> op >> calls && (op == "matmul" || op == "add" || op == "sum")) {
      EXPECT_EQ(calls, 3) << line;
      ++op_rows;
    }
  }
  EXPECT_EQ(op_rows, 3) << table;
  // At most max_rows ops, and how many more there are.
  EXPECT_NE(profiler.table(1).find("more ops"), std::string::npos);
}

TEST_F(UnfusedProfilerTest, TheChromeTraceHoldsEachPhaseAndStep) {
  const Device& gpu = *gpu_;
  Array x = Computed({32, 128}, 9);
  Profiler profiler;
  Array y = from_host(std::vector<float>(32 << 10, 1.0f), {128, 256}, gpu);  // 128 KiB
  relu(matmul(x, y)).eval();
  const std::string path = ::testing::TempDir() + "/trace.json";
  profiler.save_chrome_trace(path);
  std::ifstream file(path);
  const nlohmann::json trace = nlohmann::json::parse(file);
  const nlohmann::json& events = trace.at("traceEvents");
  auto find = [&](const std::string& name) -> const nlohmann::json* {
    for (const nlohmann::json& event : events) {
      if (event.at("name") == name) return &event;
    }
    return nullptr;
  };
  const nlohmann::json* lower = find("eval 0: lower");
  ASSERT_NE(lower, nullptr);
  EXPECT_EQ(lower->at("pid"), 1);  // the client
  const nlohmann::json* matmul = find("matmul");
  ASSERT_NE(matmul, nullptr);
  EXPECT_EQ(matmul->at("pid"), 2);  // the daemon
  EXPECT_EQ(matmul->at("args").at("type"), "float32(32, 256)");
  const nlohmann::json* run = find("run");
  ASSERT_NE(run, nullptr);
  // The step lies within the run, which follows the eval's sending.
  EXPECT_GE(matmul->at("ts").get<double>(), run->at("ts").get<double>() - 1e-3);
  EXPECT_LE(matmul->at("ts").get<double>() + matmul->at("dur").get<double>(),
            run->at("ts").get<double>() + run->at("dur").get<double>() + 1e-3);
  EXPECT_GE(run->at("ts").get<double>(), lower->at("ts").get<double>());
  EXPECT_NE(find("process_name"), nullptr);
  // The input's upload, on the client's transfer track.
  const nlohmann::json* upload = nullptr;
  for (const nlohmann::json& event : events) {
    if (event.at("name").get<std::string>().rfind("upload ", 0) == 0) upload = &event;
  }
  ASSERT_NE(upload, nullptr);
  EXPECT_EQ(upload->at("pid"), 1);
  EXPECT_EQ(upload->at("args").at("bytes"), 128 << 10);

  try {
    profiler.save_chrome_trace(::testing::TempDir() + "/no/such/dir/trace.json");
    FAIL() << "wrote into a directory that does not exist";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), ErrorCode::kPermissionDenied);
    EXPECT_NE(std::string(error.what()).find("save_chrome_trace"), std::string::npos);
  }
}

}  // namespace
}  // namespace ferry
