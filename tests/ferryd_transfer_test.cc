// Buffers in and out of a real ferryd, and executes with inline and resident outputs.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
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

using ::ferry::testing::BytesToFloats;
using ::ferry::testing::ConstantF32;
using ::ferry::testing::DTypeAttr;
using ::ferry::testing::F32Tensor;
using ::ferry::testing::FloatAttr;
using ::ferry::testing::FloatBytes;
using ::ferry::testing::IntsAttr;
using ::ferry::testing::Op;
using ::ferry::testing::Parameter;
using ::ferry::testing::Spec;
using ::testing::ElementsAre;

constexpr int64_t kMiB = 1 << 20;

class TransferTest : public testing::FerrydSuiteTest {
 protected:
  void TearDown() override { EXPECT_TRUE(CloseSession().ok()); }

  grpc::Status Execute(const v1::ExecuteRequest& request, v1::ExecuteResponse* response) {
    grpc::ClientContext context;
    return stub_->Execute(&context, request, response);
  }
};

// splitmix64: every byte differs from its neighbours, so a misplaced chunk shows.
std::string PseudoRandomBytes(size_t size, uint64_t seed) {
  std::string bytes(size, '\0');
  uint64_t state = seed;
  for (size_t offset = 0; offset < size; offset += 8) {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    std::memcpy(bytes.data() + offset, &z, std::min<size_t>(8, size - offset));
  }
  return bytes;
}

TEST_F(TransferTest, HalfGibibyteRoundTripsByteExact) {
  const std::string sent = PseudoRandomBytes(512 * kMiB, 42);
  const v1::TensorSpec spec = Spec(v1::UINT8, {512 * kMiB});
  grpc::Status uploaded = testing::Upload(*stub_, session_, 1, spec, sent);
  ASSERT_TRUE(uploaded.ok()) << uploaded.error_message();

  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub_, session_, &info).ok());
  EXPECT_EQ(info.session_buffers(), 1);
  EXPECT_EQ(info.session_resident_bytes(), 512 * kMiB);

  std::string received;
  v1::TensorSpec received_spec;
  grpc::Status downloaded = testing::Download(*stub_, session_, 1, &received, &received_spec);
  ASSERT_TRUE(downloaded.ok()) << downloaded.error_message();
  ASSERT_EQ(received.size(), sent.size());
  EXPECT_EQ(std::memcmp(received.data(), sent.data(), sent.size()), 0);
  EXPECT_EQ(received_spec.dtype(), v1::UINT8);
  EXPECT_THAT(received_spec.shape(), ElementsAre(512 * kMiB));
}

TEST_F(TransferTest, DownloadUsesTheRequestedChunkSize) {
  const std::string sent = PseudoRandomBytes(10 * 1000 + 4, 7);
  ASSERT_TRUE(testing::Upload(*stub_, session_, 2, Spec(v1::INT32, {2501}), sent, 999).ok());
  grpc::ClientContext context;
  v1::DownloadRequest request;
  request.set_session_id(session_);
  request.set_buffer_id(2);
  request.set_chunk_bytes(4096);
  auto reader = stub_->Download(&context, request);
  v1::DownloadResponse message;
  std::vector<uint64_t> offsets;
  std::string received;
  while (reader->Read(&message)) {
    if (offsets.empty()) {
      EXPECT_EQ(message.total_bytes(), 10004u);
      EXPECT_EQ(message.spec().dtype(), v1::INT32);
    } else {
      EXPECT_FALSE(message.has_spec());  // only the first message carries the spec
    }
    offsets.push_back(message.offset());
    received += message.data();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_THAT(offsets, ElementsAre(0, 4096, 8192));
  EXPECT_EQ(received, sent);
}

TEST_F(TransferTest, EmptyAndScalarBuffers) {
  ASSERT_TRUE(testing::Upload(*stub_, session_, 3, Spec(v1::FLOAT32, {0, 5}), "").ok());
  std::string received = "x";
  v1::TensorSpec spec;
  ASSERT_TRUE(testing::Download(*stub_, session_, 3, &received, &spec).ok());
  EXPECT_EQ(received, "");
  EXPECT_THAT(spec.shape(), ElementsAre(0, 5));

  ASSERT_TRUE(
      testing::Upload(*stub_, session_, 4, Spec(v1::FLOAT64, {}), std::string(8, 'a')).ok());
  ASSERT_TRUE(testing::Download(*stub_, session_, 4, &received, &spec).ok());
  EXPECT_EQ(received, std::string(8, 'a'));
  EXPECT_EQ(spec.shape_size(), 0);
}

// x + [10, 20, 30] with x a float32 (2, 3) parameter.
v1::Graph AddGraph() {
  v1::Graph graph;
  *graph.add_nodes() = Parameter(0, Spec(v1::FLOAT32, {2, 3}));
  *graph.add_nodes() = ConstantF32({10, 20, 30}, {3});
  *graph.add_nodes() = Op("add", {0, 1}, Spec(v1::FLOAT32, {2, 3}));
  graph.add_outputs(2);
  return graph;
}

TEST_F(TransferTest, ExecuteReturnsInlineAndResidentOutputs) {
  ASSERT_TRUE(testing::Upload(*stub_, session_, 10, Spec(v1::FLOAT32, {2, 3}),
                              FloatBytes({1, 2, 3, 4, 5, 6}))
                  .ok());
  // Bound to a resident buffer; the output kept as 11 and returned inline.
  v1::ExecuteRequest request;
  request.set_session_id(session_);
  *request.mutable_graph() = AddGraph();
  request.add_bindings()->set_buffer_id(10);
  v1::OutputRequest* wanted = request.add_outputs();
  wanted->set_buffer_id(11);
  wanted->set_inline_up_to_bytes(1024);
  v1::ExecuteResponse response;
  grpc::Status status = Execute(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.outputs_size(), 1);
  EXPECT_EQ(response.graph_id().size(), 16u);
  const v1::OutputResult& result = response.outputs(0);
  EXPECT_EQ(result.buffer_id(), 11u);
  EXPECT_TRUE(result.has_data());
  EXPECT_THAT(result.spec().shape(), ElementsAre(2, 3));
  EXPECT_THAT(BytesToFloats(result.data()), ElementsAre(11, 22, 33, 14, 25, 36));

  // By graph_id alone, bound to the kept output; kept as 12, not inline (no inline size).
  v1::ExecuteRequest again;
  again.set_session_id(session_);
  again.set_graph_id(response.graph_id());
  again.add_bindings()->set_buffer_id(11);
  again.add_outputs()->set_buffer_id(12);
  v1::ExecuteResponse second;
  status = Execute(again, &second);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(second.graph_id(), response.graph_id());
  EXPECT_EQ(second.outputs(0).buffer_id(), 12u);
  EXPECT_FALSE(second.outputs(0).has_data());
  std::string kept;
  ASSERT_TRUE(testing::Download(*stub_, session_, 12, &kept).ok());
  EXPECT_THAT(BytesToFloats(kept), ElementsAre(21, 42, 63, 24, 45, 66));

  // An inline binding and no OutputRequest: small outputs come back inline, not kept;
  // release_buffer_ids frees 10 and 11 first.
  v1::ExecuteRequest third;
  third.set_session_id(session_);
  third.set_graph_id(response.graph_id());
  *third.add_bindings()->mutable_tensor() = F32Tensor({0, 0, 0, 1, 1, 1}, {2, 3});
  third.add_release_buffer_ids(10);
  third.add_release_buffer_ids(11);
  v1::ExecuteResponse inline_only;
  status = Execute(third, &inline_only);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(inline_only.outputs(0).buffer_id(), 0u);
  EXPECT_TRUE(inline_only.outputs(0).has_data());
  EXPECT_THAT(BytesToFloats(inline_only.outputs(0).data()), ElementsAre(10, 20, 30, 11, 21, 31));
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub_, session_, &info).ok());
  EXPECT_EQ(info.session_buffers(), 1);  // only 12
  EXPECT_GE(info.cached_graphs(), 1);
}

TEST_F(TransferTest, OutputsLargerThanTheInlineLimitAreNotInlined) {
  v1::ExecuteRequest request;
  request.set_session_id(session_);
  *request.mutable_graph() = AddGraph();
  *request.add_bindings()->mutable_tensor() = F32Tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  v1::OutputRequest* wanted = request.add_outputs();
  wanted->set_buffer_id(20);
  wanted->set_inline_up_to_bytes(23);  // the output has 24 bytes
  v1::ExecuteResponse response;
  ASSERT_TRUE(Execute(request, &response).ok());
  EXPECT_FALSE(response.outputs(0).has_data());
  EXPECT_EQ(response.outputs(0).buffer_id(), 20u);

  // Exactly at the limit: inline.
  request.mutable_outputs(0)->set_buffer_id(21);
  request.mutable_outputs(0)->set_inline_up_to_bytes(24);
  ASSERT_TRUE(Execute(request, &response).ok());
  EXPECT_TRUE(response.outputs(0).has_data());
}

// Offsets past 2^32 and past 2^31 travel intact: a 2.5 GiB buffer made on the daemon
// (no upload), streamed back and checked chunk by chunk without keeping it.
TEST_F(TransferTest, DownloadOfMoreThanTwoGibibytes) {
  const int64_t elements = 640 * kMiB;  // float32: 2.5 GiB
  v1::ExecuteRequest request;
  request.set_session_id(session_);
  v1::Node full = Op("full", {}, Spec(v1::FLOAT32, {elements}));
  *full.add_attrs() = FloatAttr("value", 1.5);
  *full.add_attrs() = IntsAttr("shape", {elements});
  *full.add_attrs() = DTypeAttr("dtype", v1::FLOAT32);
  *request.mutable_graph()->add_nodes() = full;
  request.mutable_graph()->add_outputs(0);
  request.add_outputs()->set_buffer_id(30);
  v1::ExecuteResponse response;
  grpc::Status status = Execute(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();

  grpc::ClientContext context;
  v1::DownloadRequest download;
  download.set_session_id(session_);
  download.set_buffer_id(30);
  download.set_chunk_bytes(8 * kMiB);
  auto reader = stub_->Download(&context, download);
  v1::DownloadResponse message;
  uint64_t next = 0;
  uint64_t total = 0;
  bool values_ok = true;
  const float expected = 1.5f;
  while (reader->Read(&message)) {
    if (next == 0) total = message.total_bytes();
    ASSERT_EQ(message.offset(), next);
    const std::string& data = message.data();
    for (size_t i = 0; i + 4 <= data.size(); i += 4096) {
      values_ok &= std::memcmp(data.data() + i, &expected, 4) == 0;
    }
    next += data.size();
  }
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(total, uint64_t{5} << 29);
  EXPECT_EQ(next, total);
  EXPECT_TRUE(values_ok);

  grpc::ClientContext release_context;
  v1::ReleaseRequest release;
  release.set_session_id(session_);
  release.add_buffer_ids(30);
  v1::ReleaseResponse released;
  EXPECT_TRUE(stub_->Release(&release_context, release, &released).ok());
}

}  // namespace
}  // namespace ferry
