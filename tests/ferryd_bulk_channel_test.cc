// The bulk channel (feature "bulk_tcp"): large transfers on plain TCP beside gRPC, spoken
// byte by byte as ferry.proto describes it, and through the client library.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "client/ferry.h"
#include "core/stream_socket.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/ferry/v1/ferry.grpc.pb.h"
#include "server/ferryd_process.h"
#include "tests/ferryd_testing.h"

namespace ferry {
namespace {

using ::ferry::testing::Spec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Every byte differs from its neighbours, so a misplaced run shows.
std::string Pattern(size_t size) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 4093) & 0xff);
  return bytes;
}

v1::OpenSessionResponse Open(v1::Ferry::Stub& stub) {
  grpc::ClientContext context;
  v1::OpenSessionRequest request;
  request.set_min_protocol_version(1);
  request.set_max_protocol_version(1);
  v1::OpenSessionResponse response;
  EXPECT_TRUE(stub.OpenSession(&context, request, &response).ok());
  return response;
}

bool Offers(const v1::OpenSessionResponse& opened) {
  const auto& features = opened.features();
  return std::find(features.begin(), features.end(), "bulk_tcp") != features.end();
}

// A raw connection to the bulk port on loopback.
class RawBulk {
 public:
  explicit RawBulk(uint32_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(static_cast<uint16_t>(port));
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~RawBulk() { close(fd_); }

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  // Sends the magic and a hello; the daemon's answer.
  v1::BulkResponse Hello(const std::string& session_id, const std::string& ticket) {
    v1::BulkHello hello;
    hello.set_session_id(session_id);
    hello.set_ticket(ticket);
    EXPECT_TRUE(core::SendAll(fd_, core::kBulkMagic, sizeof(core::kBulkMagic)).ok());
    EXPECT_TRUE(core::SendMessage(fd_, hello).ok());
    return Answer();
  }

  v1::BulkResponse Answer() {
    v1::BulkResponse answer;
    absl::Status status = core::ReceiveMessage(fd_, &answer);
    if (!status.ok()) answer.set_message("no answer: " + std::string(status.message()));
    if (!status.ok()) answer.set_code(-1);
    return answer;
  }

  v1::BulkResponse Upload(uint64_t buffer_id, const v1::TensorSpec& spec, const std::string& data,
                          int64_t total_bytes = -1) {
    v1::BulkRequest request;
    request.mutable_upload()->set_buffer_id(buffer_id);
    *request.mutable_upload()->mutable_spec() = spec;
    request.mutable_upload()->set_total_bytes(total_bytes < 0 ? data.size() : total_bytes);
    EXPECT_TRUE(core::SendMessage(fd_, request).ok());
    EXPECT_TRUE(core::SendAll(fd_, data.data(), data.size()).ok());
    return Answer();
  }

  // The answer, and the bytes that follow an OK one.
  v1::BulkResponse Download(uint64_t buffer_id, std::string* data) {
    v1::BulkRequest request;
    request.mutable_download()->set_buffer_id(buffer_id);
    EXPECT_TRUE(core::SendMessage(fd_, request).ok());
    v1::BulkResponse answer = Answer();
    if (answer.code() == 0) {
      data->assign(answer.download().total_bytes(), '\0');
      EXPECT_TRUE(core::ReceiveAll(fd_, data->data(), data->size()).ok());
    }
    return answer;
  }

  // Whether the daemon closed the connection (a read sees its end).
  bool Closed() {
    char byte;
    return recv(fd_, &byte, 1, 0) == 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class BulkChannelTest : public testing::FerrydSuiteTest {
 protected:
  void SetUp() override {
    testing::FerrydSuiteTest::SetUp();
    opened_ = Open(*stub_);
    ASSERT_TRUE(Offers(opened_));
  }
  void TearDown() override { EXPECT_TRUE(CloseSession().ok()); }

  // The session's Pipeline stream, started (null, having failed the test, if it is not).
  std::unique_ptr<grpc::ClientReaderWriter<v1::PipelineRequest, v1::PipelineResponse>>
  StartPipeline(grpc::ClientContext& context) {
    auto stream = stub_->Pipeline(&context);
    v1::PipelineRequest start;
    start.mutable_start()->set_session_id(opened_.session_id());
    v1::PipelineResponse started;
    if (!stream->Write(start) || !stream->Read(&started)) {
      ADD_FAILURE() << "the pipeline did not start";
      return nullptr;
    }
    return stream;
  }

  v1::OpenSessionResponse opened_;
};

TEST_F(BulkChannelTest, OpenSessionOffersAPortAndASecretTicketPerSession) {
  EXPECT_GT(opened_.bulk_channel().port(), 0u);
  EXPECT_NE(opened_.bulk_channel().port(), static_cast<uint32_t>(daemon_->port()));
  EXPECT_EQ(opened_.bulk_channel().ticket().size(), 16u);
  const v1::OpenSessionResponse other = Open(*stub_);
  EXPECT_EQ(other.bulk_channel().port(), opened_.bulk_channel().port());
  EXPECT_NE(other.bulk_channel().ticket(), opened_.bulk_channel().ticket());
  v1::GetInfoResponse info;
  ASSERT_TRUE(testing::GetInfo(*stub_, "", &info).ok());
  EXPECT_THAT(info.features(), ::testing::Contains("bulk_tcp"));
}

TEST_F(BulkChannelTest, UploadsAndDownloadsByteExactBesideGrpc) {
  RawBulk bulk(opened_.bulk_channel().port());
  ASSERT_TRUE(bulk.connected());
  ASSERT_EQ(bulk.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);

  // Up on the bulk channel, down over gRPC.
  const std::string sent = Pattern((size_t{40} << 20) + 12);
  v1::BulkResponse up = bulk.Upload(7, Spec(v1::FLOAT32, {10 * (1 << 20) + 3}), sent);
  ASSERT_EQ(up.code(), 0) << up.message();
  EXPECT_EQ(up.upload().buffer_id(), 7u);
  EXPECT_EQ(up.upload().bytes_received(), sent.size());
  std::string via_grpc;
  ASSERT_TRUE(testing::Download(*stub_, opened_.session_id(), 7, &via_grpc).ok());
  EXPECT_TRUE(via_grpc == sent);

  // Up over gRPC, down on the bulk channel, on the same connection.
  const std::string small = Pattern(1000);
  ASSERT_TRUE(
      testing::Upload(*stub_, opened_.session_id(), 8, Spec(v1::UINT8, {10, 100}), small).ok());
  std::string received;
  v1::BulkResponse down = bulk.Download(8, &received);
  ASSERT_EQ(down.code(), 0) << down.message();
  EXPECT_EQ(down.download().spec().dtype(), v1::UINT8);
  EXPECT_THAT(down.download().spec().shape(), ElementsAre(10, 100));
  EXPECT_EQ(received, small);
  std::string again;
  ASSERT_EQ(bulk.Download(7, &again).code(), 0);
  EXPECT_TRUE(again == sent);

  // An empty buffer.
  ASSERT_EQ(bulk.Upload(9, Spec(v1::FLOAT32, {0, 4}), "").code(), 0);
  ASSERT_EQ(bulk.Download(9, &received).code(), 0);
  EXPECT_EQ(received, "");
}

TEST_F(BulkChannelTest, RefusedRequestsAreAnsweredAndTheConnectionGoesOn) {
  RawBulk bulk(opened_.bulk_channel().port());
  ASSERT_EQ(bulk.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);

  v1::BulkResponse zero = bulk.Upload(0, Spec(v1::UINT8, {4}), "abcd");
  EXPECT_EQ(zero.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  v1::BulkResponse mismatch = bulk.Upload(3, Spec(v1::FLOAT32, {4}), "abcd");
  EXPECT_EQ(mismatch.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(mismatch.message(), HasSubstr("total_bytes is 4 but float32(4,) has 16 bytes"));
  ASSERT_EQ(bulk.Upload(3, Spec(v1::UINT8, {4}), "abcd").code(), 0);
  v1::BulkResponse twice = bulk.Upload(3, Spec(v1::UINT8, {4}), "efgh");
  EXPECT_EQ(twice.code(), static_cast<int>(absl::StatusCode::kAlreadyExists));
  std::string received;
  v1::BulkResponse missing = bulk.Download(99, &received);
  EXPECT_EQ(missing.code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_THAT(missing.message(), HasSubstr("buffer 99"));
  v1::BulkRequest empty;
  ASSERT_TRUE(core::SendMessage(bulk.fd(), empty).ok());
  EXPECT_EQ(bulk.Answer().code(), static_cast<int>(absl::StatusCode::kInvalidArgument));

  // After all that, the first good upload is intact.
  ASSERT_EQ(bulk.Download(3, &received).code(), 0);
  EXPECT_EQ(received, "abcd");
}

TEST_F(BulkChannelTest, TheTicketAdmitsOnlyItsOwnSession) {
  const v1::OpenSessionResponse other = Open(*stub_);
  {
    RawBulk bulk(opened_.bulk_channel().port());
    v1::BulkResponse answer = bulk.Hello(opened_.session_id(), other.bulk_channel().ticket());
    EXPECT_EQ(answer.code(), static_cast<int>(absl::StatusCode::kPermissionDenied));
    EXPECT_THAT(answer.message(), HasSubstr("wrong ticket"));
    EXPECT_TRUE(bulk.Closed());
  }
  {
    RawBulk bulk(opened_.bulk_channel().port());
    v1::BulkResponse answer = bulk.Hello("no-such-session", opened_.bulk_channel().ticket());
    EXPECT_EQ(answer.code(), static_cast<int>(absl::StatusCode::kNotFound));
    EXPECT_TRUE(bulk.Closed());
  }
  {
    // Not a ferry client at all.
    RawBulk bulk(opened_.bulk_channel().port());
    const std::string http = "GET / HTTP/1.0\r\n\r\n";
    ASSERT_TRUE(core::SendAll(bulk.fd(), http.data(), http.size()).ok());
    EXPECT_TRUE(bulk.Closed());
  }
  {
    // A session's connection cannot read another session's buffers.
    ASSERT_TRUE(testing::Upload(*stub_, other.session_id(), 5, Spec(v1::UINT8, {3}), "xyz").ok());
    RawBulk bulk(opened_.bulk_channel().port());
    ASSERT_EQ(bulk.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);
    std::string received;
    EXPECT_EQ(bulk.Download(5, &received).code(), static_cast<int>(absl::StatusCode::kNotFound));
  }
}

TEST_F(BulkChannelTest, AMalformedFrameOrAVanishedClientLeavesTheDaemonServing) {
  {
    RawBulk bulk(opened_.bulk_channel().port());
    ASSERT_EQ(bulk.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);
    const unsigned char huge[4] = {0xff, 0xff, 0xff, 0x7f};
    ASSERT_TRUE(core::SendAll(bulk.fd(), huge, sizeof(huge)).ok());
    v1::BulkResponse answer = bulk.Answer();
    EXPECT_EQ(answer.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
    EXPECT_TRUE(bulk.Closed());
  }
  {
    // Half an upload, then the client is gone: nothing becomes resident.
    RawBulk bulk(opened_.bulk_channel().port());
    ASSERT_EQ(bulk.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);
    v1::BulkRequest request;
    request.mutable_upload()->set_buffer_id(11);
    *request.mutable_upload()->mutable_spec() = Spec(v1::UINT8, {1 << 20});
    request.mutable_upload()->set_total_bytes(1 << 20);
    ASSERT_TRUE(core::SendMessage(bulk.fd(), request).ok());
    const std::string half = Pattern(1 << 19);
    ASSERT_TRUE(core::SendAll(bulk.fd(), half.data(), half.size()).ok());
  }
  v1::GetInfoResponse info;
  for (int i = 0; i < 100; ++i) {  // the daemon notices the closed connection soon
    ASSERT_TRUE(testing::GetInfo(*stub_, opened_.session_id(), &info).ok());
    if (info.session_buffers() == 0) break;
  }
  EXPECT_EQ(info.session_buffers(), 0);
  std::string received;
  EXPECT_FALSE(testing::Download(*stub_, opened_.session_id(), 11, &received).ok());
}

// A pipeline upload step names bytes sent unanswered on the bulk channel, and waits for
// them; what the channel refused becomes the step's failure.
TEST_F(BulkChannelTest, PipelineStepsTakeUploadsFromTheBulkChannel) {
  RawBulk bulk(opened_.bulk_channel().port());
  ASSERT_EQ(bulk.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);
  grpc::ClientContext context;
  auto stream = StartPipeline(context);
  ASSERT_NE(stream, nullptr);
  v1::PipelineResponse response;

  auto send_bytes = [&](uint64_t buffer_id, const v1::TensorSpec& spec, const std::string& data) {
    v1::BulkRequest request;
    request.set_for_pipeline(true);
    request.mutable_upload()->set_buffer_id(buffer_id);
    *request.mutable_upload()->mutable_spec() = spec;
    request.mutable_upload()->set_total_bytes(data.size());
    ASSERT_TRUE(core::SendMessage(bulk.fd(), request).ok());
    ASSERT_TRUE(core::SendAll(bulk.fd(), data.data(), data.size()).ok());
  };
  auto step = [&](uint64_t step_id, uint64_t buffer_id, const v1::TensorSpec& spec) {
    v1::PipelineRequest upload;
    upload.set_step_id(step_id);
    upload.mutable_upload()->set_buffer_id(buffer_id);
    *upload.mutable_upload()->mutable_tensor()->mutable_spec() = spec;
    upload.mutable_upload()->set_bulk_channel(true);
    return upload;
  };

  // The step before its bytes, and bytes before their step: both wait for each other.
  const std::string first = Pattern(3 << 20);
  ASSERT_TRUE(stream->Write(step(1, 21, Spec(v1::UINT8, {3 << 20}))));
  send_bytes(21, Spec(v1::UINT8, {3 << 20}), first);
  const std::string second = Pattern(4096);
  send_bytes(22, Spec(v1::INT32, {1024}), second);
  ASSERT_TRUE(stream->Write(step(2, 22, Spec(v1::INT32, {1024}))));
  // Refused by the channel (wrong byte count), then declared differently by its step.
  send_bytes(23, Spec(v1::FLOAT32, {4}), "abc");
  ASSERT_TRUE(stream->Write(step(3, 23, Spec(v1::FLOAT32, {4}))));
  send_bytes(24, Spec(v1::UINT8, {4}), "abcd");
  ASSERT_TRUE(stream->Write(step(4, 24, Spec(v1::INT32, {1}))));
  v1::PipelineRequest sync;
  sync.set_step_id(5);
  sync.mutable_sync();
  ASSERT_TRUE(stream->Write(sync));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_EQ(response.step_id(), 5u);
  EXPECT_EQ(response.completed_through(), 5u);
  EXPECT_EQ(response.first_failure().step_id(), 3u);
  EXPECT_THAT(response.first_failure().message(), HasSubstr("total_bytes is 3"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  std::string received;
  ASSERT_EQ(bulk.Download(21, &received).code(), 0);
  EXPECT_TRUE(received == first);
  ASSERT_EQ(bulk.Download(22, &received).code(), 0);
  EXPECT_TRUE(received == second);
  EXPECT_EQ(bulk.Download(23, &received).code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_EQ(bulk.Download(24, &received).code(), static_cast<int>(absl::StatusCode::kNotFound));
}

// Another daemon's fetch of an offered buffer (proto "Copies between daemons"), spoken by
// hand: refused without a well-formed ticket or an open session; admitted, it gets the
// offer's answer and bytes, once; a second fetch on the same connection is told the ticket
// was used; a malformed message ends the connection and the daemon serves on.
TEST_F(BulkChannelTest, AnotherDaemonFetchesAnOfferOnceWithItsTicket) {
  auto fetch_hello = [](RawBulk& bulk, const std::string& session, const std::string& ticket) {
    v1::BulkHello hello;
    hello.mutable_fetch()->set_session_id(session);
    hello.mutable_fetch()->set_ticket(ticket);
    EXPECT_TRUE(core::SendAll(bulk.fd(), core::kBulkMagic, sizeof(core::kBulkMagic)).ok());
    EXPECT_TRUE(core::SendMessage(bulk.fd(), hello).ok());
    return bulk.Answer();
  };
  const std::string ticket(16, 'k');
  {
    RawBulk bulk(opened_.bulk_channel().port());
    v1::BulkResponse refused = fetch_hello(bulk, opened_.session_id(), "short");
    EXPECT_EQ(refused.code(), static_cast<int>(absl::StatusCode::kInvalidArgument));
    EXPECT_THAT(refused.message(), HasSubstr("ticket must be 16 bytes, got 5"));
  }
  {
    RawBulk bulk(opened_.bulk_channel().port());
    EXPECT_EQ(fetch_hello(bulk, "no-such-session", ticket).code(),
              static_cast<int>(absl::StatusCode::kNotFound));
  }
  grpc::ClientContext context;
  auto stream = StartPipeline(context);
  ASSERT_NE(stream, nullptr);
  v1::PipelineRequest upload;
  upload.set_step_id(1);
  upload.mutable_upload()->set_buffer_id(31);
  *upload.mutable_upload()->mutable_tensor() = testing::F32Tensor({1, 2, 3, 4}, {4});
  v1::PipelineRequest offer;
  offer.set_step_id(2);
  offer.set_want_reply(true);
  offer.mutable_offer()->set_buffer_id(31);
  offer.mutable_offer()->set_ticket(ticket);
  ASSERT_TRUE(stream->Write(upload));
  ASSERT_TRUE(stream->Write(offer));
  v1::PipelineResponse offered;
  ASSERT_TRUE(stream->Read(&offered));
  ASSERT_FALSE(offered.has_failure()) << offered.failure().message();

  RawBulk bulk(opened_.bulk_channel().port());
  ASSERT_EQ(fetch_hello(bulk, opened_.session_id(), ticket).code(), 0);  // admitted
  v1::BulkResponse answer = bulk.Answer();
  ASSERT_EQ(answer.code(), 0) << answer.message();
  ASSERT_EQ(answer.download().total_bytes(), 16u);
  std::string bytes(16, '\0');
  ASSERT_TRUE(core::ReceiveAll(bulk.fd(), bytes.data(), bytes.size()).ok());
  EXPECT_EQ(testing::BytesToFloats(bytes), std::vector<float>({1, 2, 3, 4}));
  v1::PeerFetch again;
  again.set_session_id(opened_.session_id());
  again.set_ticket(ticket);
  ASSERT_TRUE(core::SendMessage(bulk.fd(), again).ok());
  EXPECT_EQ(bulk.Answer().code(), 0);  // admitted again on the kept connection
  answer = bulk.Answer();
  EXPECT_EQ(answer.code(), static_cast<int>(absl::StatusCode::kNotFound));
  EXPECT_THAT(answer.message(), HasSubstr("fetched already"));
  const uint32_t huge = 0xffffffffu;
  ASSERT_TRUE(core::SendAll(bulk.fd(), &huge, sizeof(huge)).ok());
  EXPECT_TRUE(bulk.Closed());
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  RawBulk after(opened_.bulk_channel().port());
  EXPECT_EQ(after.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);
}

TEST_F(BulkChannelTest, AStepWhoseBulkConnectionBrokeFailsAtOnce) {
  {
    RawBulk bulk(opened_.bulk_channel().port());
    ASSERT_EQ(bulk.Hello(opened_.session_id(), opened_.bulk_channel().ticket()).code(), 0);
  }  // closed before any upload began
  grpc::ClientContext context;
  auto stream = StartPipeline(context);
  ASSERT_NE(stream, nullptr);
  v1::PipelineResponse response;
  const absl::Time begin = absl::Now();
  // The daemon may not have seen the close yet: the step still must not wait out the
  // 30 s announce limit.
  v1::PipelineRequest upload;
  upload.set_step_id(1);
  upload.mutable_upload()->set_buffer_id(31);
  *upload.mutable_upload()->mutable_tensor()->mutable_spec() = Spec(v1::UINT8, {16});
  upload.mutable_upload()->set_bulk_channel(true);
  ASSERT_TRUE(stream->Write(upload));
  v1::PipelineRequest sync;
  sync.set_step_id(2);
  sync.mutable_sync();
  ASSERT_TRUE(stream->Write(sync));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_LT(absl::Now() - begin, absl::Seconds(10));
  EXPECT_EQ(response.first_failure().step_id(), 1u);
  EXPECT_EQ(response.first_failure().code(), static_cast<int>(absl::StatusCode::kUnavailable));
  EXPECT_THAT(response.first_failure().message(),
              HasSubstr("the bulk connection closed before its upload began"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// A connection whose session is gone is closed by the daemon (within its 30 s idle check),
// so a client that vanished without closing its socket leaves no thread behind.
TEST_F(BulkChannelTest, ClosingTheSessionEndsItsIdleConnections) {
  const v1::OpenSessionResponse other = Open(*stub_);
  RawBulk bulk(other.bulk_channel().port());
  ASSERT_EQ(bulk.Hello(other.session_id(), other.bulk_channel().ticket()).code(), 0);
  grpc::ClientContext context;
  v1::CloseSessionRequest close;
  close.set_session_id(other.session_id());
  v1::CloseSessionResponse closed;
  ASSERT_TRUE(stub_->CloseSession(&context, close, &closed).ok());
  timeval limit{45, 0};
  setsockopt(bulk.fd(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  EXPECT_TRUE(bulk.Closed());
}

TEST(BulkChannelOffTest, PortMinusOneTurnsItOff) {
  std::unique_ptr<server::FerrydProcess> daemon = testing::StartFerryd({"--bulk_port=-1"});
  ASSERT_NE(daemon, nullptr);
  std::unique_ptr<v1::Ferry::Stub> stub = testing::Connect(daemon->address());
  const v1::OpenSessionResponse opened = Open(*stub);
  EXPECT_FALSE(Offers(opened));
  EXPECT_FALSE(opened.has_bulk_channel());

  // The client then moves the same bytes over gRPC.
  Device device = connect(daemon->address());
  const std::string data = Pattern(3 << 20);
  Array a =
      from_host_bytes(data.data(), data.size(), uint8, {static_cast<int64_t>(data.size())}, device);
  std::vector<uint8_t> back = a.to_vector<uint8_t>();
  ASSERT_EQ(back.size(), data.size());
  EXPECT_EQ(std::memcmp(back.data(), data.data(), data.size()), 0);
  EXPECT_EQ(device.stats().bulk_channel_transfers, 0);
  EXPECT_FALSE(device.info().bulk_channel);
  EXPECT_EQ(daemon->Stop(), 0);
}

TEST_F(BulkChannelTest, TheClientMovesLargeArraysOnItByDefault) {
  Device device = connect(daemon_->address());
  const std::string data = Pattern((size_t{6} << 20) + 5);
  Array a =
      from_host_bytes(data.data(), data.size(), uint8, {static_cast<int64_t>(data.size())}, device);
  Array b = a + a;
  std::vector<uint8_t> same = a.to_vector<uint8_t>();
  std::vector<uint8_t> doubled = b.to_vector<uint8_t>();
  ASSERT_EQ(same.size(), data.size());
  EXPECT_EQ(std::memcmp(same.data(), data.data(), data.size()), 0);
  for (size_t i = 0; i < data.size(); i += 4099) {
    EXPECT_EQ(doubled[i], static_cast<uint8_t>(2 * static_cast<uint8_t>(data[i])));
  }
  // The upload and both reads.
  EXPECT_EQ(device.stats().bulk_channel_transfers, 3);
  EXPECT_TRUE(device.info().bulk_channel);

  // Opted out: gRPC carries them.
  ConnectOptions off;
  off.bulk_channel = false;
  Device plain = connect(daemon_->address(), off);
  Array c =
      from_host_bytes(data.data(), data.size(), uint8, {static_cast<int64_t>(data.size())}, plain);
  EXPECT_EQ(c.to_vector<uint8_t>().size(), data.size());
  EXPECT_EQ(plain.stats().bulk_channel_transfers, 0);
  EXPECT_FALSE(plain.info().bulk_channel);
}

}  // namespace
}  // namespace ferry
