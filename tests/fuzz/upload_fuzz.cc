// Fuzz target: Upload streams as a client sends them, each message's serialized bytes in
// the pieces gRPC may hand over, received by ferryd's own UploadReceiver, which reads the
// data field straight out of those pieces (core/bytes_field.h) rather than through a parsed
// copy. Streams end whole or short (a short one is kept for a resume, which later streams
// may ask about or continue). Properties: every refusal is a client's error, never INTERNAL
// or UNKNOWN, with no crash; once the session closes, every byte the uploads took (resident
// or kept for a resume) is back with the backend.
//
// An input is messages, each: a flags byte (bit 0: the stream ends after it; bit 1: it ends
// without Finish, as a broken connection), a byte saying where to cut the message into two
// pieces (that fraction of its length, over 255), a 4-byte little-endian length, the
// serialized UploadRequest. A message whose session_id is "S" gets the session's id.

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/bytes_field.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/session_manager.h"
#include "server/upload.h"
#include "tests/fuzz/daemon_state.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_mutator.h"

namespace ferry::fuzz {
namespace {

constexpr size_t kMaxMessages = 32;

struct Message {
  uint8_t flags = 0;
  uint8_t cut = 0;
  std::string bytes;
};
constexpr uint8_t kEndsStream = 1;
constexpr uint8_t kBreaks = 2;

std::vector<Message> Decode(const uint8_t* data, size_t size) {
  std::vector<Message> messages;
  for (Record& record : SplitRecords(data, size, 2, kMaxMessages)) {
    messages.push_back({static_cast<uint8_t>(record.header[0]),
                        static_cast<uint8_t>(record.header[1]), std::move(record.bytes)});
  }
  return messages;
}

std::string Encode(const std::vector<Message>& messages) {
  std::vector<Record> records;
  for (const Message& message : messages) {
    records.push_back(
        {{static_cast<char>(message.flags), static_cast<char>(message.cut)}, message.bytes});
  }
  return JoinRecords(records);
}

// The session placeholder "S" replaced by `session_id` where the bytes parse.
std::string WithSession(const std::string& bytes, const std::string& session_id) {
  v1::UploadRequest request;
  if (!request.ParseFromString(bytes) || request.session_id() != "S") return bytes;
  request.set_session_id(session_id);
  return request.SerializeAsString();
}

v1::UploadRequest First(uint64_t buffer_id, v1::DType dtype, std::vector<int64_t> shape,
                        uint64_t total_bytes) {
  v1::UploadRequest first;
  first.set_session_id("S");
  first.set_buffer_id(buffer_id);
  first.mutable_spec()->set_dtype(dtype);
  for (int64_t dim : shape) first.mutable_spec()->add_shape(dim);
  first.set_total_bytes(total_bytes);
  return first;
}

}  // namespace

// Uploads as the client sends them: whole in one message, in chunks, a stream that breaks
// and is resumed (after asking how much is kept), a bool buffer, an empty one.
std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  auto message = [](const v1::UploadRequest& request, uint8_t flags, uint8_t cut = 128) {
    return Message{flags, cut, request.SerializeAsString()};
  };
  v1::UploadRequest whole = First(1, v1::FLOAT32, {2, 3}, 24);
  whole.set_data(std::string(24, '\x01'));
  seeds.push_back(Encode({message(whole, kEndsStream)}));

  v1::UploadRequest first = First(2, v1::INT32, {8}, 32);
  first.set_data(std::string(12, '\x02'));
  v1::UploadRequest chunk;
  chunk.set_data(std::string(12, '\x03'));
  v1::UploadRequest last;
  last.set_data(std::string(8, '\x04'));
  seeds.push_back(Encode({message(first, 0), message(chunk, 0, 3), message(last, kEndsStream)}));

  v1::UploadRequest query = First(2, v1::INT32, {8}, 32);
  query.set_resume_query(true);
  v1::UploadRequest resume = First(2, v1::INT32, {8}, 32);
  resume.set_resume_offset(24);
  resume.set_data(std::string(8, '\x05'));
  seeds.push_back(Encode({message(first, 0), message(chunk, kEndsStream | kBreaks),
                          message(query, kEndsStream), message(resume, kEndsStream)}));

  v1::UploadRequest bools = First(3, v1::BOOL, {4}, 4);
  bools.set_data(std::string("\x00\x01\x01\x00", 4));
  v1::UploadRequest empty = First(4, v1::FLOAT16, {0, 5}, 0);
  seeds.push_back(Encode({message(bools, kEndsStream), message(empty, kEndsStream)}));
  return seeds;
}

}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;  // NOLINT: the entry point lies outside ferry's namespace
  fuzz::DaemonState& daemon = fuzz::Daemon();
  const std::vector<fuzz::Message> messages = fuzz::Decode(data, size);
  std::string session_id;
  {
    server::SessionRef session = *daemon.sessions.Open("fuzz");
    session_id = session->id();
  }
  size_t next = 0;
  while (next < messages.size()) {
    server::UploadReceiver receiver(daemon.sessions, *daemon.backend);
    bool failed = false;
    const fuzz::Message* message = nullptr;
    for (; next < messages.size(); ++next) {
      message = &messages[next];
      if (failed) {  // after an error the stream is over: skip to its end
        if (message->flags & fuzz::kEndsStream) break;
        continue;
      }
      const std::string bytes = fuzz::WithSession(message->bytes, session_id);
      const size_t cut = bytes.size() * message->cut / 255;
      const core::ByteSpan pieces[] = {{bytes.data(), cut},
                                       {bytes.data() + cut, bytes.size() - cut}};
      absl::Status received = receiver.Receive(pieces);
      if (!received.ok()) {
        fuzz::CheckClientError(received, absl::StrCat("message ", next));
        failed = true;
      }
      if (message->flags & fuzz::kEndsStream) break;
    }
    ++next;
    if (failed || message == nullptr) continue;
    if (message->flags & fuzz::kBreaks) {
      receiver.KeepForResume();
      continue;
    }
    absl::StatusOr<v1::UploadResponse> answer = receiver.Finish();
    fuzz::CheckClientError(answer.status(), "finishing the upload");
  }
  daemon.CloseAndCheckFreed(session_id);
  return 0;
}

// A message's fields changed (tests/fuzz/message_mutator.h), its flags or cut changed, or a
// message repeated, dropped or moved; bytes edited instead one time in eight.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  using namespace ferry;  // NOLINT
  std::mt19937_64 random(seed);
  std::vector<fuzz::Message> messages = fuzz::Decode(data, size);
  if (random() % 8 == 0 || messages.empty()) return LLVMFuzzerMutate(data, size, max_size);
  const size_t at = random() % messages.size();
  switch (random() % 8) {
    case 0:
    case 1:
    case 2:
      fuzz::RepeatDropOrSwap(messages, random);
      break;
    case 3:
      messages[at].flags = static_cast<uint8_t>(random() % 4);
      messages[at].cut = static_cast<uint8_t>(random());
      break;
    default: {
      v1::UploadRequest request;
      if (!request.ParseFromString(messages[at].bytes)) {
        return LLVMFuzzerMutate(data, size, max_size);
      }
      fuzz::MutateMessage(request, {"S"}, random);
      messages[at].bytes = request.SerializeAsString();
      break;
    }
  }
  return fuzz::WriteMutation(fuzz::Encode(messages), data, size, max_size);
}
