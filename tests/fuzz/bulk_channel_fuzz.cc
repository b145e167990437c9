// Fuzz target: what a client sends on ferryd's bulk channel (proto/ferry/v1/ferry.proto,
// "Bulk channel"), over a real loopback TCP connection to a BulkChannelServer serving a fresh
// session: the magic, a hello, then requests (uploads with their raw bytes, downloads,
// releases, queries, uploads for a pipeline step) and raw bytes anywhere. Properties: the
// daemon's answers are whole frames (a length, a BulkResponse that parses, a download's
// bytes) whose codes are OK or a client's error (PERMISSION_DENIED too, for the hello),
// never INTERNAL or UNKNOWN; it closes the
// connection once the client has finished sending, within 5 s (no hang); it keeps serving
// the next connection; once the session closes, every byte its uploads took is back with
// the backend. (No PeerLinks: peer hellos and fetches are refused at once.)
//
// An input is records, each: a kind byte (0: a message, sent after its 4-byte length; else
// raw bytes, sent as they are), a 4-byte little-endian length, the bytes. The first message
// is the BulkHello, its session_id "S" and ticket "T" replaced by the session's own; the
// messages after it are BulkRequests.

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/stream_socket.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/bulk_channel.h"
#include "server/session_manager.h"
#include "tests/fuzz/bulk_records.h"
#include "tests/fuzz/daemon_state.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_mutator.h"

namespace ferry::fuzz {
namespace {

constexpr int kAnswerTimeoutSeconds = 5;

// What goes on the wire: the magic, then each record, the hello's placeholders filled in.
std::string WireBytes(const std::vector<Record>& records, const server::Session& session) {
  std::string wire(core::kBulkMagic, sizeof(core::kBulkMagic));
  bool hello_sent = false;
  for (const Record& record : records) {
    std::string bytes = record.bytes;
    v1::BulkHello hello;
    if (IsMessage(record) && !hello_sent && hello.ParseFromString(bytes)) {
      if (hello.session_id() == "S") hello.set_session_id(session.id());
      if (hello.ticket() == "T") hello.set_ticket(session.bulk_ticket());
      bytes = hello.SerializeAsString();
    }
    hello_sent = hello_sent || IsMessage(record);
    AppendToWire(record, bytes, wire);
  }
  return wire;
}

// Everything the daemon sent until it closed the connection; `reset`: it ended in an error
// (a reset) rather than at the end of the stream.
std::string ReceiveUntilClosed(int fd, bool* reset) {
  std::string received;
  char buffer[1 << 16];
  while (true) {
    const ssize_t got = recv(fd, buffer, sizeof(buffer), 0);
    if (got > 0) {
      received.append(buffer, static_cast<size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    Check(!(got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)),
          absl::StrCat("the daemon neither answered nor closed within ", kAnswerTimeoutSeconds,
                       " s"));
    *reset = got < 0;
    return received;
  }
}

// The answers are whole frames of BulkResponses with client errors only; a download's bytes
// follow its OK answer.
void CheckAnswers(const std::string& received, bool reset) {
  size_t at = 0;
  int answer = 0;
  while (at < received.size()) {
    uint32_t length = 0;
    if (received.size() - at < 4) break;
    std::memcpy(&length, received.data() + at, 4);
    Check(length <= core::kMaxBulkMessageBytes, absl::StrCat("answer ", answer, " is too long"));
    if (received.size() - at - 4 < length) break;
    v1::BulkResponse response;
    Check(response.ParseFromArray(received.data() + at + 4, static_cast<int>(length)),
          absl::StrCat("answer ", answer, " does not parse"));
    at += 4 + length;
    const absl::Status status(static_cast<absl::StatusCode>(response.code()), response.message());
    // The hello's answer may also refuse a wrong ticket.
    if (answer > 0 || status.code() != absl::StatusCode::kPermissionDenied) {
      CheckClientError(status, absl::StrCat("answer ", answer));
    }
    if (status.ok() && response.has_download()) {
      const v1::DownloadResponse& download = response.download();
      Check(download.offset() <= download.total_bytes(),
            absl::StrCat("answer ", answer, ": a download from past its end"));
      const uint64_t bytes = download.total_bytes() - download.offset();
      if (received.size() - at < bytes) {
        at = received.size() + 1;  // short
        break;
      }
      at += bytes;
    }
    ++answer;
  }
  Check(at == received.size() || reset,
        absl::StrCat("the daemon's answers end inside a frame, after answer ", answer));
}

// One BulkChannelServer for the process, on the fuzz daemon's sessions and backend.
server::BulkChannelServer& Channel() {
  static server::BulkChannelServer* channel = [] {
    absl::StatusOr<std::unique_ptr<server::BulkChannelServer>> started =
        server::BulkChannelServer::Start("127.0.0.1:0", Daemon().sessions, *Daemon().backend);
    Check(started.ok(), absl::StrCat("the bulk channel starts: ", started.status().ToString()));
    return started->release();
  }();
  return *channel;
}

v1::BulkRequest UploadOf(uint64_t buffer_id, v1::DType dtype, std::vector<int64_t> shape,
                         uint64_t total_bytes) {
  v1::BulkRequest request;
  v1::UploadRequest* upload = request.mutable_upload();
  upload->set_buffer_id(buffer_id);
  upload->mutable_spec()->set_dtype(dtype);
  for (int64_t dim : shape) upload->mutable_spec()->add_shape(dim);
  upload->set_total_bytes(total_bytes);
  return request;
}

v1::BulkRequest DownloadOf(uint64_t buffer_id, uint64_t offset) {
  v1::BulkRequest request;
  request.mutable_download()->set_buffer_id(buffer_id);
  request.mutable_download()->set_offset(offset);
  return request;
}

}  // namespace

// Sessions as the client uses the channel: an upload, downloads of it whole and from an
// offset; uploads for a pipeline step and queries; a release with an upload; a download of
// no buffer; a wrong ticket; a peer's hello and a fetch (refused here); an upload whose
// bytes end short.
std::vector<std::string> Seeds() {
  v1::BulkHello hello;
  hello.set_session_id("S");
  hello.set_ticket("T");
  std::vector<std::string> seeds;
  seeds.push_back(
      JoinRecords({MessageRecord(hello), MessageRecord(UploadOf(1, v1::FLOAT32, {2, 3}, 24)),
                   RawRecord(std::string(24, '\x01')), MessageRecord(DownloadOf(1, 0)),
                   MessageRecord(DownloadOf(1, 8))}));

  v1::BulkRequest for_step = UploadOf(2, v1::INT32, {4}, 16);
  for_step.set_for_pipeline(true);
  v1::BulkRequest resume_query = UploadOf(3, v1::INT32, {4}, 16);
  resume_query.mutable_upload()->set_resume_query(true);
  v1::BulkRequest cache_query = UploadOf(4, v1::UINT8, {16}, 16);
  cache_query.mutable_upload()->set_cache_query(true);
  cache_query.mutable_upload()->set_content_digest(std::string(32, '\x07'));
  seeds.push_back(JoinRecords({MessageRecord(hello), MessageRecord(for_step),
                               RawRecord(std::string(16, '\x02')), MessageRecord(resume_query),
                               MessageRecord(cache_query)}));

  v1::BulkRequest releasing = UploadOf(6, v1::BOOL, {3}, 3);
  releasing.add_release_buffer_ids(5);
  seeds.push_back(
      JoinRecords({MessageRecord(hello), MessageRecord(UploadOf(5, v1::FLOAT16, {2}, 4)),
                   RawRecord(std::string(4, '\x03')), MessageRecord(releasing),
                   RawRecord(std::string("\x00\x01\x01", 3)), MessageRecord(DownloadOf(5, 0)),
                   MessageRecord(DownloadOf(6, 3))}));

  v1::BulkHello wrong = hello;
  wrong.set_ticket("0123456789abcdef");
  seeds.push_back(JoinRecords({MessageRecord(wrong), MessageRecord(DownloadOf(1, 0))}));

  v1::BulkHello peer;
  peer.mutable_peer()->set_to_rank(1);
  seeds.push_back(JoinRecords({MessageRecord(peer)}));
  v1::BulkHello fetch;
  fetch.mutable_fetch()->set_session_id("S");
  fetch.mutable_fetch()->set_ticket(std::string(16, '\x09'));
  seeds.push_back(JoinRecords({MessageRecord(fetch)}));

  seeds.push_back(
      JoinRecords({MessageRecord(hello), MessageRecord(UploadOf(7, v1::FLOAT64, {8}, 64)),
                   RawRecord(std::string(40, '\x04'))}));
  return seeds;
}

}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;  // NOLINT: the entry point lies outside ferry's namespace
  fuzz::DaemonState& daemon = fuzz::Daemon();
  const int port = fuzz::Channel().port();
  std::string session_id, wire;
  {
    server::SessionRef session = *daemon.sessions.Open("fuzz");
    session_id = session->id();
    wire = fuzz::WireBytes(fuzz::SplitBulkRecords(data, size), *session);
  }
  absl::StatusOr<int> fd = core::ConnectTcp("127.0.0.1", std::to_string(port), absl::Seconds(10));
  fuzz::Check(fd.ok(),
              absl::StrCat("the bulk channel takes a connection: ", fd.status().ToString()));
  timeval timeout{fuzz::kAnswerTimeoutSeconds, 0};
  setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  // Sent from another thread, so the daemon's answers (a download's bytes) never wait on it.
  std::thread sender([&wire, fd = *fd] {
    core::SendAll(fd, wire.data(), wire.size()).IgnoreError();  // it may close first
    shutdown(fd, SHUT_WR);
  });
  bool reset = false;
  const std::string received = fuzz::ReceiveUntilClosed(*fd, &reset);
  sender.join();
  close(*fd);
  fuzz::CheckAnswers(received, reset);
  daemon.CloseAndCheckFreed(session_id);
  return 0;
}

// A message's fields changed (the hello's or a request's; tests/fuzz/message_mutator.h), a
// record repeated, dropped or moved, or a raw record cut or grown; bytes edited instead one
// time in eight.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  using namespace ferry;  // NOLINT
  std::mt19937_64 random(seed);
  return fuzz::MutateRecords(
      fuzz::SplitBulkRecords(data, size), random, data, size, max_size,
      [&random](std::vector<fuzz::Record>& records, size_t at) {
        fuzz::Record& record = records[at];
        if (random() % 6 == 0) {
          if (fuzz::IsMessage(record)) {
            record = fuzz::RawRecord(record.bytes);
          } else {
            record.bytes.resize(random() % (2 * record.bytes.size() + 8), '\x05');
          }
          return true;
        }
        // The first message is the hello; the others are requests.
        bool is_hello = fuzz::IsMessage(record);
        for (size_t i = 0; i < at && is_hello; ++i) is_hello = !fuzz::IsMessage(records[i]);
        std::unique_ptr<google::protobuf::Message> message;
        if (is_hello) {
          message = std::make_unique<v1::BulkHello>();
        } else {
          message = std::make_unique<v1::BulkRequest>();
        }
        if (!fuzz::IsMessage(record) || !message->ParseFromString(record.bytes)) return false;
        fuzz::MutateMessage(*message, {"S", "T"}, random);
        record.bytes = message->SerializeAsString();
        return true;
      });
}
