// Fuzz target: the client's side of the bulk channel (client/bulk_socket.h) against a daemon
// that answers anything: a fake daemon on loopback TCP accepts the client's connection, sends
// the input's bytes as its answers, reads what the client sends and closes. The client runs
// a fixed script: connect (the hello's answer), an upload, three queries at once, a download
// of 256 bytes and one of none. Properties: no crash or bad access (ASan in the libFuzzer
// build), every call returns once the daemon has closed, every error has a gRPC code and a
// message (so does a refused connection), a download reported OK filled all its bytes, and
// the queries give one answer each.
//
// An input is records, each: a kind byte (0: a BulkResponse, sent after its 4-byte length;
// else raw bytes, sent as they are), a 4-byte little-endian length, the bytes.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/bulk_socket.h"
#include "google/protobuf/stubs/logging.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "tests/fuzz/bulk_records.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_mutator.h"

namespace ferry::fuzz {
namespace {

constexpr size_t kDownloadBytes = 256;

// Protobuf logs every string field with invalid UTF-8 it parses; mutations make many.
const bool kProtobufQuiet = (google::protobuf::SetLogHandler(nullptr), true);

// The daemon's bytes: each message after its length, raw records as they are.
std::string WireBytes(const std::vector<Record>& records) {
  std::string wire;
  for (const Record& record : records) AppendToWire(record, record.bytes, wire);
  return wire;
}

// A listening socket on loopback for the fake daemon, made once.
int Listener(int* port) {
  static int fd = -1;
  static int bound_port = 0;
  if (fd < 0) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Check(
        bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 && listen(fd, 4) == 0,
        "the fake daemon listens");
    socklen_t length = sizeof(address);
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    bound_port = ntohs(address.sin_port);
  }
  *port = bound_port;
  return fd;
}

// Accepts one connection (waiting at most 5 s), sends `wire`, reads what comes until the
// client closes (at most 5 s), closes.
void ServeOnce(int listener, const std::string& wire) {
  pollfd ready{listener, POLLIN, 0};
  if (poll(&ready, 1, 5000) <= 0) return;  // the client never connected
  const int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  timeval timeout{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  size_t sent = 0;
  while (sent < wire.size()) {
    const ssize_t n = send(fd, wire.data() + sent, wire.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  shutdown(fd, SHUT_WR);
  char sink[4096];
  while (recv(fd, sink, sizeof(sink), 0) > 0) {
  }
  close(fd);
}

// An error the client reports says what happened: a gRPC code and a message.
void CheckExplained(const absl::Status& status, const std::string& call) {
  if (status.ok()) return;
  const int code = static_cast<int>(status.code());
  Check(code > 0 && code <= static_cast<int>(absl::StatusCode::kUnauthenticated) &&
            !status.message().empty(),
        absl::StrCat(call, " failed with ", status.ToString()));
}

v1::BulkResponse Ok() { return v1::BulkResponse(); }

v1::BulkResponse Refused(absl::StatusCode code, const std::string& message) {
  v1::BulkResponse response;
  response.set_code(static_cast<int>(code));
  response.set_message(message);
  return response;
}

v1::BulkResponse Held(uint64_t bytes) {
  v1::BulkResponse response;
  response.mutable_upload()->set_bytes_received(bytes);
  return response;
}

v1::BulkResponse DownloadOf(uint64_t total_bytes) {
  v1::BulkResponse response;
  response.mutable_download()->mutable_spec()->set_dtype(v1::UINT8);
  response.mutable_download()->mutable_spec()->add_shape(static_cast<int64_t>(total_bytes));
  response.mutable_download()->set_total_bytes(total_bytes);
  return response;
}

}  // namespace

// The answers a daemon gives the script: all well; refusals; a download of the wrong size;
// a hello refused.
std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  const Record bytes = RawRecord(std::string(kDownloadBytes, '\x07'));
  seeds.push_back(JoinRecords({MessageRecord(Ok()), MessageRecord(Ok()), MessageRecord(Held(0)),
                               MessageRecord(Held(64)), MessageRecord(Held(8)),
                               MessageRecord(DownloadOf(kDownloadBytes)), bytes,
                               MessageRecord(DownloadOf(0))}));
  seeds.push_back(JoinRecords(
      {MessageRecord(Ok()), MessageRecord(Refused(absl::StatusCode::kResourceExhausted, "full")),
       MessageRecord(Refused(absl::StatusCode::kNotFound, "no")), MessageRecord(Held(1)),
       MessageRecord(Refused(absl::StatusCode::kInvalidArgument, "bad")),
       MessageRecord(Refused(absl::StatusCode::kNotFound, "buffer 2")),
       MessageRecord(DownloadOf(0))}));
  seeds.push_back(JoinRecords({MessageRecord(Ok()), MessageRecord(Ok()), MessageRecord(Held(0)),
                               MessageRecord(Held(0)), MessageRecord(Held(0)),
                               MessageRecord(DownloadOf(kDownloadBytes + 1)), bytes}));
  seeds.push_back(
      JoinRecords({MessageRecord(Refused(absl::StatusCode::kPermissionDenied, "wrong ticket"))}));
  return seeds;
}

}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;  // NOLINT: the entry point lies outside ferry's namespace
  int port = 0;
  const int listener = fuzz::Listener(&port);
  const std::string wire = fuzz::WireBytes(fuzz::SplitBulkRecords(data, size));
  std::thread daemon([listener, &wire] { fuzz::ServeOnce(listener, wire); });
  v1::BulkChannel channel;
  channel.set_port(static_cast<uint32_t>(port));
  channel.set_ticket(std::string(16, '\x01'));
  std::string why;
  std::unique_ptr<detail::BulkSocket> socket =
      detail::BulkSocket::Connect("127.0.0.1:1", "", channel, "fuzz", std::chrono::seconds(5),
                                  std::chrono::seconds(30), nullptr, &why);
  if (socket == nullptr) {
    fuzz::Check(!why.empty(), "a refused connection says why");
    daemon.join();
    return 0;
  }
  v1::UploadRequest upload;
  upload.set_buffer_id(1);
  upload.mutable_spec()->set_dtype(v1::FLOAT32);
  upload.mutable_spec()->add_shape(16);
  upload.set_total_bytes(64);
  const std::string upload_bytes(64, '\x02');
  fuzz::CheckExplained(socket->Upload(upload, upload_bytes.data(), {}, false), "the upload");

  std::vector<v1::UploadRequest> queries(3, upload);
  queries[0].set_resume_query(true);
  queries[1].set_cache_query(true);
  queries[2].set_resume_query(true);
  const std::vector<absl::StatusOr<uint64_t>> held = socket->HeldBytes(queries);
  fuzz::Check(held.size() == queries.size(), "one answer a query");
  for (const absl::StatusOr<uint64_t>& answer : held) {
    fuzz::CheckExplained(answer.status(), "a query");
  }

  std::vector<char> downloaded(fuzz::kDownloadBytes);
  size_t done = 0;
  const absl::Status got = socket->Download(2, downloaded.data(), downloaded.size(), &done);
  fuzz::CheckExplained(got, "the download");
  fuzz::Check(done <= downloaded.size(), "a download counts no more than its bytes");
  fuzz::Check(
      !got.ok() || done == downloaded.size(),
      absl::StrCat("a download reported OK with ", done, " of ", downloaded.size(), " bytes"));
  size_t none = 0;
  socket->Download(3, nullptr, 0, &none).IgnoreError();
  fuzz::Check(none == 0, "an empty download counts no bytes");
  socket->broken();
  socket.reset();  // closes: the fake daemon's read ends
  daemon.join();
  return 0;
}

// A response's fields changed (tests/fuzz/message_mutator.h), a record repeated, dropped or
// moved, or a raw record cut or grown; bytes edited instead one time in eight.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  using namespace ferry;  // NOLINT
  std::mt19937_64 random(seed);
  return fuzz::MutateRecords(
      fuzz::SplitBulkRecords(data, size), random, data, size, max_size,
      [&random](std::vector<fuzz::Record>& records, size_t at) {
        fuzz::Record& record = records[at];
        if (random() % 6 == 0) {
          record.bytes.resize(random() % (2 * record.bytes.size() + 8), '\x05');
          return true;
        }
        v1::BulkResponse response;
        if (!fuzz::IsMessage(record) || !response.ParseFromString(record.bytes)) return false;
        fuzz::MutateMessage(response, {}, random);
        record.bytes = response.SerializeAsString();
        return true;
      });
}
