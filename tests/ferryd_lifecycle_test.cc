// ferryd's life: health, limits from its flags, session leases, and a graceful drain on
// SIGTERM.

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::ferry::testing::BytesToFloats;
using ::ferry::testing::DTypeAttr;
using ::ferry::testing::FloatAttr;
using ::ferry::testing::FloatBytes;
using ::ferry::testing::IntAttr;
using ::ferry::testing::IntsAttr;
using ::ferry::testing::Op;
using ::ferry::testing::Spec;
using ::testing::Contains;
using ::testing::HasSubstr;

TEST(Lifecycle, HealthIsServing) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd();
  ASSERT_NE(daemon, nullptr);
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(daemon->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  health.reset();  // an idle channel would hold up the daemon's drain (see below)
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST(Lifecycle, OpenSessionReportsTheDaemonsFlags) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd(
      {"--max_memory=256M", "--chunk_bytes=256K", "--max_inline_bytes=4K", "--lease_seconds=42",
       "--max_message_bytes=8M", "--backend=cpu", "--max_session_memory=64M"});
  ASSERT_NE(daemon, nullptr);
  auto stub = testing::Connect(daemon->address());
  grpc::ClientContext context;
  v1::OpenSessionRequest request;
  request.set_min_protocol_version(1);
  request.set_max_protocol_version(7);  // newer clients still get version 1
  v1::OpenSessionResponse response;
  ASSERT_TRUE(stub->OpenSession(&context, request, &response).ok());
  EXPECT_EQ(response.protocol_version(), 1u);
  EXPECT_EQ(response.session_id().size(), 32u);
  EXPECT_EQ(response.device().backend(), "cpu");
  EXPECT_EQ(response.limits().max_memory_bytes(), 256 << 20);
  EXPECT_EQ(response.limits().max_session_memory_bytes(), 64 << 20);
  EXPECT_EQ(response.limits().chunk_bytes(), 256 << 10);
  EXPECT_EQ(response.limits().max_inline_bytes(), 4 << 10);
  EXPECT_EQ(response.limits().lease_seconds(), 42);
  EXPECT_EQ(response.limits().max_message_bytes(), 8 << 20);
  EXPECT_GT(response.limits().max_graph_nodes(), 0);
  EXPECT_THAT(response.features(), Contains("graph_cache"));
  EXPECT_THAT(response.server_version(), HasSubstr("ferryd"));

  // Two sessions never share an id.
  grpc::ClientContext again;
  v1::OpenSessionResponse second;
  ASSERT_TRUE(stub->OpenSession(&again, request, &second).ok());
  EXPECT_NE(second.session_id(), response.session_id());

  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub, "", &info).ok());
  EXPECT_EQ(info.sessions(), 2);
  EXPECT_EQ(info.min_protocol_version(), 1u);
  EXPECT_EQ(info.max_protocol_version(), 1u);
  // Closed first: on SIGTERM the daemon waits for connected clients to acknowledge its
  // GOAWAY, which an idle gRPC channel only does at its 5 s backup poll.
  stub.reset();
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST(Lifecycle, BadFlagsStopTheDaemonWithAClearError) {
  std::string path = server::FindFerryd(nullptr);
  // No machine has a CUDA device 99, whether or not it has a GPU.
  auto cuda = server::FerrydProcess::Start(path, {"--backend=cuda", "--device=99"});
  EXPECT_FALSE(cuda.ok());
  EXPECT_THAT(std::string(cuda.status().message()), HasSubstr("exited with status 2"));
  auto memory = server::FerrydProcess::Start(path, {"--max_memory=lots"});
  EXPECT_FALSE(memory.ok());
}

// One session cannot take a shared daemon's memory: past --max_session_memory its uploads
// are refused before their bytes come, and its results are not kept, naming the flag;
// another session's room is its own.
TEST(Lifecycle, ASessionPastItsMemoryQuotaIsRefusedAndOthersAreNot) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd({"--max_session_memory=1M"});
  ASSERT_NE(daemon, nullptr);
  auto stub = testing::Connect(daemon->address());
  const std::string greedy = testing::OpenSession(*stub);
  const std::string modest = testing::OpenSession(*stub);
  const v1::TensorSpec quarter = testing::Spec(v1::FLOAT32, {64 * 1024});  // 256 KiB
  const std::string bytes(256 * 1024, '\1');
  for (uint64_t id : {1, 2, 3}) {
    ASSERT_TRUE(testing::Upload(*stub, greedy, id, quarter, bytes).ok()) << id;
  }
  grpc::Status refused = testing::Upload(*stub, greedy, 4, testing::Spec(v1::FLOAT32, {65537}),
                                         std::string(65537 * 4, '\1'));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("past the session's quota of 1048576 "
                                                 "(--max_session_memory)"));

  // x + x kept as buffer 5 needs 256 KiB more: 1 MiB exactly fits, one more does not.
  v1::ExecuteRequest request;
  request.set_session_id(greedy);
  *request.mutable_graph()->add_nodes() = testing::Parameter(0, quarter);
  *request.mutable_graph()->add_nodes() = testing::Op("add", {0, 0}, quarter);
  request.mutable_graph()->add_outputs(1);
  request.add_bindings()->set_buffer_id(1);
  request.add_outputs()->set_buffer_id(5);
  v1::ExecuteResponse response;
  grpc::ClientContext fits;
  EXPECT_TRUE(stub->Execute(&fits, request, &response).ok());
  request.mutable_outputs(0)->set_buffer_id(6);
  grpc::ClientContext past;
  grpc::Status kept = stub->Execute(&past, request, &response);
  EXPECT_EQ(kept.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(kept.error_message(), HasSubstr("--max_session_memory"));

  for (uint64_t id : {1, 2, 3, 4}) {
    EXPECT_TRUE(testing::Upload(*stub, modest, id, quarter, bytes).ok()) << id;
  }
  stub.reset();
  EXPECT_EQ(daemon->Stop(), 0);
}

// A daemon holding --max_sessions refuses another session, naming the flag, until one
// closes.
TEST(Lifecycle, PastMaxSessionsOpenSessionIsRefusedUntilOneCloses) {
  const int metrics = server::FreeLoopbackPort();
  std::unique_ptr<server::FerrydProcess> daemon =
      testing::StartFerryd({"--max_sessions=2", "--metrics_port=" + std::to_string(metrics)});
  ASSERT_NE(daemon, nullptr);
  auto stub = testing::Connect(daemon->address());
  const std::string first = testing::OpenSession(*stub);
  testing::OpenSession(*stub);
  v1::OpenSessionRequest request;
  request.set_min_protocol_version(1);
  request.set_max_protocol_version(1);
  v1::OpenSessionResponse response;
  grpc::ClientContext full;
  grpc::Status refused = stub->OpenSession(&full, request, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("ferryd holds 2 sessions, its --max_sessions"));
  EXPECT_EQ(testing::ScrapeMetric(metrics, "ferry_sessions_refused_total"), 1);
  v1::CloseSessionRequest close;
  close.set_session_id(first);
  v1::CloseSessionResponse closed;
  grpc::ClientContext closing;
  ASSERT_TRUE(stub->CloseSession(&closing, close, &closed).ok());
  testing::OpenSession(*stub);  // its place
  stub.reset();
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST(Lifecycle, IdleSessionsExpireAndBusyOnesDoNot) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd({"--lease_seconds=1"});
  ASSERT_NE(daemon, nullptr);
  auto stub = testing::Connect(daemon->address());
  const std::string idle = testing::OpenSession(*stub);
  const std::string busy = testing::OpenSession(*stub);
  const std::string bytes = FloatBytes({1, 2, 3});
  ASSERT_TRUE(testing::Upload(*stub, idle, 1, Spec(v1::FLOAT32, {3}), bytes).ok());
  ASSERT_TRUE(testing::Upload(*stub, busy, 1, Spec(v1::FLOAT32, {3}), bytes).ok());

  // The busy session calls every 300 ms, renewing its lease; the idle one says nothing.
  absl::Time end = absl::Now() + absl::Milliseconds(2500);
  while (absl::Now() < end) {
    ASSERT_TRUE(testing::GetInfo(*stub, busy).ok());
    absl::SleepFor(absl::Milliseconds(300));
  }
  std::string data;
  grpc::Status gone = testing::Download(*stub, idle, 1, &data);
  EXPECT_EQ(gone.error_code(), grpc::StatusCode::NOT_FOUND) << gone.error_message();
  EXPECT_THAT(gone.error_message(), HasSubstr(idle));
  ASSERT_TRUE(testing::Download(*stub, busy, 1, &data).ok());
  EXPECT_EQ(data, bytes);

  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub, "", &info).ok());
  EXPECT_EQ(info.sessions(), 1);
  EXPECT_EQ(info.resident_bytes(), 12);
  stub.reset();
  EXPECT_EQ(daemon->Stop(), 0);
}

// A graph that keeps a CPU busy for seconds: 48 chained 2048 x 2048 matmuls of a matrix
// filled with 1/2048 (which each reproduce it), summed to a scalar: 2048.
v1::ExecuteRequest SlowGraph(const std::string& session) {
  const int64_t n = 2048;
  const int kMatmuls = 12;  // about 1 s on an idle 2-core machine; far more under load
  v1::ExecuteRequest request;
  request.set_session_id(session);
  v1::Graph* graph = request.mutable_graph();
  v1::Node full = Op("full", {}, Spec(v1::FLOAT32, {n, n}));
  *full.add_attrs() = FloatAttr("value", 1.0 / n);
  *full.add_attrs() = IntsAttr("shape", {n, n});
  *full.add_attrs() = DTypeAttr("dtype", v1::FLOAT32);
  *graph->add_nodes() = full;
  for (int i = 1; i <= kMatmuls; ++i) {
    *graph->add_nodes() = Op("matmul", {i - 1, 0}, Spec(v1::FLOAT32, {n, n}));
  }
  v1::Node sum = Op("sum", {kMatmuls}, Spec(v1::FLOAT32, {}));
  *sum.add_attrs() = IntsAttr("axes", {0, 1});
  *sum.add_attrs() = IntAttr("keepdims", 0);
  *graph->add_nodes() = sum;
  graph->add_outputs(kMatmuls + 1);
  request.add_outputs()->set_inline_up_to_bytes(4);
  return request;
}

TEST(Lifecycle, SigtermLetsTheInFlightExecuteFinishThenExitsZero) {
  // A drain long enough for the slow graph on a loaded CI machine.
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd({"--drain_seconds=150"});
  ASSERT_NE(daemon, nullptr);
  auto stub = testing::Connect(daemon->address());
  const std::string session = testing::OpenSession(*stub);

  std::atomic<bool> done{false};
  grpc::Status status;
  v1::ExecuteResponse response;
  std::thread call([&] {
    grpc::ClientContext context;
    status = stub->Execute(&context, SlowGraph(session), &response);
    done = true;
  });
  absl::SleepFor(absl::Milliseconds(200));
  const bool in_flight = !done;
  daemon->Signal(SIGTERM);
  call.join();
  ASSERT_TRUE(in_flight) << "the slow graph finished within 200 ms; make it slower";

  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(response.outputs(0).has_data());
  std::vector<float> sum = BytesToFloats(response.outputs(0).data());
  ASSERT_EQ(sum.size(), 1u);
  EXPECT_NEAR(sum[0], 2048.0f, 1.0f);
  EXPECT_EQ(daemon->Wait(180), 0);
}

// Readiness turns NOT_SERVING the moment SIGTERM arrives (so a load balancer or Kubernetes
// stops sending work), and a call that never ends (a health Watch) holds the drain only
// until --drain_seconds, after which ferryd cancels it and exits 0.
TEST(Lifecycle, SigtermTurnsReadinessNotServingAndTheDrainEndsAtDrainSeconds) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd({"--drain_seconds=1"});
  ASSERT_NE(daemon, nullptr);
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(daemon->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("ready");
  auto watch = health->Watch(&context, request);
  grpc::health::v1::HealthCheckResponse response;
  ASSERT_TRUE(watch->Read(&response));
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  daemon->Signal(SIGTERM);
  ASSERT_TRUE(watch->Read(&response)) << "the watch ended without a NOT_SERVING";
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(daemon->Wait(60), 0) << "the open watch must not hold ferryd past the drain";
  while (watch->Read(&response)) {
  }
  watch->Finish();
}

}  // namespace
}  // namespace ferry
