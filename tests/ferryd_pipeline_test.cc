// The Pipeline stream of a real ferryd over loopback, message by message: steps run in
// order and go out back to back, a failure reaches the steps that depend on it with the
// original error and is kept for the next answer, handles are never reused, a graph the
// daemon lacks is asked for on the stream, and a client far ahead of the daemon is slowed
// down, not deadlocked.

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using testing::BytesToFloats;
using testing::ConstantF32;
using ::testing::ElementsAre;
using testing::F32Tensor;
using testing::FloatBytes;
using ::testing::HasSubstr;
using testing::Op;
using testing::Parameter;
using testing::Spec;

// x + [10, 20, 30] with x a float32 (3,) parameter.
v1::Graph AddGraph() {
  v1::Graph graph;
  *graph.add_nodes() = Parameter(0, Spec(v1::FLOAT32, {3}));
  *graph.add_nodes() = ConstantF32({10, 20, 30}, {3});
  *graph.add_nodes() = Op("add", {0, 1}, Spec(v1::FLOAT32, {3}));
  graph.add_outputs(2);
  return graph;
}

v1::PipelineRequest UploadStep(uint64_t step, uint64_t buffer, const std::vector<float>& values) {
  v1::PipelineRequest request;
  request.set_step_id(step);
  request.mutable_upload()->set_buffer_id(buffer);
  *request.mutable_upload()->mutable_tensor() =
      F32Tensor(values, {static_cast<int64_t>(values.size())});
  return request;
}

// AddGraph (or its id, when `graph_id` is set) bound to `input`, kept as `output`.
v1::PipelineRequest ExecuteStep(uint64_t step, uint64_t input, uint64_t output,
                                const std::string& graph_id = "") {
  v1::PipelineRequest request;
  request.set_step_id(step);
  v1::ExecuteRequest* execute = request.mutable_execute();
  if (graph_id.empty()) {
    *execute->mutable_graph() = AddGraph();
  } else {
    execute->set_graph_id(graph_id);
  }
  execute->add_bindings()->set_buffer_id(input);
  execute->add_outputs()->set_buffer_id(output);
  return request;
}

v1::PipelineRequest ReadStep(uint64_t step, uint64_t buffer) {
  v1::PipelineRequest request;
  request.set_step_id(step);
  request.mutable_read()->set_buffer_id(buffer);
  return request;
}

v1::PipelineRequest OfferStep(uint64_t step, uint64_t buffer, const std::string& ticket) {
  v1::PipelineRequest request;
  request.set_step_id(step);
  request.mutable_offer()->set_buffer_id(buffer);
  request.mutable_offer()->set_ticket(ticket);
  request.set_want_reply(true);
  return request;
}

// An upload of `buffer` (declared float32[count]) whose bytes come from the offer under
// `ticket` of `session` on the daemon whose bulk channel is at `address`.
v1::PipelineRequest PeerUploadStep(uint64_t step, uint64_t buffer, int64_t count,
                                   const std::string& address, const std::string& session,
                                   const std::string& ticket) {
  v1::PipelineRequest request;
  request.set_step_id(step);
  request.mutable_upload()->set_buffer_id(buffer);
  *request.mutable_upload()->mutable_tensor()->mutable_spec() = Spec(v1::FLOAT32, {count});
  v1::PeerSource* source = request.mutable_upload()->mutable_peer_source();
  source->set_address(address);
  source->set_session_id(session);
  source->set_ticket(ticket);
  request.set_want_reply(true);
  return request;
}

v1::PipelineRequest SyncStep(uint64_t step) {
  v1::PipelineRequest request;
  request.set_step_id(step);
  request.mutable_sync();
  return request;
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon_ = testing::StartFerryd();
    ASSERT_NE(daemon_, nullptr);
    stub_ = testing::Connect(daemon_->address());
    session_ = testing::OpenSession(*stub_);
    stream_ = stub_->Pipeline(&context_);
    v1::PipelineRequest start;
    start.mutable_start()->set_session_id(session_);
    ASSERT_TRUE(stream_->Write(start));
    v1::PipelineResponse started = Next();
    EXPECT_EQ(started.started().window(), 256);
  }

  void TearDown() override {
    if (stream_ == nullptr) return;
    stream_->WritesDone();
    v1::PipelineResponse rest;
    while (stream_->Read(&rest)) ADD_FAILURE() << "unexpected answer " << rest.DebugString();
    grpc::Status end = stream_->Finish();
    EXPECT_TRUE(end.ok()) << end.error_message();
  }

  void Send(const v1::PipelineRequest& request) { ASSERT_TRUE(stream_->Write(request)); }

  v1::PipelineResponse Next() {
    v1::PipelineResponse response;
    EXPECT_TRUE(stream_->Read(&response)) << "the stream ended";
    return response;
  }

  std::unique_ptr<server::FerrydProcess> daemon_;
  std::unique_ptr<v1::Ferry::Stub> stub_;
  std::string session_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::PipelineRequest, v1::PipelineResponse>> stream_;
};

TEST_F(PipelineTest, UploadExecuteExecuteReadGoBackToBackInOrder) {
  Send(UploadStep(1, 100, {1, 2, 3}));
  Send(ExecuteStep(2, 100, 101));
  Send(ExecuteStep(3, 101, 102));
  Send(ReadStep(4, 102));
  // Only the read is answered, after everything before it ran.
  v1::PipelineResponse read = Next();
  EXPECT_EQ(read.step_id(), 4u);
  EXPECT_EQ(read.completed_through(), 4u);
  EXPECT_FALSE(read.has_failure());
  EXPECT_FALSE(read.has_first_failure());
  EXPECT_THAT(read.read().spec().shape(), ElementsAre(3));
  EXPECT_THAT(BytesToFloats(read.read().data()), ElementsAre(21, 42, 63));
}

TEST_F(PipelineTest, ExecutesAskingForAReplyGetTheirOutputs) {
  Send(UploadStep(1, 1, {0, 0, 1}));
  v1::PipelineRequest execute = ExecuteStep(2, 1, 2);
  execute.mutable_execute()->mutable_outputs(0)->set_inline_up_to_bytes(1024);
  execute.set_want_reply(true);
  Send(execute);
  v1::PipelineResponse reply = Next();
  EXPECT_EQ(reply.step_id(), 2u);
  ASSERT_EQ(reply.execute().outputs_size(), 1);
  EXPECT_EQ(reply.execute().outputs(0).buffer_id(), 2u);
  EXPECT_THAT(BytesToFloats(reply.execute().outputs(0).data()), ElementsAre(10, 20, 31));
}

TEST_F(PipelineTest, AFailedStepFailsItsDependentsWithTheOriginalError) {
  // 8 bytes for a (3,) float32: the upload fails; nothing answers it.
  v1::PipelineRequest bad = UploadStep(1, 7, {1, 2, 3});
  bad.mutable_upload()->mutable_tensor()->set_data(FloatBytes({1, 2}));
  Send(bad);
  Send(ExecuteStep(2, 7, 8));          // reads 7
  Send(ExecuteStep(3, 8, 9));          // reads 8
  Send(UploadStep(4, 10, {1, 1, 1}));  // independent: runs
  Send(ReadStep(5, 9));
  v1::PipelineResponse read = Next();
  EXPECT_EQ(read.step_id(), 5u);
  ASSERT_TRUE(read.has_failure());
  EXPECT_EQ(read.failure().step_id(), 1u);  // the original step, not 2 or 3
  EXPECT_EQ(read.failure().op(), "upload");
  EXPECT_EQ(read.failure().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(read.failure().message(), HasSubstr("[upload] buffer 7"));
  // The first failure is handed out with this answer, and only once.
  EXPECT_EQ(read.first_failure().step_id(), 1u);
  Send(ReadStep(6, 10));
  v1::PipelineResponse good = Next();
  EXPECT_FALSE(good.has_failure());
  EXPECT_FALSE(good.has_first_failure());
  EXPECT_THAT(BytesToFloats(good.read().data()), ElementsAre(1, 1, 1));
}

TEST_F(PipelineTest, TheFirstFailureWaitsForTheNextSync) {
  Send(ExecuteStep(1, 55, 56));  // buffer 55 was never uploaded
  Send(ExecuteStep(2, 57, 58));  // nor 57: a second failure, not the first
  Send(SyncStep(3));
  v1::PipelineResponse sync = Next();
  EXPECT_EQ(sync.step_id(), 3u);
  EXPECT_FALSE(sync.has_failure());
  ASSERT_TRUE(sync.has_first_failure());
  EXPECT_EQ(sync.first_failure().step_id(), 1u);
  EXPECT_EQ(sync.first_failure().op(), "execute");
  EXPECT_EQ(sync.first_failure().code(), static_cast<int>(grpc::StatusCode::NOT_FOUND));
  EXPECT_THAT(sync.first_failure().message(), HasSubstr("buffer 55 is not resident"));
  Send(SyncStep(4));
  EXPECT_FALSE(Next().has_first_failure());  // reported once
}

TEST_F(PipelineTest, AHandleIsNeverReused) {
  Send(UploadStep(1, 3, {1, 2, 3}));
  v1::PipelineRequest again = UploadStep(2, 3, {9, 9, 9});
  again.set_want_reply(true);
  Send(again);
  v1::PipelineResponse refused = Next();
  EXPECT_EQ(refused.step_id(), 2u);
  EXPECT_EQ(refused.failure().code(), static_cast<int>(grpc::StatusCode::ALREADY_EXISTS));
  v1::PipelineRequest into_taken = ExecuteStep(3, 3, 3);  // output onto its own input
  into_taken.set_want_reply(true);
  Send(into_taken);
  EXPECT_EQ(Next().failure().code(), static_cast<int>(grpc::StatusCode::ALREADY_EXISTS));
  Send(ReadStep(4, 3));  // the refused steps did not touch buffer 3
  v1::PipelineResponse read = Next();
  EXPECT_FALSE(read.has_failure());
  EXPECT_THAT(BytesToFloats(read.read().data()), ElementsAre(1, 2, 3));

  // A failed step's handles stay taken until released.
  Send(ExecuteStep(5, 404, 6));
  v1::PipelineRequest onto_failed = UploadStep(6, 6, {1, 2, 3});
  onto_failed.set_want_reply(true);
  Send(onto_failed);
  v1::PipelineResponse taken = Next();
  EXPECT_EQ(taken.failure().code(), static_cast<int>(grpc::StatusCode::ALREADY_EXISTS));
  EXPECT_THAT(taken.failure().message(), HasSubstr("failed step 5"));
  v1::PipelineRequest release;
  release.set_step_id(7);
  release.mutable_release()->add_buffer_ids(6);
  Send(release);
  onto_failed.set_step_id(8);
  Send(onto_failed);
  EXPECT_FALSE(Next().has_failure());
  Send(SyncStep(9));
  EXPECT_EQ(Next().first_failure().step_id(), 5u);
}

TEST_F(PipelineTest, StepIdsMustIncrease) {
  Send(SyncStep(5));
  EXPECT_EQ(Next().step_id(), 5u);
  Send(SyncStep(5));
  v1::PipelineResponse repeated = Next();
  EXPECT_EQ(repeated.failure().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(repeated.failure().message(), HasSubstr("not above the previous step's, 5"));
}

TEST_F(PipelineTest, TheDaemonAsksForAGraphItLacks) {
  // AddGraph's id, as a client remembers it from this daemon.
  Send(UploadStep(1, 1, {1, 2, 3}));
  v1::PipelineRequest first = ExecuteStep(2, 1, 2);
  first.set_want_reply(true);
  Send(first);
  const std::string graph_id = Next().execute().graph_id();
  ASSERT_EQ(graph_id.size(), 16u);

  // A daemon that never saw the graph asks for it, and the step goes on.
  auto other = testing::StartFerryd();
  ASSERT_NE(other, nullptr);
  auto stub = testing::Connect(other->address());
  const std::string session = testing::OpenSession(*stub);
  grpc::ClientContext context;
  auto stream = stub->Pipeline(&context);
  v1::PipelineRequest start;
  start.mutable_start()->set_session_id(session);
  ASSERT_TRUE(stream->Write(start));
  v1::PipelineResponse response;
  ASSERT_TRUE(stream->Read(&response));  // started
  ASSERT_TRUE(stream->Write(UploadStep(1, 1, {1, 2, 3})));
  v1::PipelineRequest by_id = ExecuteStep(2, 1, 2, graph_id);
  by_id.set_want_reply(true);
  ASSERT_TRUE(stream->Write(by_id));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.step_id(), 2u);
  EXPECT_EQ(response.graph_missing(), graph_id);
  v1::PipelineRequest graph;
  *graph.mutable_graph() = AddGraph();
  ASSERT_TRUE(stream->Write(graph));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.step_id(), 2u);
  EXPECT_FALSE(response.has_failure()) << response.failure().message();
  EXPECT_EQ(response.execute().graph_id(), graph_id);

  // Answering with a different graph fails the step, saying so.
  v1::PipelineRequest wrong_id = ExecuteStep(3, 2, 3, std::string(16, '\x07'));
  wrong_id.set_want_reply(true);
  ASSERT_TRUE(stream->Write(wrong_id));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.graph_missing(), std::string(16, '\x07'));
  ASSERT_TRUE(stream->Write(graph));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.failure().code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_THAT(response.failure().message(), HasSubstr("does not match the graph sent"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(PipelineTest, AClientFarAheadIsSlowedDownNotDeadlocked) {
  // 600 uploads of 64 KiB, no answers read meanwhile: more than the daemon's window of
  // steps and than HTTP/2's flow-control windows, so Write blocks until the daemon catches up.
  const std::vector<float> values(16384, 1.0f);
  for (uint64_t i = 1; i <= 600; ++i) Send(UploadStep(i, i, values));
  Send(SyncStep(601));
  v1::PipelineResponse sync = Next();
  EXPECT_EQ(sync.step_id(), 601u);
  EXPECT_EQ(sync.completed_through(), 601u);
  EXPECT_FALSE(sync.has_first_failure());
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub_, session_, &info).ok());
  EXPECT_EQ(info.session_buffers(), 600);
}

// Copies between daemons, here between a session and itself on one daemon: an offer and a
// fetch that are wrong fail their own steps, naming what was wrong; a right one arrives.
TEST_F(PipelineTest, OffersAndUploadsFromAPeerFailClearlyOrArriveWhole) {
  v1::OpenSessionRequest open;
  open.set_min_protocol_version(1);
  open.set_max_protocol_version(1);
  v1::OpenSessionResponse opened;
  grpc::ClientContext open_context;
  ASSERT_TRUE(stub_->OpenSession(&open_context, open, &opened).ok());
  ASSERT_THAT(opened.features(), ::testing::Contains("peer_copy"));
  const std::string bulk = "127.0.0.1:" + std::to_string(opened.bulk_channel().port());
  const std::string ticket(16, 'a');

  Send(UploadStep(1, 1, {1, 2, 3}));
  Send(OfferStep(2, 1, "short"));
  v1::PipelineResponse reply = Next();
  EXPECT_EQ(reply.failure().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(reply.failure().op(), "offer");
  EXPECT_THAT(reply.failure().message(), HasSubstr("ticket must be 16 bytes, got 5"));
  Send(OfferStep(3, 99, ticket));
  reply = Next();
  EXPECT_EQ(reply.failure().code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(reply.failure().message(), HasSubstr("[offer] session"));
  EXPECT_THAT(reply.failure().message(), HasSubstr("buffer 99 is not resident"));

  Send(PeerUploadStep(4, 2, 3, "nowhere", session_, ticket));
  reply = Next();
  EXPECT_EQ(reply.failure().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(reply.failure().message(),
              HasSubstr("[copy] buffer 2 from ferryd at nowhere: peer address \"nowhere\" is "
                        "not host:port"));
  Send(PeerUploadStep(5, 4, 3, bulk, "no-such-session", ticket));
  reply = Next();
  EXPECT_EQ(reply.failure().code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(reply.failure().message(), HasSubstr("no-such-session"));

  // An offer read as another type is refused, and used up.
  const std::string first(16, 'b');
  Send(OfferStep(6, 1, first));
  EXPECT_FALSE(Next().has_failure());
  Send(PeerUploadStep(7, 5, 4, bulk, session_, first));
  reply = Next();
  EXPECT_EQ(reply.failure().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(reply.failure().message(),
              HasSubstr("the source holds float32(3,) but the step declares float32(4,)"));

  const std::string second(16, 'c');
  Send(OfferStep(8, 1, second));
  EXPECT_FALSE(Next().has_failure());
  Send(PeerUploadStep(9, 6, 3, bulk, session_, second));
  EXPECT_FALSE(Next().has_failure());
  Send(ReadStep(10, 6));
  reply = Next();
  ASSERT_FALSE(reply.has_failure()) << reply.failure().message();
  EXPECT_EQ(BytesToFloats(reply.read().data()), std::vector<float>({1, 2, 3}));
}

// A buffer released while offered keeps its bytes for the fetch, and GetInfo shows them.
TEST_F(PipelineTest, AReleasedBufferStillOfferedIsListedAsOffered) {
  Send(UploadStep(1, 1, {1, 2, 3}));
  Send(OfferStep(2, 1, std::string(16, 'o')));
  EXPECT_FALSE(Next().has_failure());
  v1::PipelineRequest release;
  release.set_step_id(3);
  release.mutable_release()->add_buffer_ids(1);
  Send(release);
  Send(SyncStep(4));
  EXPECT_EQ(Next().step_id(), 4u);
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub_, session_, &info).ok());
  ASSERT_EQ(info.session_list_size(), 1);
  EXPECT_EQ(info.session_list(0).resident_bytes(), 0);
  EXPECT_EQ(info.session_list(0).offered_bytes(), 12);
}

TEST_F(PipelineTest, TheFirstMessageMustStartTheStream) {
  grpc::ClientContext context;
  auto stream = stub_->Pipeline(&context);
  ASSERT_TRUE(stream->Write(SyncStep(1)));
  v1::PipelineResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("must be start"));

  grpc::ClientContext unknown_context;
  auto unknown = stub_->Pipeline(&unknown_context);
  v1::PipelineRequest start;
  start.mutable_start()->set_session_id("no-such-session");
  ASSERT_TRUE(unknown->Write(start));
  EXPECT_FALSE(unknown->Read(&response));
  EXPECT_EQ(unknown->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace ferry
