#include "server/upload.h"

#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/cpu/cpu_backend.h"

namespace ferry::server {
namespace {

using ::testing::HasSubstr;

class UploadTest : public ::testing::Test {
 protected:
  void SetUp() override { session_id_ = (*sessions_.Open("test"))->id(); }

  // An upload stream of float32 (2, 3) as buffer 5, declaring `total_bytes`, whose
  // messages carry `chunks`.
  // `first` may ask to resume (resume_offset, resume_query) or name another buffer.
  absl::StatusOr<v1::UploadResponse> Upload(std::vector<std::string> chunks,
                                            uint64_t total_bytes = 24,
                                            v1::UploadRequest first = {}) {
    std::vector<v1::UploadRequest> messages(std::max<size_t>(chunks.size(), 1));
    messages[0] = first;
    messages[0].set_session_id(session_id_);
    if (first.buffer_id() == 0) messages[0].set_buffer_id(5);
    if (!first.has_spec()) {
      messages[0].mutable_spec()->set_dtype(v1::FLOAT32);
      messages[0].mutable_spec()->add_shape(2);
      messages[0].mutable_spec()->add_shape(3);
    }
    messages[0].set_total_bytes(total_bytes);
    for (size_t i = 0; i < chunks.size(); ++i) messages[i].set_data(chunks[i]);
    return Receive(messages);
  }

  // Feeds `messages`, serialized and each cut in two pieces as gRPC may hand them over,
  // to a receiver; the first error, or Finish's answer.
  absl::StatusOr<v1::UploadResponse> Receive(const std::vector<v1::UploadRequest>& messages) {
    UploadReceiver receiver(*sessions_in_use_, *backend_);
    for (const v1::UploadRequest& message : messages) {
      const std::string wire = message.SerializeAsString();
      const size_t cut = wire.size() / 2;
      const core::ByteSpan pieces[] = {{wire.data(), cut}, {wire.data() + cut, wire.size() - cut}};
      absl::Status received = receiver.Receive(pieces);
      if (!received.ok()) return received;
    }
    return receiver.Finish();
  }

  static v1::UploadRequest Resume(uint64_t offset) {
    v1::UploadRequest first;
    first.set_resume_offset(offset);
    return first;
  }

  // The bytes kept of the broken upload `first` describes (by default, buffer 5's).
  uint64_t Query(v1::UploadRequest first = {}) {
    first.clear_resume_offset();
    first.set_resume_query(true);
    absl::StatusOr<v1::UploadResponse> response = Upload({}, 24, first);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? response->bytes_received() : 0;
  }

  std::string Resident() {
    absl::StatusOr<SessionRef> session = sessions_in_use_->Acquire(session_id_);
    absl::StatusOr<kernels::Tensor> tensor = (*session)->Get(5);
    if (!tensor.ok()) return "<none>";
    return std::string(static_cast<const char*>(tensor->raw()), tensor->nbytes());
  }

  std::unique_ptr<kernels::Backend> backend_ = kernels::MakeCpuBackend(1 << 20);
  SessionManager sessions_{absl::Seconds(60)};
  SessionManager* sessions_in_use_ = &sessions_;
  std::string session_id_;
};

TEST_F(UploadTest, ChunksLandAtTheirRunningOffsets) {
  absl::StatusOr<v1::UploadResponse> response = Upload({"abcdefgh", "", "ijklmnopqrst", "uvwx"});
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->buffer_id(), 5u);
  EXPECT_EQ(response->bytes_received(), 24u);
  EXPECT_EQ(Resident(), "abcdefghijklmnopqrstuvwx");
}

TEST_F(UploadTest, ShortStreamStoresNothingButKeepsWhatArrivedForAResume) {
  absl::StatusOr<v1::UploadResponse> response = Upload({"abcdefgh", "ijkl"});
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(),
            "upload of buffer 5 ended after 12 of 24 bytes (kept for a resume)");
  EXPECT_EQ(Resident(), "<none>");
  EXPECT_EQ(backend_->budget().in_use(), 24);
  EXPECT_EQ(Query(), 12u);
  // Released by its id, as a resident buffer would be.
  (*sessions_.Acquire(session_id_))->Release({5});
  EXPECT_EQ(backend_->budget().in_use(), 0);
  EXPECT_EQ(Query(), 0u);
}

TEST_F(UploadTest, BoolsOtherThanZeroOrOneAreRefused) {
  v1::UploadRequest first;
  first.mutable_spec()->set_dtype(v1::BOOL);
  first.mutable_spec()->add_shape(4);
  EXPECT_TRUE(Upload({std::string("\1\0\0\1", 4)}, 4, first).ok());
  first.set_buffer_id(6);
  absl::StatusOr<v1::UploadResponse> response = Upload({std::string("\1\0\7\1", 4)}, 4, first);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(),
            "upload of buffer 6: bool element 2 is the byte 7; a bool is 0 or 1");
}

TEST_F(UploadTest, NothingArrivedNothingKept) {
  EXPECT_EQ(Upload({}).status().message(), "upload of buffer 5 ended after 0 of 24 bytes");
  EXPECT_EQ(backend_->budget().in_use(), 0);
}

TEST_F(UploadTest, AResumeWritesFromItsOffsetOverTheKeptBytes) {
  ASSERT_FALSE(Upload({"abcdefgh", "ijkl"}).ok());
  // The client resumes where it knows the daemon had got to, or before.
  absl::StatusOr<v1::UploadResponse> response = Upload({"IJKLmnopqrst", "uvwx"}, 24, Resume(8));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->bytes_received(), 24u);
  EXPECT_EQ(Resident(), "abcdefghIJKLmnopqrstuvwx");
  // Asked again (the answer above lost in a break): all of it is held.
  EXPECT_EQ(Query(), 24u);
  EXPECT_EQ(backend_->budget().in_use(), 24);
}

TEST_F(UploadTest, AResumeThatBreaksAgainKeepsItsProgress) {
  ASSERT_FALSE(Upload({"abcdefgh"}).ok());
  ASSERT_FALSE(Upload({"ijklmnop"}, 24, Resume(8)).ok());
  EXPECT_EQ(Query(), 16u);
  ASSERT_TRUE(Upload({"qrstuvwx"}, 24, Resume(16)).ok());
  EXPECT_EQ(Resident(), "abcdefghijklmnopqrstuvwx");
}

TEST_F(UploadTest, AResumePastTheKeptBytesIsRefused) {
  ASSERT_FALSE(Upload({"abcdefgh", "ijkl"}).ok());
  absl::StatusOr<v1::UploadResponse> response = Upload({"qrstuvwx"}, 24, Resume(16));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(response.status().message(),
            "upload of buffer 5: cannot resume at byte 16: only 12 bytes are kept");
  response = Upload({"qrstuvwx"}, 24, Resume(16));  // the refused resume dropped them
  EXPECT_THAT(response.status().message(), HasSubstr("no broken upload of it is kept"));
  EXPECT_EQ(backend_->budget().in_use(), 0);
}

TEST_F(UploadTest, AResumeOfAnotherSpecIsRefused) {
  ASSERT_FALSE(Upload({"abcdefgh"}).ok());
  v1::UploadRequest first = Resume(8);
  first.mutable_spec()->set_dtype(v1::INT32);
  first.mutable_spec()->add_shape(6);
  EXPECT_EQ(Query(first), 0u);
  absl::StatusOr<v1::UploadResponse> response = Upload({"ijklmnopqrstuvwx"}, 24, first);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(response.status().message(), HasSubstr("the kept bytes are of float32(2, 3)"));
}

TEST_F(UploadTest, ANewUploadFromByteZeroDropsTheKeptBytes) {
  ASSERT_FALSE(Upload({"abcdefgh"}).ok());
  ASSERT_TRUE(Upload({"ABCDEFGHIJKLMNOPQRSTUVWX"}).ok());
  EXPECT_EQ(Resident(), "ABCDEFGHIJKLMNOPQRSTUVWX");
  EXPECT_EQ(backend_->budget().in_use(), 24);
}

TEST_F(UploadTest, AQueryCarriesNoData) {
  for (bool resume : {true, false}) {
    v1::UploadRequest first;
    first.set_resume_query(resume);
    first.set_cache_query(!resume);
    first.set_content_digest(std::string(32, 'd'));
    absl::StatusOr<v1::UploadResponse> response = Upload({"abcdefgh"}, 24, first);
    EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(response.status().message(),
              "upload of buffer 5: a resume_query or cache_query carries no data");
  }
}

TEST_F(UploadTest, ACacheQueryNamesAWholeDigest) {
  v1::UploadRequest first;
  first.set_cache_query(true);
  absl::StatusOr<v1::UploadResponse> response = Upload({}, 24, first);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(), "upload of buffer 5: a cache_query needs content_digest");
  first.set_content_digest("short");
  response = Upload({}, 24, first);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(),
            "upload of buffer 5: content_digest has 5 bytes; a ContentDigest has 32");
  // Without an upload cache (this daemon has none) the answer is 0: send the bytes.
  first.set_content_digest(std::string(32, 'd'));
  response = Upload({}, 24, first);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->bytes_received(), 0u);
}

TEST_F(UploadTest, AtMostFourBrokenUploadsAreKeptTheOldestDroppedFirst) {
  for (uint64_t id = 10; id < 15; ++id) {
    v1::UploadRequest first;
    first.set_buffer_id(id);
    ASSERT_FALSE(Upload({"abcdefgh"}, 24, first).ok());
  }
  EXPECT_EQ(backend_->budget().in_use(), 4 * 24);
  for (uint64_t id = 10; id < 15; ++id) {
    v1::UploadRequest first;
    first.set_buffer_id(id);
    EXPECT_EQ(Query(first), id == 10 ? 0u : 8u) << id;
  }
}

TEST_F(UploadTest, KeptBytesCountAgainstTheSessionsQuota) {
  SessionManager quota_sessions(absl::Seconds(60), /*session_memory_quota=*/40);
  session_id_ = (*quota_sessions.Open("quota"))->id();
  sessions_in_use_ = &quota_sessions;
  ASSERT_FALSE(Upload({"abcdefgh"}).ok());
  v1::UploadRequest other;
  other.set_buffer_id(6);
  absl::StatusOr<v1::UploadResponse> response = Upload({}, 24, other);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(), HasSubstr("(24 of broken uploads)"));
  ASSERT_TRUE(Upload({"ijklmnopqrstuvwx"}, 24, Resume(8)).ok());  // it counted already
  sessions_in_use_ = &sessions_;
}

// A full device drops kept uploads (every session's, until enough is free) before it
// refuses an allocation, as ferryd's budget asks (MemoryBudget::set_reclaimer).
TEST(UploadReclaimTest, KeptBytesGiveWayWhenMemoryIsWanted) {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{1} << 20);
  SessionManager sessions(absl::Seconds(60));
  backend->budget().set_reclaimer(
      [&sessions](int64_t needed) { return sessions.DropKeptUploads(needed); });
  const std::string session_id = (*sessions.Open("test"))->id();
  const int64_t size = 600 << 10;
  UploadReceiver broken(sessions, *backend);
  v1::UploadRequest first;
  first.set_session_id(session_id);
  first.set_buffer_id(5);
  first.mutable_spec()->set_dtype(v1::UINT8);
  first.mutable_spec()->add_shape(size);
  first.set_total_bytes(size);
  first.set_data(std::string(1000, 'x'));
  const std::string wire = first.SerializeAsString();
  const core::ByteSpan pieces[] = {{wire.data(), wire.size()}};
  ASSERT_TRUE(broken.Receive(pieces).ok());
  ASSERT_FALSE(broken.Finish().ok());  // ended short: kept
  EXPECT_EQ(sessions.kept_upload_bytes(), size);
  // Another 600 KiB does not fit the 1 MiB beside it: the kept upload gives way.
  absl::StatusOr<kernels::Tensor> wanted = backend->Allocate({core::DType::kUInt8, {size}});
  ASSERT_TRUE(wanted.ok()) << wanted.status();
  EXPECT_EQ(sessions.kept_upload_bytes(), 0);
  // With nothing left to give, a reservation past the budget is still refused.
  EXPECT_EQ(backend->Allocate({core::DType::kUInt8, {size}}).status().code(),
            absl::StatusCode::kResourceExhausted);
  backend->budget().set_reclaimer(nullptr);
}

TEST_F(UploadTest, AClosedSessionFreesItsKeptBytes) {
  ASSERT_FALSE(Upload({"abcdefgh"}).ok());
  ASSERT_TRUE(sessions_.Close(session_id_).ok());
  EXPECT_EQ(backend_->budget().in_use(), 0);
}

TEST_F(UploadTest, ChunkPastTheDeclaredEnd) {
  absl::StatusOr<v1::UploadResponse> response = Upload({"abcdefghijklmnopqrst", "uvwxyz"});
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(response.status().message(),
            "upload of buffer 5: chunk ends at byte 26, past the declared 24 bytes");
  EXPECT_EQ(backend_->budget().in_use(), 0);
}

TEST_F(UploadTest, TotalBytesMustMatchTheSpec) {
  absl::StatusOr<v1::UploadResponse> response = Upload({}, 25);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(response.status().message(), HasSubstr("total_bytes is 25 but float32(2, 3)"));
}

TEST_F(UploadTest, PastTheMemoryBudget) {
  std::vector<v1::UploadRequest> messages(1);
  messages[0].set_session_id(session_id_);
  messages[0].set_buffer_id(6);
  messages[0].mutable_spec()->set_dtype(v1::UINT8);
  messages[0].mutable_spec()->add_shape(2 << 20);
  messages[0].set_total_bytes(2 << 20);
  absl::StatusOr<v1::UploadResponse> response = Receive(messages);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(response.status().message(), HasSubstr("upload of buffer 6: "));
}

// The CPU backend seen as a device: its memory is not host-addressable, and it records the
// size of every copy from the host.
class DeviceLikeBackend : public kernels::Backend {
 public:
  explicit DeviceLikeBackend(kernels::Backend& cpu) : cpu_(cpu) {}
  const kernels::DeviceFacts& facts() const override { return cpu_.facts(); }
  kernels::MemoryBudget& budget() override { return cpu_.budget(); }
  absl::StatusOr<kernels::Tensor> Allocate(const core::TensorType& type) override {
    return cpu_.Allocate(type);
  }
  absl::Status CopyFromHost(const void* src, size_t bytes, const kernels::Tensor& dst,
                            size_t dst_offset) override {
    copies.push_back(bytes);
    return cpu_.CopyFromHost(src, bytes, dst, dst_offset);
  }
  absl::Status CopyToHost(const kernels::Tensor& src, size_t src_offset, size_t bytes,
                          void* dst) override {
    return cpu_.CopyToHost(src, src_offset, bytes, dst);
  }
  absl::Status Run(const core::Node& node, absl::Span<const kernels::Tensor> inputs,
                   const kernels::Tensor& out) override {
    return cpu_.Run(node, inputs, out);
  }
  std::vector<size_t> copies;

 private:
  kernels::Backend& cpu_;
};

// 10 MiB uploaded as buffer 9 to the CPU backend seen as a device.
class UploadToADeviceTest : public ::testing::Test {
 protected:
  UploadToADeviceTest() {
    for (size_t i = 0; i < total; ++i) payload[i] = static_cast<char>(i * 7 + i / 4096);
  }

  // Buffer 9's bytes, or "<none>".
  std::string Resident() {
    absl::StatusOr<SessionRef> session = sessions.Acquire(session_id);
    absl::StatusOr<kernels::Tensor> tensor = (*session)->Get(9);
    if (!tensor.ok()) return "<none>";
    return std::string(static_cast<const char*>(tensor->raw()), tensor->nbytes());
  }

  std::unique_ptr<kernels::Backend> cpu = kernels::MakeCpuBackend(int64_t{64} << 20);
  DeviceLikeBackend device{*cpu};
  SessionManager sessions{absl::Seconds(60)};
  const std::string session_id = (*sessions.Open("test"))->id();
  const size_t total = size_t{10} << 20;
  std::string payload = std::string(total, '\0');
};

TEST_F(UploadToADeviceTest, PiecesAreGatheredIntoLargeCopies) {
  UploadReceiver receiver(sessions, device);
  for (int m = 0; m < 2; ++m) {  // two messages of 5 MiB, each in 64 KiB pieces
    v1::UploadRequest message;
    if (m == 0) {
      message.set_session_id(session_id);
      message.set_buffer_id(9);
      message.mutable_spec()->set_dtype(v1::UINT8);
      message.mutable_spec()->add_shape(static_cast<int64_t>(total));
      message.set_total_bytes(total);
    }
    message.set_data(payload.substr(m * total / 2, total / 2));
    const std::string wire = message.SerializeAsString();
    std::vector<core::ByteSpan> pieces;
    for (size_t at = 0; at < wire.size(); at += 65536) {
      pieces.push_back({wire.data() + at, std::min<size_t>(65536, wire.size() - at)});
    }
    ASSERT_TRUE(receiver.Receive(pieces).ok());
  }
  ASSERT_TRUE(receiver.Finish().ok());
  // Per message: one copy once 4 MiB are gathered (a piece may take it past), one for the
  // rest at the message's end.
  ASSERT_EQ(device.copies.size(), 4u);
  for (int first : {0, 2}) {
    EXPECT_GE(device.copies[first], size_t{4} << 20);
    EXPECT_LT(device.copies[first], (size_t{4} << 20) + 65536);
    EXPECT_EQ(device.copies[first] + device.copies[first + 1], total / 2);
  }
  EXPECT_EQ(Resident(), payload);
}

// On a device the kept bytes are the device tensor's: a resume copies the rest after them.
TEST_F(UploadToADeviceTest, AResumeGoesOnInTheDeviceTensor) {
  auto send = [&](uint64_t offset, size_t bytes) {
    UploadReceiver receiver(sessions, device);
    v1::UploadRequest message;
    message.set_session_id(session_id);
    message.set_buffer_id(9);
    message.mutable_spec()->set_dtype(v1::UINT8);
    message.mutable_spec()->add_shape(static_cast<int64_t>(total));
    message.set_total_bytes(total);
    message.set_resume_offset(offset);
    message.set_data(payload.substr(offset, bytes));
    const std::string wire = message.SerializeAsString();
    const core::ByteSpan pieces[] = {{wire.data(), wire.size()}};
    EXPECT_TRUE(receiver.Receive(pieces).ok());
    return receiver.Finish();
  };
  absl::StatusOr<v1::UploadResponse> first = send(0, size_t{6} << 20);
  EXPECT_THAT(first.status().message(), HasSubstr("ended after 6291456 of 10485760 bytes (kept"));
  ASSERT_TRUE(send(size_t{6} << 20, total - (size_t{6} << 20)).ok());
  EXPECT_EQ(Resident(), payload);
}

TEST_F(UploadTest, MalformedMessage) {
  UploadReceiver receiver(sessions_, *backend_);
  const std::string garbage = "\x2a\x7f";  // data field, 127 bytes announced, none there
  const core::ByteSpan pieces[] = {{garbage.data(), garbage.size()}};
  absl::Status received = receiver.Receive(pieces);
  EXPECT_EQ(received.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(received.message(), HasSubstr("upload message 0: malformed message"));
}

TEST_F(UploadTest, EmptyStream) {
  absl::StatusOr<v1::UploadResponse> response = Receive({});
  EXPECT_EQ(response.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ferry::server
