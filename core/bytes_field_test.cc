#include "core/bytes_field.h"

#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/ferry/v1/ferry.pb.h"

namespace ferry::core {
namespace {

using ::testing::HasSubstr;

// `bytes` cut into pieces at random points (some empty), as gRPC hands a message over.
std::vector<ByteSpan> Pieces(const std::string& bytes, std::mt19937& random) {
  std::vector<ByteSpan> pieces;
  size_t at = 0;
  while (at < bytes.size()) {
    const size_t n = std::uniform_int_distribution<size_t>(0, 40)(random);
    const size_t take = std::min(n, bytes.size() - at);
    pieces.push_back({bytes.data() + at, take});
    at += take;
  }
  return pieces;
}

std::string Joined(const std::vector<ByteSpan>& pieces) {
  std::string joined;
  for (const ByteSpan& piece : pieces) joined.append(piece.data, piece.size);
  return joined;
}

v1::UploadRequest Request(const std::string& data) {
  v1::UploadRequest request;
  request.set_session_id("s1");
  request.set_buffer_id(300);
  request.mutable_spec()->set_dtype(v1::FLOAT32);
  request.mutable_spec()->add_shape(7);
  request.set_total_bytes(28);
  request.set_data(data);
  request.set_shared_memory_offset(12345678901);
  return request;
}

TEST(SplitBytesField, FindsThePayloadInAnyCutAndKeepsTheOtherFields) {
  std::mt19937 random(7);
  const std::string data(1000, 'x');
  const std::string wire = Request(data).SerializeAsString();
  for (int trial = 0; trial < 50; ++trial) {
    absl::StatusOr<SplitMessage> split = SplitBytesField(Pieces(wire, random), 5);
    ASSERT_TRUE(split.ok()) << split.status();
    EXPECT_EQ(split->field_bytes, data.size());
    EXPECT_EQ(Joined(split->field), data);
    v1::UploadRequest rest;
    ASSERT_TRUE(rest.ParseFromString(split->rest));
    v1::UploadRequest expected = Request("");
    EXPECT_EQ(rest.SerializeAsString(), expected.SerializeAsString());
  }
}

TEST(SplitBytesField, AMessageWithoutThePayloadIsAllRest) {
  const std::string wire = Request("").SerializeAsString();
  absl::StatusOr<SplitMessage> split = SplitBytesField({{wire.data(), wire.size()}}, 5);
  ASSERT_TRUE(split.ok());
  EXPECT_EQ(split->field_bytes, 0u);
  EXPECT_TRUE(split->field.empty());
  EXPECT_EQ(split->rest, wire);
}

TEST(BytesFieldPrefix, AppendedToAHeaderMakesTheWholeMessage) {
  const std::string data(300, 'y');  // a two-byte length
  const std::string wire =
      Request("").SerializeAsString() + BytesFieldPrefix(5, data.size()) + data;
  v1::UploadRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.data(), data);
  EXPECT_EQ(parsed.buffer_id(), 300u);
}

TEST(SplitBytesField, RejectsTruncatedAndRepeatedPayloads) {
  const std::string wire = Request(std::string(100, 'z')).SerializeAsString();
  const std::string truncated = wire.substr(0, wire.size() - 30);
  absl::StatusOr<SplitMessage> split = SplitBytesField({{truncated.data(), truncated.size()}}, 5);
  EXPECT_EQ(split.status().code(), absl::StatusCode::kInvalidArgument);

  const std::string twice = wire + BytesFieldPrefix(5, 2) + "ab";
  split = SplitBytesField({{twice.data(), twice.size()}}, 5);
  EXPECT_EQ(split.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(split.status().message(), HasSubstr("more than once"));

  const std::string group = "\x0b";  // field 1, start group
  split = SplitBytesField({{group.data(), group.size()}}, 5);
  EXPECT_THAT(split.status().message(), HasSubstr("wire type 3"));
}

}  // namespace
}  // namespace ferry::core
