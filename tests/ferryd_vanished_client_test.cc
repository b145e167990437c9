// Clients that go away without a goodbye, against a real ferryd over loopback: a Pipeline
// stream cut mid-run stops the run, and the session waits for a new stream; a unary execute
// past its deadline stops and leaves the session usable; a client gone silent (a
// partition, LatencyRelay::Partition) is dropped after the daemon's keepalive and its
// session after the lease; an eval waiting on a silent daemon fails after the client's
// keepalive instead of waiting forever; a daemon alive but stuck fails the small control
// calls after ConnectOptions::control_timeout; and a broken connection costs the client
// library nothing resident: the next eval reconnects to the same session.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/latency_relay.h"
#include "client/ferry.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::testing::HasSubstr;
using testing::Op;
using testing::Parameter;
using testing::ScrapeMetric;
using testing::Spec;
using testing::WaitUntil;

constexpr int64_t kSide = 1024;

// x @ w @ w @ ... (`links` matmuls of kSide x kSide float32): about 20 ms a matmul on two
// cores, so far longer than any of these tests waits for it.
v1::Graph MatmulChain(int links) {
  v1::Graph graph;
  const v1::TensorSpec square = Spec(v1::FLOAT32, {kSide, kSide});
  *graph.add_nodes() = Parameter(0, square);
  *graph.add_nodes() = Parameter(1, square);
  for (int i = 0; i < links; ++i) {
    *graph.add_nodes() = Op("matmul", {i == 0 ? 0 : i + 1, 1}, square);
  }
  graph.add_outputs(links + 1);
  return graph;
}

// Buffers 1 (x) and 2 (w) of the chain, w scaled so that the values stay finite.
void UploadChainInputs(v1::Ferry::Stub& stub, const std::string& session) {
  std::vector<float> values = testing::NormalFloats(kSide * kSide, 5);
  ASSERT_TRUE(testing::Upload(stub, session, 1, Spec(v1::FLOAT32, {kSide, kSide}),
                              testing::FloatBytes(values))
                  .ok());
  for (float& v : values) v /= 32.0f;
  ASSERT_TRUE(testing::Upload(stub, session, 2, Spec(v1::FLOAT32, {kSide, kSide}),
                              testing::FloatBytes(values))
                  .ok());
}

v1::ExecuteRequest ChainRequest(const std::string& session) {
  v1::ExecuteRequest request;
  request.set_session_id(session);
  *request.mutable_graph() = MatmulChain(2000);
  request.add_bindings()->set_buffer_id(1);
  request.add_bindings()->set_buffer_id(2);
  request.add_outputs()->set_buffer_id(3);
  return request;
}

int64_t OpenSessions(v1::Ferry::Stub& stub) {
  v1::GetInfoResponse info;
  grpc::Status status = testing::GetInfo(stub, "", &info);
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  return status.ok() ? info.sessions() : -1;
}

// The daemon's one session as GetInfo lists it.
v1::SessionSummary Listed(v1::Ferry::Stub& stub) {
  v1::GetInfoResponse info;
  EXPECT_TRUE(testing::GetInfo(stub, "", &info).ok());
  EXPECT_EQ(info.session_list_size(), 1);
  return info.session_list_size() > 0 ? info.session_list(0) : v1::SessionSummary();
}

using PipelineStream = grpc::ClientReaderWriter<v1::PipelineRequest, v1::PipelineResponse>;

// Opens the session's Pipeline stream on `context`, checking the daemon started it.
std::unique_ptr<PipelineStream> StartPipeline(v1::Ferry::Stub& stub, grpc::ClientContext& context,
                                              const std::string& session) {
  std::unique_ptr<PipelineStream> stream = stub.Pipeline(&context);
  v1::PipelineRequest start;
  start.set_step_id(1);
  start.mutable_start()->set_session_id(session);
  EXPECT_TRUE(stream->Write(start));
  v1::PipelineResponse started;
  EXPECT_TRUE(stream->Read(&started));
  EXPECT_TRUE(started.has_started()) << started.DebugString();
  return stream;
}

// A ferryd serving metrics, with a session holding the chain's inputs.
class ClientGoneMidRun : public ::testing::Test {
 protected:
  void SetUp() override {
    metrics = server::FreeLoopbackPort();
    daemon = testing::StartFerryd({absl::StrCat("--metrics_port=", metrics)});
    ASSERT_NE(daemon, nullptr);
    stub = testing::Connect(daemon->address());
    session = testing::OpenSession(*stub);
    UploadChainInputs(*stub, session);
  }
  void TearDown() override {
    stub.reset();  // an idle channel would answer the daemon's GOAWAY only at its 5 s poll
    EXPECT_EQ(daemon->Stop(), 0);
  }

  int metrics = 0;
  std::unique_ptr<server::FerrydProcess> daemon;
  std::unique_ptr<v1::Ferry::Stub> stub;
  std::string session;
};

TEST_F(ClientGoneMidRun, AStreamCutMidRunStopsTheRunAndKeepsTheSessionForAReconnect) {
  grpc::ClientContext context;
  std::unique_ptr<PipelineStream> stream = StartPipeline(*stub, context, session);
  v1::PipelineRequest step;
  step.set_step_id(2);
  step.set_want_reply(true);
  *step.mutable_execute() = ChainRequest("");
  ASSERT_TRUE(stream->Write(step));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the chain is running
  EXPECT_EQ(ScrapeMetric(metrics, "ferry_executes_cancelled_total"), 0);

  const auto cut = std::chrono::steady_clock::now();
  context.TryCancel();  // as a connection reset mid-eval
  EXPECT_TRUE(WaitUntil([&] {
    return ScrapeMetric(metrics, "ferry_executes_cancelled_total") == 1;
  })) << "the run went on for nobody";
  // The chain alone would take 40 s or so; it stopped within about one matmul.
  EXPECT_LT(std::chrono::steady_clock::now() - cut, std::chrono::seconds(10));
  stream->Finish();

  // The session waits for its client, its buffers whole, and a new stream carries on.
  EXPECT_TRUE(WaitUntil([&] { return Listed(*stub).abandoned(); }));
  EXPECT_EQ(Listed(*stub).buffers(), 2);
  grpc::ClientContext again;
  std::unique_ptr<PipelineStream> resumed = StartPipeline(*stub, again, session);
  v1::PipelineRequest short_chain = step;
  short_chain.set_step_id(3);
  *short_chain.mutable_execute()->mutable_graph() = MatmulChain(1);
  ASSERT_TRUE(resumed->Write(short_chain));
  v1::PipelineResponse answer;
  ASSERT_TRUE(resumed->Read(&answer));
  EXPECT_TRUE(answer.has_execute()) << answer.DebugString();
  resumed->WritesDone();
  EXPECT_TRUE(resumed->Finish().ok());
  EXPECT_EQ(ScrapeMetric(metrics, "ferry_sessions_ended_total{reason=\"abandoned\"}"), 0);
  EXPECT_FALSE(Listed(*stub).abandoned());
}

TEST_F(ClientGoneMidRun, AUnaryExecutePastItsDeadlineStopsAndTheSessionStays) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
  v1::ExecuteResponse response;
  grpc::Status status = stub->Execute(&context, ChainRequest(session), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << status.error_message();
  EXPECT_TRUE(
      WaitUntil([&] { return ScrapeMetric(metrics, "ferry_executes_cancelled_total") == 1; },
                std::chrono::seconds(10)))
      << "the run went on past its deadline";

  // The session is the client's still: its buffers stay, the chain's output was not kept.
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub, session, &info).ok());
  EXPECT_EQ(info.session_buffers(), 2);
  EXPECT_EQ(ScrapeMetric(metrics, "ferry_sessions_ended_total{reason=\"abandoned\"}"), 0);
  v1::ExecuteRequest short_chain = ChainRequest(session);
  *short_chain.mutable_graph() = MatmulChain(1);
  grpc::ClientContext again;
  status = stub->Execute(&again, short_chain, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST(VanishedClient, AClientGoneSilentIsDroppedAfterTheKeepaliveAndItsSessionAfterTheLease) {
  const int metrics = server::FreeLoopbackPort();
  auto daemon = testing::StartFerryd(
      {absl::StrCat("--metrics_port=", metrics), "--keepalive_seconds=1", "--lease_seconds=2"});
  ASSERT_NE(daemon, nullptr);
  auto relay = bench::LatencyRelay::Start(daemon->port(), std::chrono::microseconds(0));
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto direct = testing::Connect(daemon->address());
  auto stub = testing::Connect((*relay)->address());
  const std::string session = testing::OpenSession(*stub);
  grpc::ClientContext context;
  std::unique_ptr<PipelineStream> stream = StartPipeline(*stub, context, session);
  EXPECT_EQ(OpenSessions(*direct), 1);

  (*relay)->Partition();  // the client's host is gone: no reset, no more bytes
  const auto silent = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitUntil([&] {
    return ScrapeMetric(metrics, "ferry_sessions_ended_total{reason=\"abandoned\"}") == 1;
  })) << "the daemon still holds the silent client's session";
  // A 1 s ping unanswered for 1 s ended the stream, which pinned the session; the 2 s
  // lease then ran out without the client coming back. Without the ping, never.
  EXPECT_LT(std::chrono::steady_clock::now() - silent, std::chrono::seconds(15));
  EXPECT_EQ(ScrapeMetric(metrics, "ferry_sessions_ended_total{reason=\"expired\"}"), 0);
  EXPECT_EQ(OpenSessions(*direct), 0);
  context.TryCancel();
  stream->Finish();
  stream.reset();
  stub.reset();
  direct.reset();
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST(VanishedClient, AnEvalOnADaemonGoneSilentFailsAfterTheClientsKeepalive) {
  // The daemon does not ping, so only the client's keepalive can tell.
  auto daemon = testing::StartFerryd({"--keepalive_seconds=0"});
  ASSERT_NE(daemon, nullptr);
  auto relay = bench::LatencyRelay::Start(daemon->port(), std::chrono::microseconds(0));
  ASSERT_TRUE(relay.ok()) << relay.status();
  ConnectOptions options;
  options.keepalive = std::chrono::seconds(1);
  options.bulk_channel = false;  // its port is the daemon's own, not behind the relay
  Device device = connect((*relay)->address(), options);
  Array x = full({4}, 2.0, float32, device);
  EXPECT_EQ((x + 1.0f).to_vector<float>(), (std::vector<float>{3, 3, 3, 3}));

  (*relay)->Partition();
  const auto silent = std::chrono::steady_clock::now();
  std::future<std::string> outcome = std::async(std::launch::async, [&]() -> std::string {
    try {
      (x * 3.0f).to_vector<float>();
      return "no error";
    } catch (const Error& error) {
      return absl::StrCat(static_cast<int>(error.code()), " ", error.what());
    }
  });
  if (outcome.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    ADD_FAILURE() << "the eval still waits on the silent daemon after 60 s";
    std::_Exit(1);  // the eval's thread cannot be joined
  }
  const std::string failure = outcome.get();
  EXPECT_THAT(failure, HasSubstr(absl::StrCat(static_cast<int>(ErrorCode::kUnavailable), " ")));
  EXPECT_THAT(failure, HasSubstr((*relay)->address()));
  EXPECT_LT(std::chrono::steady_clock::now() - silent, std::chrono::seconds(15));
}

// A connection that breaks (a NAT timing out, a VPN reconnecting, a laptop changing
// networks) costs nothing resident: the next eval opens a new stream on the same session.
TEST(VanishedClient, AnEvalAfterTheConnectionBrokeReconnectsToTheSameSession) {
  const int bulk_port = server::FreeLoopbackPort();
  auto daemon = testing::StartFerryd({absl::StrCat("--bulk_port=", bulk_port)});
  ASSERT_NE(daemon, nullptr);
  auto relay = bench::LatencyRelay::Start(daemon->port(), std::chrono::microseconds(0));
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto bulk_relay = bench::LatencyRelay::Start(bulk_port, std::chrono::microseconds(0));
  ASSERT_TRUE(bulk_relay.ok()) << bulk_relay.status();
  ConnectOptions options;
  options.bulk_address = (*bulk_relay)->address();
  Device device = connect((*relay)->address(), options);
  ASSERT_TRUE(device.info().bulk_channel);
  Array y = arange(0.0, 1000.0, 1.0, float32, device) * 2.0f;
  eval({y});
  synchronize(device);  // y is resident on the daemon now, under the session

  (*relay)->ResetConnections();
  (*bulk_relay)->ResetConnections();
  // The client sees each end within milliseconds (longer on a loaded machine).
  std::this_thread::sleep_for(std::chrono::seconds(1));
  // Binds y by its handle.
  std::vector<float> z = (y + 1.0f).to_vector<float>();
  ASSERT_EQ(z.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(z[i], 2.0f * i + 1) << i;
  EXPECT_EQ(device.stats().reconnects, 1);  // the pipeline
  // A large result comes back on a new bulk connection (the last dial, at connect, was
  // more than the second between dials ago).
  const int64_t bulk_before = device.stats().bulk_channel_transfers;
  Array big = ones({1 << 20}, float32, device) * 2.0f;  // 4 MiB: past inline, past a chunk
  std::vector<float> twos = big.to_vector<float>();
  EXPECT_EQ(twos[12345], 2.0f);
  EXPECT_EQ(device.stats().bulk_channel_transfers, bulk_before + 1);
  EXPECT_EQ(device.stats().reconnects, 2);  // and the bulk channel

  // An eval cut off before its answer: its arrays are lost, said so wherever they are
  // used, and the session carries on.
  Array w = y * 3.0f;
  eval({w});
  (*relay)->ResetConnections();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  bool lost = false;
  try {
    w.to_vector<float>();
  } catch (const Error& error) {
    lost = true;  // unless its answer beat the reset
    EXPECT_EQ(error.code(), ErrorCode::kUnavailable) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("the next eval reconnects"));
  }
  if (lost) {
    try {
      (w + 1.0f).to_vector<float>();
      ADD_FAILURE() << "a lost array was used";
    } catch (const Error& error) {
      EXPECT_EQ(error.code(), ErrorCode::kUnavailable) << error.what();
    }
  }
  EXPECT_EQ((y - 1.0f).to_vector<float>()[3], 5.0f);
}

// Buffers a lost step was releasing are released again after the reconnect: a flaky
// connection does not leak the daemon's memory.
TEST(VanishedClient, ReleasesLostWithABrokenStreamGoAgainAfterTheReconnect) {
  auto daemon = testing::StartFerryd();
  ASSERT_NE(daemon, nullptr);
  auto relay = bench::LatencyRelay::Start(daemon->port(), std::chrono::microseconds(0));
  ASSERT_TRUE(relay.ok()) << relay.status();
  auto direct = testing::Connect(daemon->address());
  ConnectOptions options;
  options.keepalive = std::chrono::seconds(1);
  options.bulk_channel = false;
  Device device = connect((*relay)->address(), options);
  Array a = arange(0.0, 1000.0, 1.0, float32, device) * 2.0f;
  eval({a});
  {
    Array b = a * 3.0f;
    eval({b});
    synchronize(device);
    EXPECT_EQ(Listed(*direct).buffers(), 2);  // a and b; b's release waits for a step
  }
  (*relay)->Partition();
  {
    Array c = a + 1.0f;  // its execute carries b's release, and never arrives
    eval({c});
    EXPECT_THROW(c.to_vector<float>(), Error);  // after the client's 1 s keepalive
  }
  (*relay)->Heal();
  Array r = a - 1.0f;  // reconnects; b's release is queued again
  eval({r});
  Array s = a * 0.0f;  // carries it
  eval({s});
  synchronize(device);
  EXPECT_EQ(Listed(*direct).buffers(), 3);  // a, r and s: b is gone
  EXPECT_EQ(device.stats().reconnects, 1);
  direct.reset();
}

// A daemon that is alive (its gRPC server answers, its connection pings) but stuck: it opens
// sessions and takes uploads, and holds every GetInfo and Release until `Unstick`.
class StuckFerryd final : public v1::Ferry::Service {
 public:
  StuckFerryd() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~StuckFerryd() override {
    Unstick();
    server_->Shutdown();
  }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  void Unstick() { stuck_ = false; }
  int held() const { return held_; }

  grpc::Status OpenSession(grpc::ServerContext*, const v1::OpenSessionRequest*,
                           v1::OpenSessionResponse* opened) override {
    opened->set_session_id("stuck-session");
    opened->set_protocol_version(1);
    opened->mutable_device()->set_backend("cpu");
    opened->mutable_limits()->set_chunk_bytes(1 << 20);
    opened->mutable_limits()->set_max_message_bytes(64 << 20);
    return grpc::Status::OK;
  }
  grpc::Status Upload(grpc::ServerContext*, grpc::ServerReader<v1::UploadRequest>* reader,
                      v1::UploadResponse*) override {
    v1::UploadRequest chunk;
    while (reader->Read(&chunk)) {
    }
    return grpc::Status::OK;
  }
  grpc::Status GetInfo(grpc::ServerContext* context, const v1::GetInfoRequest*,
                       v1::GetInfoResponse*) override {
    return Hold(*context);
  }
  grpc::Status Release(grpc::ServerContext* context, const v1::ReleaseRequest*,
                       v1::ReleaseResponse*) override {
    return Hold(*context);
  }

 private:
  grpc::Status Hold(grpc::ServerContext& context) {
    ++held_;
    while (stuck_ && !context.IsCancelled()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return grpc::Status::OK;
  }

  int port_ = 0;
  std::atomic<bool> stuck_{true};
  std::atomic<int> held_{0};
  std::unique_ptr<grpc::Server> server_;
};

// What memory_info on `device` threw ("" if nothing), within 20 s.
std::string MemoryInfoFailure(const Device& device) {
  std::future<std::string> outcome = std::async(std::launch::async, [&]() -> std::string {
    try {
      memory_info(device);
      return "";
    } catch (const Error& error) {
      return absl::StrCat(static_cast<int>(error.code()), " ", error.what());
    }
  });
  if (outcome.wait_for(std::chrono::seconds(20)) != std::future_status::ready) {
    ADD_FAILURE() << "memory_info still waits on the stuck daemon after 20 s";
    std::_Exit(1);  // its thread cannot be joined
  }
  return outcome.get();
}

TEST(StuckDaemon, MemoryInfoFailsAfterTheControlTimeoutNamingTheCall) {
  StuckFerryd daemon;
  ConnectOptions options;
  options.control_timeout = std::chrono::milliseconds(300);
  Device device = connect(daemon.address(), options);
  const auto asked = std::chrono::steady_clock::now();
  const std::string failure = MemoryInfoFailure(device);
  // gRPC's timers keep their own clock: its deadline may fire a fraction of a millisecond
  // before this one reads 300 ms (299.85 once in CI), never tens of them.
  EXPECT_GE(std::chrono::steady_clock::now() - asked, std::chrono::milliseconds(290));
  EXPECT_THAT(failure,
              HasSubstr(absl::StrCat(static_cast<int>(ErrorCode::kDeadlineExceeded), " ")));
  EXPECT_THAT(failure, HasSubstr(absl::StrCat("ferryd at ", daemon.address(),
                                              " did not answer GetInfo within 300 ms")));
  EXPECT_EQ(daemon.held(), 1);
}

TEST(StuckDaemon, AReleaseWithoutThePipelineFailsAfterTheControlTimeout) {
  StuckFerryd daemon;
  ConnectOptions options;
  options.control_timeout = std::chrono::milliseconds(300);
  Device device = connect(daemon.address(), options);
  { Array uploaded = from_host(std::vector<float>(1 << 16, 1.0f), {1 << 16}, device); }
  EXPECT_THAT(MemoryInfoFailure(device), HasSubstr("did not answer Release within 300 ms"));
}

TEST(StuckDaemon, WithoutAControlTimeoutMemoryInfoWaitsForTheAnswer) {
  StuckFerryd daemon;
  ConnectOptions options;
  options.control_timeout = std::chrono::milliseconds(0);
  Device device = connect(daemon.address(), options);
  std::thread unstick([&] {
    WaitUntil([&] { return daemon.held() == 1; });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    daemon.Unstick();
  });
  EXPECT_EQ(MemoryInfoFailure(device), "");
  unstick.join();
}

}  // namespace
}  // namespace ferry
