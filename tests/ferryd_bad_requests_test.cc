// Bad requests to a real ferryd, through the raw stub: each gets the exact status code and
// a message that says what was wrong, and the daemon keeps serving afterwards.

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::ferry::testing::ConstantF32;
using ::ferry::testing::DTypeAttr;
using ::ferry::testing::F32Tensor;
using ::ferry::testing::FloatAttr;
using ::ferry::testing::FloatBytes;
using ::ferry::testing::IntsAttr;
using ::ferry::testing::Op;
using ::ferry::testing::Parameter;
using ::ferry::testing::Spec;
using ::testing::HasSubstr;

#define EXPECT_STATUS(status, code, fragment)                                 \
  do {                                                                        \
    grpc::Status s_ = (status);                                               \
    EXPECT_EQ(s_.error_code(), grpc::StatusCode::code) << s_.error_message(); \
    EXPECT_THAT(s_.error_message(), HasSubstr(fragment));                     \
  } while (0)

class BadRequestTest : public testing::FerrydSuiteTest {
 protected:
  // After every bad request: the daemon still runs and answers.
  void TearDown() override {
    ASSERT_NE(daemon_, nullptr);
    EXPECT_TRUE(daemon_->Running());
    grpc::Status info = testing::GetInfo(*stub_, session_);
    EXPECT_TRUE(info.ok()) << info.error_message();
  }

  grpc::Status Execute(const v1::ExecuteRequest& request, v1::ExecuteResponse* response = nullptr) {
    grpc::ClientContext context;
    v1::ExecuteResponse ignored;
    return stub_->Execute(&context, request, response != nullptr ? response : &ignored);
  }

  // An execute of `nodes` with `outputs`, in this test's session.
  v1::ExecuteRequest Graph(std::vector<v1::Node> nodes, std::vector<int32_t> outputs) {
    v1::ExecuteRequest request;
    request.set_session_id(session_);
    for (v1::Node& node : nodes) *request.mutable_graph()->add_nodes() = std::move(node);
    for (int32_t output : outputs) request.mutable_graph()->add_outputs(output);
    return request;
  }

  // x + [10, 20, 30] for a float32 (2, 3) parameter.
  v1::ExecuteRequest AddGraph() {
    return Graph({Parameter(0, Spec(v1::FLOAT32, {2, 3})), ConstantF32({10, 20, 30}, {3}),
                  Op("add", {0, 1}, Spec(v1::FLOAT32, {2, 3}))},
                 {2});
  }

  grpc::Status Upload(uint64_t buffer_id, const std::string& data, const v1::TensorSpec& spec,
                      int64_t total_bytes = -1, const std::string& session = "") {
    return testing::Upload(*stub_, session.empty() ? session_ : session, buffer_id, spec, data,
                           1 << 20, total_bytes);
  }
};

const std::string k24Bytes = FloatBytes({1, 2, 3, 4, 5, 6});

// ---- Graphs ------------------------------------------------------------------------------

TEST_F(BadRequestTest, UnknownOp) {
  v1::ExecuteRequest request = Graph(
      {Parameter(0, Spec(v1::FLOAT32, {3})), Op("frobnicate", {0}, Spec(v1::FLOAT32, {3}))}, {1});
  *request.add_bindings()->mutable_tensor() = F32Tensor({1, 2, 3}, {3});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "frobnicate");
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "node 1");
}

TEST_F(BadRequestTest, ForwardReferenceAndCycle) {
  // Node 0 reads node 1, which reads node 0: only earlier nodes may be inputs.
  v1::ExecuteRequest request =
      Graph({Op("neg", {1}, Spec(v1::FLOAT32, {3})), Op("neg", {0}, Spec(v1::FLOAT32, {3}))}, {1});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "node 0");
  // A node reading itself.
  request = Graph({ConstantF32({1}, {1}), Op("neg", {1}, Spec(v1::FLOAT32, {1}))}, {1});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "node 1");
}

TEST_F(BadRequestTest, WrongArity) {
  v1::ExecuteRequest request =
      Graph({ConstantF32({1, 2, 3}, {3}), Op("add", {0}, Spec(v1::FLOAT32, {3}))}, {1});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "node 1 (add)");
}

TEST_F(BadRequestTest, DeclaredShapeDisagreesWithInferred) {
  v1::ExecuteRequest request =
      Graph({Parameter(0, Spec(v1::FLOAT32, {2, 3})), ConstantF32({10, 20, 30}, {3}),
             Op("add", {0, 1}, Spec(v1::FLOAT32, {3, 2}))},
            {2});
  *request.add_bindings()->mutable_tensor() = F32Tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "node 2 (add)");
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "(3, 2)");
}

TEST_F(BadRequestTest, BroadcastMismatch) {
  v1::ExecuteRequest request =
      Graph({ConstantF32({1, 2, 3, 4, 5, 6}, {2, 3}), ConstantF32({1, 2, 3, 4}, {4}),
             Op("add", {0, 1}, Spec(v1::FLOAT32, {2, 4}))},
            {2});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "node 2 (add)");
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "(4,)");
}

TEST_F(BadRequestTest, NegativeDim) {
  v1::ExecuteRequest request = Graph(
      {Parameter(0, Spec(v1::FLOAT32, {2, -3})), Op("neg", {0}, Spec(v1::FLOAT32, {2, -3}))}, {1});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "-3");
  // The same spec on an upload.
  EXPECT_STATUS(Upload(3, "", Spec(v1::FLOAT32, {2, -3}), 0), INVALID_ARGUMENT, "-3");
}

TEST_F(BadRequestTest, OverflowingDims) {
  const int64_t huge = int64_t{1} << 40;
  v1::Node full = Op("full", {}, Spec(v1::FLOAT32, {huge, huge}));
  *full.add_attrs() = FloatAttr("value", 1.0);
  *full.add_attrs() = IntsAttr("shape", {huge, huge});
  *full.add_attrs() = DTypeAttr("dtype", v1::FLOAT32);
  EXPECT_STATUS(Execute(Graph({full}, {0})), INVALID_ARGUMENT, "node 0 (full)");
  EXPECT_STATUS(Upload(3, "", Spec(v1::FLOAT32, {huge, huge}), 0), INVALID_ARGUMENT,
                "upload of buffer 3");
}

TEST_F(BadRequestTest, NoGraphAndNoGraphId) {
  v1::ExecuteRequest request;
  request.set_session_id(session_);
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "execute needs a graph or a graph_id");
}

TEST_F(BadRequestTest, UnknownGraphId) {
  v1::ExecuteRequest request;
  request.set_session_id(session_);
  request.set_graph_id(std::string("\x00\xff\x10\x20", 4) + std::string(12, '\x01'));
  EXPECT_STATUS(Execute(request), NOT_FOUND,
                "unknown graph_id 00ff1020010101010101010101010101: send the graph");
}

TEST_F(BadRequestTest, UnknownDTypeValue) {
  v1::TensorSpec spec = Spec(v1::FLOAT32, {2});
  spec.set_dtype(static_cast<v1::DType>(99));
  EXPECT_STATUS(Upload(4, std::string(8, '\0'), spec, 8), INVALID_ARGUMENT, "99");
  v1::ExecuteRequest request =
      Graph({Parameter(0, spec), Op("neg", {0}, Spec(v1::FLOAT32, {2}))}, {1});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "99");
}

// ---- Bindings and outputs ----------------------------------------------------------------

TEST_F(BadRequestTest, ParameterBoundWithWrongType) {
  v1::ExecuteRequest request = AddGraph();
  *request.add_bindings()->mutable_tensor() = F32Tensor({1, 2, 3}, {3});
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT,
                "parameter 0: bound to float32(3,) but the graph declares float32(2, 3)");
  // The same through a resident buffer of another dtype.
  ASSERT_TRUE(Upload(8, std::string(6 * 4, '\0'), Spec(v1::INT32, {2, 3})).ok());
  request = AddGraph();
  request.add_bindings()->set_buffer_id(8);
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT,
                "parameter 0: bound to int32(2, 3) but the graph declares float32(2, 3)");
}

TEST_F(BadRequestTest, MissingBinding) {
  EXPECT_STATUS(Execute(AddGraph()), INVALID_ARGUMENT,
                "the graph has 1 parameter(s) but 0 binding(s) were sent");
  v1::ExecuteRequest request = AddGraph();
  request.add_bindings();  // names neither a buffer nor a tensor
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "parameter 0: its binding names neither");
}

TEST_F(BadRequestTest, InlineBindingOfTheWrongSize) {
  v1::ExecuteRequest request = AddGraph();
  v1::Tensor* tensor = request.add_bindings()->mutable_tensor();
  *tensor = F32Tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  tensor->set_data(std::string(7, '\0'));
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT, "parameter 0");
}

TEST_F(BadRequestTest, UnknownBuffer) {
  v1::ExecuteRequest request = AddGraph();
  request.add_bindings()->set_buffer_id(17);
  EXPECT_STATUS(
      Execute(request), NOT_FOUND,
      "session " + session_ + ": buffer 17 is not resident (never uploaded, or released)");
  std::string data;
  EXPECT_STATUS(testing::Download(*stub_, session_, 17, &data), NOT_FOUND,
                "buffer 17 is not resident");
}

TEST_F(BadRequestTest, ReleasedBuffer) {
  ASSERT_TRUE(Upload(5, k24Bytes, Spec(v1::FLOAT32, {2, 3})).ok());
  grpc::ClientContext context;
  v1::ReleaseRequest release;
  release.set_session_id(session_);
  release.add_buffer_ids(5);
  v1::ReleaseResponse released;
  ASSERT_TRUE(stub_->Release(&context, release, &released).ok());
  std::string data;
  EXPECT_STATUS(testing::Download(*stub_, session_, 5, &data), NOT_FOUND,
                "buffer 5 is not resident");
  // Released by the execute itself, before it binds.
  ASSERT_TRUE(Upload(6, k24Bytes, Spec(v1::FLOAT32, {2, 3})).ok());
  v1::ExecuteRequest request = AddGraph();
  request.add_bindings()->set_buffer_id(6);
  request.add_release_buffer_ids(6);
  EXPECT_STATUS(Execute(request), NOT_FOUND, "buffer 6 is not resident");
}

TEST_F(BadRequestTest, AnotherSessionsBuffer) {
  std::string other = testing::OpenSession(*stub_);
  ASSERT_TRUE(Upload(7, k24Bytes, Spec(v1::FLOAT32, {2, 3}), -1, other).ok());
  std::string data;
  EXPECT_STATUS(testing::Download(*stub_, session_, 7, &data), NOT_FOUND,
                "session " + session_ + ": buffer 7 is not resident");
  v1::ExecuteRequest request = AddGraph();
  request.add_bindings()->set_buffer_id(7);
  EXPECT_STATUS(Execute(request), NOT_FOUND, "buffer 7 is not resident");
  // Still there for its owner.
  EXPECT_TRUE(testing::Download(*stub_, other, 7, &data).ok());
  EXPECT_EQ(data, k24Bytes);
}

TEST_F(BadRequestTest, UnknownSession) {
  const std::string unknown = "0123456789abcdef0123456789abcdef";
  EXPECT_STATUS(testing::GetInfo(*stub_, unknown), NOT_FOUND, "unknown session \"" + unknown);
  EXPECT_STATUS(testing::Upload(*stub_, unknown, 1, Spec(v1::FLOAT32, {2, 3}), k24Bytes), NOT_FOUND,
                unknown);
  v1::ExecuteRequest request = AddGraph();
  request.set_session_id(unknown);
  EXPECT_STATUS(Execute(request), NOT_FOUND, unknown);
  grpc::ClientContext context;
  v1::CloseSessionRequest close;
  close.set_session_id(unknown);
  v1::CloseSessionResponse closed;
  EXPECT_STATUS(stub_->CloseSession(&context, close, &closed), NOT_FOUND, unknown);
}

TEST_F(BadRequestTest, ClosedSession) {
  std::string other = testing::OpenSession(*stub_);
  ASSERT_TRUE(Upload(9, k24Bytes, Spec(v1::FLOAT32, {2, 3}), -1, other).ok());
  grpc::ClientContext context;
  v1::CloseSessionRequest close;
  close.set_session_id(other);
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(stub_->CloseSession(&context, close, &closed).ok());
  std::string data;
  EXPECT_STATUS(testing::Download(*stub_, other, 9, &data), NOT_FOUND,
                "unknown session \"" + other);
}

// ---- Uploads -----------------------------------------------------------------------------

TEST_F(BadRequestTest, TruncatedUpload) {
  // Declares 24 bytes, sends 16, then ends the stream.
  EXPECT_STATUS(Upload(5, k24Bytes.substr(0, 16), Spec(v1::FLOAT32, {2, 3}), 24), INVALID_ARGUMENT,
                "upload of buffer 5 ended after 16 of 24 bytes");
  std::string data;
  EXPECT_STATUS(testing::Download(*stub_, session_, 5, &data), NOT_FOUND,
                "buffer 5 is not resident");
}

TEST_F(BadRequestTest, ResumeWithNothingKept) {
  grpc::ClientContext context;
  v1::UploadResponse response;
  auto writer = stub_->Upload(&context, &response);
  v1::UploadRequest first;
  first.set_session_id(session_);
  first.set_buffer_id(5);
  *first.mutable_spec() = Spec(v1::FLOAT32, {2, 3});
  first.set_total_bytes(24);
  first.set_resume_offset(8);
  first.set_data(k24Bytes.substr(8));
  writer->Write(first);
  writer->WritesDone();
  EXPECT_STATUS(writer->Finish(), FAILED_PRECONDITION,
                "upload of buffer 5: cannot resume at byte 8: no broken upload of it is kept");
}

TEST_F(BadRequestTest, DownloadFromPastTheEnd) {
  ASSERT_TRUE(Upload(9, k24Bytes, Spec(v1::FLOAT32, {2, 3}), 24).ok());
  grpc::ClientContext context;
  v1::DownloadRequest request;
  request.set_session_id(session_);
  request.set_buffer_id(9);
  request.set_offset(25);
  auto reader = stub_->Download(&context, request);
  v1::DownloadResponse message;
  while (reader->Read(&message)) {
  }
  EXPECT_STATUS(reader->Finish(), OUT_OF_RANGE,
                "download of buffer 9 from byte 25: it has 24 bytes");
}

TEST_F(BadRequestTest, ChunkPastTheDeclaredSize) {
  EXPECT_STATUS(
      testing::Upload(*stub_, session_, 5, Spec(v1::FLOAT32, {2, 3}), k24Bytes + k24Bytes, 20, 24),
      INVALID_ARGUMENT, "upload of buffer 5: chunk ends at byte 40, past the declared 24 bytes");
  std::string data;
  EXPECT_STATUS(testing::Download(*stub_, session_, 5, &data), NOT_FOUND,
                "buffer 5 is not resident");
}

TEST_F(BadRequestTest, TotalBytesDisagreesWithSpec) {
  EXPECT_STATUS(Upload(5, std::string(20, '\0'), Spec(v1::FLOAT32, {2, 3}), 20), INVALID_ARGUMENT,
                "upload of buffer 5: total_bytes is 20 but float32(2, 3) has 24 bytes");
}

TEST_F(BadRequestTest, EmptyUploadStream) {
  grpc::ClientContext context;
  v1::UploadResponse response;
  auto writer = stub_->Upload(&context, &response);
  writer->WritesDone();
  EXPECT_STATUS(writer->Finish(), INVALID_ARGUMENT, "upload stream ended before its first");
}

TEST_F(BadRequestTest, BufferIdReuse) {
  ASSERT_TRUE(Upload(9, k24Bytes, Spec(v1::FLOAT32, {2, 3})).ok());
  EXPECT_STATUS(Upload(9, k24Bytes, Spec(v1::FLOAT32, {2, 3})), ALREADY_EXISTS,
                "buffer 9 is already resident");
  // An execute asking to keep an output as 9 is refused before it runs.
  v1::ExecuteRequest request = AddGraph();
  request.add_bindings()->set_buffer_id(9);
  request.add_outputs()->set_buffer_id(9);
  EXPECT_STATUS(Execute(request), ALREADY_EXISTS,
                "output 0: session " + session_ + ": buffer 9 is already resident");
  // The original is untouched.
  std::string data;
  ASSERT_TRUE(testing::Download(*stub_, session_, 9, &data).ok());
  EXPECT_EQ(data, k24Bytes);
}

TEST_F(BadRequestTest, BufferIdZero) {
  EXPECT_STATUS(Upload(0, k24Bytes, Spec(v1::FLOAT32, {2, 3})), INVALID_ARGUMENT,
                "buffer id 0 is reserved");
}

TEST_F(BadRequestTest, MoreOutputRequestsThanOutputs) {
  v1::ExecuteRequest request = AddGraph();
  *request.add_bindings()->mutable_tensor() = F32Tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  request.add_outputs();
  request.add_outputs();
  EXPECT_STATUS(Execute(request), INVALID_ARGUMENT,
                "the graph has 1 output(s) but 2 output requests were sent");
}

// ---- Sessions ----------------------------------------------------------------------------

TEST_F(BadRequestTest, UnsupportedProtocolVersion) {
  grpc::ClientContext context;
  v1::OpenSessionRequest request;
  request.set_min_protocol_version(2);
  request.set_max_protocol_version(3);
  v1::OpenSessionResponse response;
  EXPECT_STATUS(stub_->OpenSession(&context, request, &response), FAILED_PRECONDITION,
                "client speaks protocol versions [2, 3]; this ferryd speaks [1, 1]");
  grpc::ClientContext unset;
  EXPECT_STATUS(stub_->OpenSession(&unset, v1::OpenSessionRequest(), &response),
                FAILED_PRECONDITION, "[0, 0]");
}

// ---- Memory ------------------------------------------------------------------------------

TEST(MemoryExhaustion, UploadPastMaxMemoryIsRefusedAndLeaksNothing) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd({"--max_memory=64M"});
  ASSERT_NE(daemon, nullptr);
  auto stub = testing::Connect(daemon->address());
  std::string session = testing::OpenSession(*stub);
  const int64_t mib = 1 << 20;
  std::string big(100 * mib, '\x5a');
  EXPECT_STATUS(testing::Upload(*stub, session, 1, Spec(v1::UINT8, {100 * mib}), big),
                RESOURCE_EXHAUSTED, "upload of buffer 1");
  EXPECT_TRUE(daemon->Running());

  // An execute whose output does not fit either.
  v1::ExecuteRequest request;
  request.set_session_id(session);
  v1::Node full = Op("full", {}, Spec(v1::FLOAT32, {25 * mib}));
  *full.add_attrs() = FloatAttr("value", 1.0);
  *full.add_attrs() = IntsAttr("shape", {25 * mib});
  *full.add_attrs() = DTypeAttr("dtype", v1::FLOAT32);
  *request.mutable_graph()->add_nodes() = full;
  request.mutable_graph()->add_outputs(0);
  grpc::ClientContext context;
  v1::ExecuteResponse response;
  EXPECT_STATUS(stub->Execute(&context, request, &response), RESOURCE_EXHAUSTED, "bytes");

  // Nothing was kept: 48 MiB still fits, twice in a row after releasing.
  std::string fits(48 * mib, '\x11');
  EXPECT_TRUE(testing::Upload(*stub, session, 2, Spec(v1::UINT8, {48 * mib}), fits).ok());
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub, session, &info).ok());
  EXPECT_EQ(info.resident_bytes(), 48 * mib);
  EXPECT_EQ(info.limits().max_memory_bytes(), 64 * mib);
  // An idle channel only acks the daemon's shutdown ping at gRPC's 5 s backup poll.
  stub.reset();
  EXPECT_EQ(daemon->Stop(), 0);
}

}  // namespace
}  // namespace ferry
