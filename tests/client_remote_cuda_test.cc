// The client against a ferryd serving on the GPU (--backend=cuda), over real gRPC: every op
// and composite gives what the local CPU device gives (within each dtype's tolerance), the
// daemon describes its GPU, large arrays cross the bulk channel, gRPC and shared memory
// intact, fused chains, a training loop and an nn transformer (then quantized) match, two
// sessions on one GPU keep their own data, and an eval past the daemon's GPU memory budget
// fails alone with RESOURCE_EXHAUSTED.
// Skips, saying why, where ferryd cannot serve on a GPU (no GPU, or a build without CUDA).
// Built with FERRY_CUDA_TESTS_ON_CPU the daemon serves on its CPU instead, which checks the
// test's own cases on machines without a GPU.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ferry.h"
#include "client/lm/generate.h"
#include "client/lm/load.h"
#include "core/half.h"
#include "core/ops.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"
#include "tests/nn_classifier.h"
#include "tests/remote_op_cases.h"

namespace ferry {
namespace {

using testing::CoreOpCases;
using testing::DaemonKernels;
using testing::ExpectSameOnBothDevices;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using testing::PartACompositeCases;
using testing::PartBCompositeCases;
using testing::PartCCompositeCases;

#ifdef FERRY_CUDA_TESTS_ON_CPU
constexpr bool kOnCpu = true;
constexpr char kBackendFlag[] = "--backend=cpu";
#else
constexpr bool kOnCpu = false;
constexpr char kBackendFlag[] = "--backend=cuda";
#endif
// Built with FERRY_CUDA_EMULATED, the daemon is ferryd_emulated: its CUDA backend runs on
// the CUDA emulator (kernels/cuda/emulator).
#ifdef FERRY_CUDA_EMULATED
constexpr bool kEmulated = true;
#else
constexpr bool kEmulated = false;
#endif

// A ferryd on the GPU with `flags`, or null with `why` saying why there is none.
std::unique_ptr<server::FerrydProcess> StartCudaFerryd(std::vector<std::string> flags,
                                                       std::string* why) {
  const std::string path = kEmulated ? server::FindRunfile(nullptr, "ferry/server/ferryd_emulated")
                                     : server::FindFerryd(nullptr);
  if (path.empty()) {
    *why = "ferryd is not in this test's runfiles";
    return nullptr;
  }
  flags.insert(flags.begin(), kBackendFlag);
  auto process = server::FerrydProcess::Start(path, flags);
  if (!process.ok()) {
    *why =
        absl::StrCat("ferryd ", kBackendFlag, " does not start here (no GPU, or no CUDA in this ",
                     "build): ", process.status().ToString());
    return nullptr;
  }
  return *std::move(process);
}

// Distinct, exactly representable floats: i mod 2^20, offset by the tensor's seed.
std::vector<float> Pattern(size_t n, float seed) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = seed + static_cast<float>(i & 0xFFFFF);
  return values;
}

class RemoteCudaTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    daemon_ = StartCudaFerryd({"--shared_memory"}, why_).release();
    if (daemon_ != nullptr) remote_ = new Device(connect(daemon_->address()));
  }
  static void TearDownTestSuite() {
    delete remote_;
    remote_ = nullptr;
    delete daemon_;
    daemon_ = nullptr;
  }
  void SetUp() override {
    if (daemon_ == nullptr) GTEST_SKIP() << *why_;
  }

  static server::FerrydProcess* daemon_;
  static Device* remote_;
  static std::string* why_;
};

server::FerrydProcess* RemoteCudaTest::daemon_ = nullptr;
Device* RemoteCudaTest::remote_ = nullptr;
std::string* RemoteCudaTest::why_ = new std::string;

TEST_F(RemoteCudaTest, DescribesTheGpu) {
  if (kOnCpu) GTEST_SKIP() << "the CPU stands in for the GPU in this build";
  const DeviceInfo info = remote_->info();
  EXPECT_EQ(info.backend, "cuda");
  EXPECT_THAT(info.name, HasSubstr(kEmulated ? "CUDA emulator" : "NVIDIA"));
  EXPECT_THAT(info.compute_capability, MatchesRegex("[0-9]+\\.[0-9]+"));
  EXPECT_THAT(info.driver_version, MatchesRegex("[0-9]+\\.[0-9]+"));
  EXPECT_THAT(info.runtime_version, MatchesRegex("[0-9]+\\.[0-9]+"));
  EXPECT_GT(info.memory_bytes, int64_t{1} << 30);
  EXPECT_THAT(remote_->description(),
              HasSubstr(kEmulated ? "(cuda: CUDA emulator" : "(cuda: NVIDIA"));
  std::printf("DEVICE %s, compute capability %s, %.1f GiB, driver %s, runtime %s\n",
              info.name.c_str(), info.compute_capability.c_str(),
              static_cast<double>(info.memory_bytes) / (1 << 30), info.driver_version.c_str(),
              info.runtime_version.c_str());
}

TEST_F(RemoteCudaTest, EveryOpMatchesTheLocalCpu) {
  for (const std::string& op : core::OpNames()) {
    if (op == "parameter" || op == "constant") continue;  // in every graph, implicitly
    if (core::IsCollective(op)) continue;  // they need a group: //tests:distributed_test
    SCOPED_TRACE(op);
    auto found = CoreOpCases().find(op);
    ASSERT_NE(found, CoreOpCases().end()) << "no remote-vs-local case for op " << op;
    ExpectSameOnBothDevices(found->second, *remote_, 1234, DaemonKernels::kOther);
  }
}

TEST_F(RemoteCudaTest, EveryCompositeMatchesTheLocalCpu) {
  for (const auto* cases :
       {&PartACompositeCases(), &PartBCompositeCases(), &PartCCompositeCases()}) {
    for (const auto& [name, op_case] : *cases) {
      SCOPED_TRACE(name);
      ExpectSameOnBothDevices(op_case, *remote_, 4321, DaemonKernels::kOther);
    }
  }
}

// Uploads then reads back 2x of an array of `n` floats through `device`; returns the stats
// delta so callers can check which path the bytes took.
DeviceStats RoundTrip(const Device& device, size_t n) {
  const std::vector<float> values = Pattern(n, 3);
  const DeviceStats before = device.stats();
  Array x = from_host(values, {static_cast<int64_t>(n)}, device);
  std::vector<float> doubled = (x * 2.0f).to_vector<float>();
  EXPECT_EQ(doubled.size(), n);
  size_t wrong = 0;
  for (size_t i = 0; i < n && i < doubled.size(); ++i) wrong += doubled[i] != 2 * values[i];
  EXPECT_EQ(wrong, 0u) << "of " << n << " elements";
  DeviceStats after = device.stats();
  after.uploads -= before.uploads;
  after.downloads -= before.downloads;
  after.bulk_channel_transfers -= before.bulk_channel_transfers;
  after.shared_memory_transfers -= before.shared_memory_transfers;
  return after;
}

// 64 MiB plus an odd tail: more than the staging buffers hold, and not a multiple of them.
constexpr size_t kLargeFloats = (size_t{16} << 20) + 3;

TEST_F(RemoteCudaTest, LargeArraysCrossTheBulkChannelIntact) {
  ASSERT_TRUE(remote_->info().bulk_channel);
  const DeviceStats moved = RoundTrip(*remote_, kLargeFloats);
  EXPECT_EQ(moved.bulk_channel_transfers, 2) << "one upload, one download";
}

TEST_F(RemoteCudaTest, LargeArraysCrossGrpcIntact) {
  ConnectOptions options;
  options.bulk_channel = false;
  Device grpc_only = connect(daemon_->address(), options);
  const DeviceStats moved = RoundTrip(grpc_only, kLargeFloats);
  EXPECT_EQ(moved.bulk_channel_transfers, 0);
  EXPECT_EQ(moved.uploads, 1);
  EXPECT_EQ(moved.downloads, 1);
}

TEST_F(RemoteCudaTest, LargeArraysCrossSharedMemoryIntact) {
  ConnectOptions options;
  options.shared_memory = true;
  Device same_host = connect(daemon_->address(), options);
  const DeviceStats moved = RoundTrip(same_host, kLargeFloats);
  EXPECT_EQ(moved.shared_memory_transfers, 2);
}

// A HostBuffer the daemon maps, page-locked for the GPU: each way one copy, the DMA.
TEST_F(RemoteCudaTest, HostBuffersCrossInPlace) {
  const std::vector<float> values = Pattern(kLargeFloats, 5);
  HostBuffer buffer(kLargeFloats * sizeof(float), *remote_);
  ASSERT_TRUE(buffer.in_place());
  std::memcpy(buffer.data(), values.data(), buffer.size());
  const DeviceStats before = remote_->stats();
  Array x = from_host(buffer.data<float>(), {static_cast<int64_t>(kLargeFloats)}, *remote_);
  std::memset(buffer.data(), 0, buffer.size());
  (x * 2.0f).copy_to(buffer.data(), buffer.size());
  size_t wrong = 0;
  for (size_t i = 0; i < kLargeFloats; ++i) wrong += buffer.data<float>()[i] != 2 * values[i];
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(remote_->stats().in_place_transfers - before.in_place_transfers, 2);
}

TEST_F(RemoteCudaTest, FusedChainsMatchTheLocalCpu) {
  // Long elementwise chains over broadcast inputs, in each floating dtype: the daemon plans
  // them as fused groups wherever its backend fuses.
  for (Dtype dtype : {float32, float16, bfloat16, float64}) {
    SCOPED_TRACE(static_cast<int>(dtype));
    testing::OpCase chain{false, [dtype](testing::Inputs& in) {
                            Array x = in.Uniform({257, 129}, dtype, -2, 2);
                            Array row = in.Uniform({129}, dtype, 0.5, 1.5);
                            Array y = sigmoid(tanh(exp(x * row) - 1.0f) * 3.0f) + x;
                            return where(y > 0.5f, y * y, abs(y) + row);
                          }};
    ExpectSameOnBothDevices(chain, *remote_, 77, DaemonKernels::kOther);
  }
}

TEST_F(RemoteCudaTest, TrainingMatchesTheLocalCpu) {
  // A small MLP under plain gradient descent, the same data and start on both devices.
  auto train = [](const Device& device) {
    std::mt19937 rng(9);
    std::normal_distribution<float> normal(0, 0.5f);
    auto host = [&](const Shape& shape) {
      std::vector<float> values(shape[0] * (shape.size() > 1 ? shape[1] : 1));
      for (float& v : values) v = normal(rng);
      return from_host(values, shape, device);
    };
    Array x = host({128, 16}), y = host({128, 1});
    std::vector<Array> params = {host({16, 32}), host({32}), host({32, 1}), host({1})};
    auto loss_and_grads = value_and_grad(
        [&](const std::vector<Array>& p) {
          Array error = matmul(tanh(matmul(x, p[0]) + p[1]), p[2]) + p[3] - y;
          return mean(error * error);
        },
        std::vector<int>{0, 1, 2, 3});
    std::vector<float> losses;
    for (int step = 0; step < 5; ++step) {
      auto [loss, grads] = loss_and_grads(params);
      for (size_t i = 0; i < params.size(); ++i) params[i] = params[i] - grads[i] * 0.1f;
      losses.push_back(loss.item<float>());
    }
    return losses;
  };
  const std::vector<float> want = train(local());
  const std::vector<float> got = train(*remote_);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4 * want[i]) << i;
  EXPECT_LT(got.back(), got.front());
}

TEST_F(RemoteCudaTest, AnNnTransformerTrainsAsOnTheLocalCpu) {
  // ferry::nn's layers (embedding, an encoder block with dropout, a head), AdamW, and a
  // quantized copy of the trained model: the GPU's numbers are the CPU's.
  const testing::NnTrainingRun want = testing::TrainNnClassifier(local(), 32, 1, 3, true);
  const testing::NnTrainingRun got = testing::TrainNnClassifier(*remote_, 32, 1, 3, true);
  ASSERT_EQ(got.losses.size(), want.losses.size());
  for (size_t i = 0; i < got.losses.size(); ++i) {
    EXPECT_NEAR(got.losses[i], want.losses[i], 1e-4 * want.losses[i]) << i;
  }
  EXPECT_LT(got.losses.back(), got.losses.front());
  ASSERT_EQ(got.quantized_logits.size(), want.quantized_logits.size());
  for (size_t i = 0; i < got.quantized_logits.size(); ++i) {
    EXPECT_NEAR(got.quantized_logits[i], want.quantized_logits[i],
                1e-3 + 1e-3 * std::abs(want.quantized_logits[i]))
        << i;
  }
}

TEST_F(RemoteCudaTest, ALanguageModelGeneratesMlxLmsTokens) {
  // ferry::lm on the GPU: mlx-lm's llama (float32 and 4-bit) generates mlx-lm's greedy
  // tokens, each step's log-probabilities within 1e-3 of the local CPU's, its KV cache
  // written in place (donated) step after step.
  // Bazel's runfiles, or the GPU bundle's (tools/gpu_bundle.sh copies the models there).
  std::string dir = "client/lm/testdata/";
  for (const char* variable : {"TEST_SRCDIR", "RUNFILES_DIR"}) {
    if (const char* root = std::getenv(variable)) {
      dir = std::string(root) + "/ferry/client/lm/testdata/";
      break;
    }
  }
  const auto fixture = load_safetensors(dir + "lm_mlx.safetensors").first;
  const int64_t donated = remote_->stats().donated;
  for (const std::string name : {"llama", "llama_4bit"}) {
    const std::vector<int32_t> prompt = Array(fixture.at(name + ".prompt")).to_vector<int32_t>();
    const std::vector<int32_t> want = Array(fixture.at(name + ".greedy")).to_vector<int32_t>();
    std::unique_ptr<lm::Model> on_gpu = lm::load_model(dir + name, *remote_);
    std::unique_ptr<lm::Model> here = lm::load_model(dir + name, local());
    lm::GenerateOptions options;
    options.max_tokens = static_cast<int>(want.size());
    lm::TokenGenerator gpu(*on_gpu, prompt, options), cpu(*here, prompt, options);
    std::vector<int32_t> got;
    while (std::optional<lm::GenerationStep> step = gpu.next()) {
      const std::vector<float> lp = step->logprobs.to_vector<float>();
      const std::vector<float> ref = cpu.next()->logprobs.to_vector<float>();
      for (size_t k = 0; k < lp.size(); ++k) {
        ASSERT_NEAR(lp[k], ref[k], 1e-3 + 1e-3 * std::abs(ref[k])) << name << " " << k;
      }
      got.push_back(step->token);
    }
    EXPECT_EQ(got, want) << name;
  }
  EXPECT_GT(remote_->stats().donated - donated, 0);
}

TEST_F(RemoteCudaTest, TwoSessionsKeepTheirOwnData) {
  // Each session works on its own CUDA stream; interleaved evals never see the other's data.
  Device other = connect(daemon_->address());
  Array a = from_host(Pattern(1 << 20, 1), {1 << 20}, *remote_);
  Array b = from_host(Pattern(1 << 20, 5), {1 << 20}, other);
  for (int i = 0; i < 8; ++i) {
    a = a + 1.0f;
    b = b - 1.0f;
    a.eval();
    b.eval();
  }
  EXPECT_EQ(a.to_vector<float>(), Pattern(1 << 20, 9));  // exact: integers below 2^24
  EXPECT_EQ(b.to_vector<float>(), Pattern(1 << 20, -3));
}

// The upload cache on the GPU: the checker reads the upload back on its session's stream
// after the upload's own copies, and a session that finds it gets its own copy on its own
// stream, which later work on either session leaves alone.
TEST_F(RemoteCudaTest, WeightsUploadedAgainComeFromTheUploadCache) {
  const std::vector<float> weight = Pattern(3 << 20, 11);  // 12 MiB: three digest pieces
  CachedUploads cached;
  {
    Device first = connect(daemon_->address());
    from_host(weight, {3 << 20}, first).eval();
  }
  // The daemon keeps the bytes once it has checked them, off the upload's path.
  std::unique_ptr<Device> again;
  for (int attempt = 0; attempt < 600; ++attempt) {
    again = std::make_unique<Device>(connect(daemon_->address()));
    Array w = from_host(weight, {3 << 20}, *again);
    if (again->stats().cached_uploads == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_EQ(again->stats().cached_uploads, 1);
  Array w = from_host(weight, {1024, 3072}, *again);  // same bytes, another shape
  EXPECT_EQ(again->stats().cached_uploads, 2);
  Array doubled = w * 2.0f;
  EXPECT_EQ(doubled.to_vector<float>()[12345], weight[12345] * 2.0f);
  EXPECT_EQ(w.to_vector<float>(), weight);
  Device third = connect(daemon_->address());
  EXPECT_EQ(from_host(weight, {3 << 20}, third).to_vector<float>(), weight);
  EXPECT_EQ(third.stats().cached_uploads, 1);
}

// A profiled eval waits for each kernel on the session's stream before the next starts:
// every step has its own time, and the results are the unprofiled eval's.
TEST_F(RemoteCudaTest, ProfiledEvalsTimeEachKernelOnItsStream) {
  Device gpu = connect(daemon_->address());
  Array x = from_host(Pattern(256 * 512, 12), {256, 512}, gpu);
  Array w = from_host(Pattern(512 * 128, 13), {512, 128}, gpu);
  const std::vector<float> unprofiled = relu(matmul(x, w) * 0.5f + 1.0f).to_vector<float>();
  Profiler profiler;
  Array y = relu(matmul(x, w) * 0.5f + 1.0f);
  y.eval();
  const std::vector<ProfiledEval> evals = profiler.evals();
  ASSERT_EQ(evals.size(), 1u);
  const ProfiledEval& eval = evals[0];
  ASSERT_TRUE(eval.profiled_by_device) << eval.error;
  EXPECT_EQ(eval.backend, kOnCpu ? "cpu" : "cuda");
  bool found_matmul = false;
  double steps_us = 0;
  for (const ProfiledStep& step : eval.steps) {
    found_matmul |= step.op == "matmul" && step.type == "float32(256, 128)";
    EXPECT_GE(step.duration_us, 0) << step.name();
    steps_us += step.duration_us;
  }
  EXPECT_TRUE(found_matmul) << profiler.table();
  EXPECT_LE(steps_us, eval.run_us + 1);
  const std::vector<float> profiled = y.to_vector<float>();
  ASSERT_EQ(profiled.size(), unprofiled.size());
  for (size_t i = 0; i < profiled.size(); ++i) {
    ASSERT_NEAR(profiled[i], unprofiled[i], 1e-4f * (1 + std::abs(unprofiled[i]))) << i;
  }
}

TEST(RemoteCudaMemoryTest, AnEvalPastTheBudgetFailsAloneWithResourceExhausted) {
  std::string why;
  auto daemon = StartCudaFerryd({"--max_memory=256M"}, &why);
  if (daemon == nullptr) GTEST_SKIP() << why;
  Device gpu = connect(daemon->address());
  Array big = zeros({int64_t{100} << 20}, float32, gpu);  // 400 MiB
  Array total = sum(big + 1.0f);
  try {
    total.item<float>();
    ADD_FAILURE() << "no error past a 256 MiB budget";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kResourceExhausted) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("419430400")) << "names the size asked for";
  }
  EXPECT_NO_THROW(synchronize(gpu));  // reported once
  // The session and the daemon go on.
  Array small = ones({1 << 20}, float32, gpu);
  EXPECT_EQ(sum(small).item<float>(), static_cast<float>(1 << 20));
}

// Two GPU daemons, each serving its metrics, for a group's collectives.
struct GpuPair {
  std::unique_ptr<server::FerrydProcess> daemons[2];
  int metrics_ports[2] = {0, 0};
  std::vector<Device> devices;
  // Collectives a daemon ran between device memories (NCCL) rather than through the host.
  double DeviceCalls(int rank) const {
    return testing::ScrapeMetric(metrics_ports[rank], "ferry_collective_device_calls_total");
  }
};

// `first_flags` for rank 0's daemon only.
std::unique_ptr<GpuPair> StartGpuPair(std::string* why,
                                      const std::vector<std::string>& first_flags = {}) {
  auto pair = std::make_unique<GpuPair>();
  for (int r = 0; r < 2; ++r) {
    pair->metrics_ports[r] = server::FreeLoopbackPort();
    std::vector<std::string> flags = {absl::StrCat("--metrics_port=", pair->metrics_ports[r])};
    if (r == 0) flags.insert(flags.end(), first_flags.begin(), first_flags.end());
    pair->daemons[r] = StartCudaFerryd(flags, why);
    if (pair->daemons[r] == nullptr) return nullptr;
    pair->devices.push_back(connect(pair->daemons[r]->address()));
  }
  return pair;
}

// Collectives, sends and receives on GPU daemons, for every dtype width they move. Where
// both daemons have NCCL (the emulator's stand-in here; on a machine of one GPU NCCL refuses
// two ranks on it and the group stages through host memory), the collectives NCCL carries
// run between device memories: all_sum of float32, all_gather, sum_scatter and all_to_all;
// all_max of float16 (NCCL's fmax would drop NaN), sends and receives go through the host.
TEST_F(RemoteCudaTest, CollectivesBetweenTwoGpuDaemons) {
  std::string why;
  std::unique_ptr<GpuPair> pair = StartGpuPair(&why);
  ASSERT_NE(pair, nullptr) << why;
  const std::vector<Device>& devices = pair->devices;
  const distributed::Group group = distributed::init(devices);
  std::printf("the group's collectives: %s\n", group.backend().c_str());
  if (kEmulated) {
    EXPECT_EQ(group.backend(), "nccl");
  }
  if (kOnCpu) {
    EXPECT_EQ(group.backend(), "ring");
  }
  std::vector<Array> sums, halves, gathers, scatters;
  for (int r = 0; r < 2; ++r) {
    Array x = from_host(Pattern(3000, 10.0f * r), {1000, 3}, devices[r]);
    sums.push_back(distributed::all_sum(x, group));
    halves.push_back(distributed::all_max(astype(x, float16), group));
    gathers.push_back(distributed::all_gather(x, group));
    scatters.push_back(distributed::sum_scatter(x, group));
  }
  std::vector<Array> all;
  for (const auto* results : {&sums, &halves, &gathers, &scatters}) {
    all.insert(all.end(), results->begin(), results->end());
  }
  eval(all);
  const std::vector<float> a = Pattern(3000, 0), b = Pattern(3000, 10);
  for (int r = 0; r < 2; ++r) {
    const std::vector<float> sum_r = sums[r].to_vector<float>();
    const std::vector<float> max_r = astype(halves[r], float32).to_vector<float>();
    const std::vector<float> gathered = gathers[r].to_vector<float>();
    const std::vector<float> part = scatters[r].to_vector<float>();
    for (int i = 0; i < 3000; ++i) {
      ASSERT_EQ(sum_r[i], a[i] + b[i]) << "rank " << r << ", element " << i;
      ASSERT_EQ(max_r[i], static_cast<float>(core::Float16(b[i]))) << r << " " << i;
      ASSERT_EQ(gathered[i], a[i]) << r << " " << i;
      ASSERT_EQ(gathered[3000 + i], b[i]) << r << " " << i;
    }
    for (int i = 0; i < 1500; ++i) ASSERT_EQ(part[i], a[1500 * r + i] + b[1500 * r + i]);
  }
  // all_to_all: half of each rank's rows to the other.
  std::vector<Array> swapped_halves;
  for (int r = 0; r < 2; ++r) {
    swapped_halves.push_back(
        distributed::all_to_all(from_host(Pattern(3000, 10.0f * r), {1000, 3}, devices[r]), group));
  }
  eval(swapped_halves);
  for (int r = 0; r < 2; ++r) {
    const std::vector<float> got = swapped_halves[r].to_vector<float>();
    for (int i = 0; i < 1500; ++i) {
      ASSERT_EQ(got[i], a[1500 * r + i]) << "rank " << r << ", element " << i;
      ASSERT_EQ(got[1500 + i], b[1500 * r + i]) << "rank " << r << ", element " << i;
    }
  }
  // Sends and receives: each rank's tensor to the other, a send giving back its own input.
  std::vector<Array> sent, received;
  for (int r = 0; r < 2; ++r) {
    Array x = astype(from_host(Pattern(3000, 10.0f * r), {1000, 3}, devices[r]), bfloat16);
    sent.push_back(distributed::send(x, 1 - r, group));
    received.push_back(distributed::recv_like(x, 1 - r, group));
  }
  std::vector<Array> swapped = sent;
  swapped.insert(swapped.end(), received.begin(), received.end());
  eval(swapped);
  for (int r = 0; r < 2; ++r) {
    EXPECT_EQ(astype(received[r], float32).to_vector<float>(),
              astype(sent[1 - r], float32).to_vector<float>())
        << "rank " << r;
  }
  for (int r = 0; r < 2; ++r) {
    const double device_calls = pair->DeviceCalls(r);
    std::printf("rank %d: %g collectives between device memories (NCCL)\n", r, device_calls);
    if (kEmulated) {
      EXPECT_EQ(device_calls, 4) << "rank " << r;
    }
    if (kOnCpu) {
      EXPECT_EQ(device_calls, 0) << "rank " << r;
    }
  }
}

// Sums over a pair of daemons are right, and none ran on NCCL.
void ExpectSumsStagedThroughTheHost(const GpuPair& pair) {
  const distributed::Group group = distributed::init(pair.devices);
  EXPECT_EQ(group.backend(), "ring");
  std::vector<Array> sums;
  for (int r = 0; r < 2; ++r) {
    sums.push_back(
        distributed::all_sum(from_host(Pattern(100, 5.0f * r), {100}, pair.devices[r]), group));
  }
  eval(sums);
  const std::vector<float> a = Pattern(100, 0), b = Pattern(100, 5);
  for (int r = 0; r < 2; ++r) {
    const std::vector<float> got = sums[r].to_vector<float>();
    for (int i = 0; i < 100; ++i) ASSERT_EQ(got[i], a[i] + b[i]) << "rank " << r << " " << i;
    EXPECT_EQ(pair.DeviceCalls(r), 0) << "rank " << r;
  }
}

// A rank whose NCCL cannot make the group's id (here the emulator's, told to listen on an
// address this host lacks) leaves the whole group on the host path: init still succeeds,
// and its collectives give the same results, staged.
TEST_F(RemoteCudaTest, AGroupWhoseRankCannotJoinNcclStagesThroughTheHost) {
  if (!kEmulated) GTEST_SKIP() << "needs the emulator's NCCL, which can be told to fail";
  setenv("FERRY_NCCL_EMULATOR_ADDRESS", "192.0.2.1", 1);  // TEST-NET-1: on no interface
  std::string why;
  std::unique_ptr<GpuPair> pair = StartGpuPair(&why);
  unsetenv("FERRY_NCCL_EMULATOR_ADDRESS");
  ASSERT_NE(pair, nullptr) << why;
  ExpectSumsStagedThroughTheHost(*pair);
}

// A daemon told not to (--device_collectives=false) offers no NCCL, so its groups stage.
TEST_F(RemoteCudaTest, ADaemonWithoutDeviceCollectivesKeepsItsGroupsOnTheHost) {
  std::string why;
  std::unique_ptr<GpuPair> pair = StartGpuPair(&why, {"--device_collectives=false"});
  ASSERT_NE(pair, nullptr) << why;
  ExpectSumsStagedThroughTheHost(*pair);
}

// On NCCL as through the host: every dtype a group sums, those NCCL lacks (int16, bool's
// any) staged beside those it has in the same eval; complex64 summed as its float32 parts.
// Ranks that disagree fail before any device work, naming both calls, as on the host.
TEST_F(RemoteCudaTest, DeviceCollectivesAgreeAsHostOnesDo) {
  std::string why;
  std::unique_ptr<GpuPair> pair = StartGpuPair(&why);
  ASSERT_NE(pair, nullptr) << why;
  const std::vector<Device>& devices = pair->devices;
  const distributed::Group group = distributed::init(devices);
  const std::vector<Dtype> dtypes = {int8,  uint8,  int16,   int32,    uint32,
                                     int64, uint64, float16, bfloat16, float64};
  std::vector<std::vector<Array>> sums(2);
  std::vector<Array> complex_sums, int_maxes, all;
  for (int r = 0; r < 2; ++r) {
    Array x = from_host(Pattern(1000, 3.0f * r), {1000}, devices[r]);
    for (Dtype dtype : dtypes) sums[r].push_back(distributed::all_sum(astype(x, dtype), group));
    complex_sums.push_back(distributed::all_sum(astype(x, complex64) * 2.0f, group));
    int_maxes.push_back(distributed::all_max(astype(x, int32) * (r == 0 ? 1 : -1), group));
    all.insert(all.end(), sums[r].begin(), sums[r].end());
    all.push_back(complex_sums[r]);
    all.push_back(int_maxes[r]);
  }
  eval(all);
  const std::vector<float> a = Pattern(1000, 0), b = Pattern(1000, 3);
  for (int r = 0; r < 2; ++r) {
    for (size_t d = 0; d < dtypes.size(); ++d) {
      const std::vector<double> got = astype(sums[r][d], float64).to_vector<double>();
      const std::vector<double> want =
          astype(astype(from_host(a, {1000}, devices[r]), dtypes[d]) +
                     astype(from_host(b, {1000}, devices[r]), dtypes[d]),
                 float64)
              .to_vector<double>();
      ASSERT_EQ(got, want) << "rank " << r << ", dtype " << d;
    }
    const std::vector<float> real_parts = ferry::real(complex_sums[r]).to_vector<float>();
    const std::vector<float> int_max = astype(int_maxes[r], float32).to_vector<float>();
    for (int i = 0; i < 1000; ++i) {
      ASSERT_EQ(real_parts[i], 2 * (a[i] + b[i])) << "rank " << r << ", element " << i;
      ASSERT_EQ(int_max[i], a[i]) << "rank " << r << ", element " << i;
    }
  }
  // 4 elements against 5: the ranks fail, naming both calls.
  std::vector<Array> disagreeing = {distributed::all_sum(ones({4}, float32, devices[0]), group),
                                    distributed::all_sum(ones({5}, float32, devices[1]), group)};
  eval(disagreeing);  // sent to both at once; each rank's failure comes with its result
  for (int r = 0; r < 2; ++r) {
    try {
      disagreeing[r].to_vector<float>();
      ADD_FAILURE() << "rank " << r << " summed arrays of different sizes";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_THAT(e.what(), MatchesRegex(".*ran an all-reduce of [45] float32 elements.*"))
          << e.what();
    }
  }
  if (kEmulated) {
    // Per rank: the sums of 9 dtypes (not int16), complex64's, int32's max, and the
    // disagreeing sum (counted though it failed).
    for (int r = 0; r < 2; ++r) EXPECT_EQ(pair->DeviceCalls(r), 9 + 1 + 1 + 1) << "rank " << r;
  }
}

}  // namespace
}  // namespace ferry
