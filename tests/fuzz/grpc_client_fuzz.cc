// Fuzz target: the client's side of the gRPC protocol (client/remote_*.cc, pipeline.cc)
// against a daemon that answers anything. A fake ferryd, a generic gRPC service on loopback,
// answers each call with the input's replies for that method, then the input's status. The
// client runs a fixed program: connect, eval a small graph and read its result (inline),
// upload an array large enough to stream and read a result of it that stays resident (a
// Download), memory_info (a sync and GetInfo), info, and close, under a Profiler whose table
// and trace it then writes. Properties: no crash or bad access (ASan in the libFuzzer
// build), the program ends within 8 s, and every failure is a ferry::Error with a gRPC code
// and a message.
//
// An input is records (fuzz_target.h) whose 2-byte header names the method (an index into
// kMethods) and what the bytes are: kReply, one reply (a serialized response of the
// method's type, or any bytes); else the call's end, whose status code is the byte % 17 and
// whose message is the bytes. Each call takes its method's next records through an end (a
// call that is not a stream of replies answers only the first reply); a method with none
// left ends with UNIMPLEMENTED.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ferry.h"
#include "client/known_graphs.h"
#include "google/protobuf/stubs/logging.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_mutator.h"

namespace ferry::fuzz {
namespace {

constexpr size_t kMaxRecords = 48;
constexpr uint8_t kReply = 0xFF;
// How long the fake waits for the client's next message before a reply (one reply a
// message it sent, as a daemon answers), and for the client to close its side before the
// end: the client may be waiting for that very reply.
constexpr std::chrono::milliseconds kPatience{20};
constexpr std::chrono::seconds kProgramPatience{8};

// Protobuf logs every string field with invalid UTF-8 it parses; mutations make many.
const bool kProtobufQuiet = (google::protobuf::SetLogHandler(nullptr), true);

struct Method {
  const char* path;
  const google::protobuf::Message* reply;  // the reply's type
  // Whether the call may answer more than one reply. gRPC's C++ client (1.51) waits for
  // ever on a unary call answered with two messages, whatever the client library does.
  bool streams_replies = false;
};

enum MethodIndex {
  kOpenSession,
  kCloseSession,
  kUpload,
  kDownload,
  kExecute,
  kRelease,
  kGetInfo,
  kPipeline
};

const Method kMethods[] = {
    {"/ferry.v1.Ferry/OpenSession", &v1::OpenSessionResponse::default_instance()},
    {"/ferry.v1.Ferry/CloseSession", &v1::CloseSessionResponse::default_instance()},
    {"/ferry.v1.Ferry/Upload", &v1::UploadResponse::default_instance()},
    {"/ferry.v1.Ferry/Download", &v1::DownloadResponse::default_instance(), true},
    {"/ferry.v1.Ferry/Execute", &v1::ExecuteResponse::default_instance()},
    {"/ferry.v1.Ferry/Release", &v1::ReleaseResponse::default_instance()},
    {"/ferry.v1.Ferry/GetInfo", &v1::GetInfoResponse::default_instance()},
    {"/ferry.v1.Ferry/Pipeline", &v1::PipelineResponse::default_instance(), true},
};
constexpr size_t kMethodCount = sizeof(kMethods) / sizeof(kMethods[0]);

const bool kTrace = std::getenv("FERRY_FUZZ_TRACE") != nullptr;

size_t MethodOf(const Record& record) {
  return static_cast<uint8_t>(record.header[0]) % kMethodCount;
}
bool IsReply(const Record& record) { return static_cast<uint8_t>(record.header[1]) == kReply; }

Record Reply(MethodIndex method, const google::protobuf::Message& message) {
  return {{static_cast<char>(method), static_cast<char>(kReply)}, message.SerializeAsString()};
}
Record End(MethodIndex method, grpc::StatusCode code = grpc::StatusCode::OK,
           std::string message = "") {
  return {{static_cast<char>(method), static_cast<char>(code)}, std::move(message)};
}

// What one call answers: its replies, then its status.
struct Answer {
  std::vector<std::string> replies;
  grpc::Status end;
};

// The input's records, by method; each call takes the next answer of its method.
class Script {
 public:
  void Reset(const std::vector<Record>& records) {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::deque<Record>& queue : queues_) queue.clear();
    for (const Record& record : records) queues_[MethodOf(record)].push_back(record);
  }

  Answer Next(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t m = 0; m < kMethodCount; ++m) {
      if (path != kMethods[m].path) continue;
      Answer answer{{},
                    grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                 absl::StrCat("the fake daemon has no more answers to ", path))};
      std::deque<Record>& queue = queues_[m];
      while (!queue.empty()) {
        Record record = std::move(queue.front());
        queue.pop_front();
        if (IsReply(record)) {
          if (answer.replies.empty() || kMethods[m].streams_replies) {
            answer.replies.push_back(std::move(record.bytes));
          }
          continue;
        }
        // A status message is text: what() would end at a NUL.
        std::replace(record.bytes.begin(), record.bytes.end(), '\0', '?');
        answer.end =
            grpc::Status(static_cast<grpc::StatusCode>(static_cast<uint8_t>(record.header[1]) % 17),
                         record.bytes);
        break;
      }
      return answer;
    }
    return {{}, grpc::Status(grpc::StatusCode::UNIMPLEMENTED, path)};
  }

 private:
  std::mutex mu_;
  std::deque<Record> queues_[kMethodCount];
};

Script& TheScript() {
  static auto* script = new Script;
  return *script;
}

// One call to the fake daemon: a thread of its own writes the answer's replies, each after
// a message of the client's (or kPatience without one), then ends the call once the client
// has closed its side (or after kPatience). Every call is a bidi stream to a generic service;
// the client's stubs see their own kind of call.
class ScriptedCall : public grpc::ServerGenericBidiReactor {
 public:
  explicit ScriptedCall(const std::string& path) : path_(path), answer_(TheScript().Next(path)) {
    StartRead(&request_);
    thread_ = std::thread([this] { Run(); });
  }

  void OnReadDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (ok && kTrace) Trace();
    if (ok && path_ == kMethods[kUpload].path) CheckUpload(requests_ == 0);
    if (ok) ++requests_;
    if (ok && !finished_) {
      ++unanswered_;
      StartRead(&request_);
    } else {
      closed_ = true;
    }
    changed_.notify_all();
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    write_failed_ = write_failed_ || !ok;
    changed_.notify_all();
  }

  void OnDone() override {
    // Finish may run OnDone on the writing thread itself.
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
    delete this;
  }

 private:
  void Run() {
    if (kTrace) {
      std::fprintf(stderr, "fake daemon: %s answers %zu replies (%zu bytes first), then %d %s\n",
                   path_.c_str(), answer_.replies.size(),
                   answer_.replies.empty() ? 0 : answer_.replies[0].size(),
                   static_cast<int>(answer_.end.error_code()), answer_.end.error_message().c_str());
    }
    for (const std::string& reply : answer_.replies) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait_for(lock, kPatience, [&] { return unanswered_ > 0 || closed_; });
        if (unanswered_ > 0) --unanswered_;
        writing_ = true;
      }
      grpc::Slice slice(reply);
      reply_ = grpc::ByteBuffer(&slice, 1);
      StartWrite(&reply_);
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] { return !writing_; });
      if (write_failed_) break;
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait_for(lock, kPatience, [&] { return closed_; });
      finished_ = true;
    }
    Finish(answer_.end);  // nothing of this object is used after: OnDone may delete it
  }

  std::string RequestBytes() {
    std::vector<grpc::Slice> slices;
    request_.Dump(&slices).IgnoreError();
    std::string bytes;
    for (const grpc::Slice& slice : slices) {
      bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    return bytes;
  }

  // An upload never goes on past the array's end, whatever the daemon said it holds, and
  // each message after the first moves it on, whatever limits the daemon gave. Caller holds
  // mu_.
  void CheckUpload(bool first) {
    v1::UploadRequest upload;
    if (!upload.ParseFromString(RequestBytes())) return;
    if (!first) return Check(!upload.data().empty(), "an upload's message carries bytes");
    Check(upload.resume_offset() + upload.data().size() <= upload.total_bytes(),
          absl::StrCat("an upload of ", upload.total_bytes(), " bytes sent ", upload.data().size(),
                       " from ", upload.resume_offset()));
  }

  // FERRY_FUZZ_TRACE=1: what the client sent, to write seeds by. Caller holds mu_.
  void Trace() {
    const std::string bytes = RequestBytes();
    v1::PipelineRequest step;
    const bool is_step = path_ == kMethods[kPipeline].path && step.ParseFromString(bytes);
    std::fprintf(stderr, "fake daemon: %s, %zu bytes %s\n", path_.c_str(), bytes.size(),
                 is_step ? step.ShortDebugString().substr(0, 200).c_str() : "");
  }

  const std::string path_;
  const Answer answer_;
  std::thread thread_;
  grpc::ByteBuffer request_, reply_;
  std::mutex mu_;
  std::condition_variable changed_;
  int requests_ = 0, unanswered_ = 0;
  bool closed_ = false, writing_ = false, write_failed_ = false, finished_ = false;
};

class FakeDaemon : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    return new ScriptedCall(context->method());
  }
};

// The fake daemon's address, started once.
const std::string& FakeDaemonAddress() {
  static const std::string* address = [] {
    static auto* service = new FakeDaemon;
    int port = 0;
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterCallbackGenericService(service);
    builder.SetMaxReceiveMessageSize(-1);  // as ferryd: an upload's chunk may be 4 MiB
    // Never destroyed, as the address: the process may end with a call in flight.
    static grpc::Server* server = builder.BuildAndStart().release();
    Check(server != nullptr && port > 0, "the fake daemon listens");
    return new std::string(absl::StrCat("127.0.0.1:", port));
  }();
  return *address;
}

// Runs one step of the program: it succeeds, or fails with a ferry::Error that has a gRPC
// code and a message; anything else thrown stops the process.
void Step(const char* what, const std::function<void()>& step) {
  try {
    step();
    if (kTrace) std::fprintf(stderr, "client: %s: ok\n", what);
  } catch (const Error& error) {
    if (kTrace) std::fprintf(stderr, "client: %s: %s\n", what, error.what());
    const int code = static_cast<int>(error.code());
    Check(code > 0 && code <= static_cast<int>(ErrorCode::kUnauthenticated) &&
              std::string(error.what()) != "",
          absl::StrCat(what, " failed with code ", code, ": ", error.what()));
  }
}

constexpr int64_t kSmall = 16;           // inline in the execute, its result inline too
constexpr int64_t kRows = 200;           // 200 x 100 float32: 80 000 bytes, uploaded on
constexpr int64_t kColumns = 100;        // its own (over 64 KiB); its row sums stay
constexpr int64_t kResidentBytes = 800;  // resident (over the seeds' 64-byte inline limit)

void RunProgram(const std::string& address) {
  ConnectOptions options;
  options.timeout = std::chrono::seconds(2);
  options.client_name = "grpc_client_fuzz";
  options.bulk_channel = false;  // the bulk channel's client has a target of its own
  // Each eval asks for the daemon's profile, and its account (and errors) go into a trace.
  Profiler profiler;
  std::optional<Device> device;
  Step("connect", [&] { device = connect(address, options); });
  if (!device.has_value()) return;
  {
    std::optional<Array> small, large;
    Step("small array",
         [&] { small = from_host(std::vector<float>(kSmall, 1.5f), {kSmall}, *device); });
    Step("large array", [&] {
      large = from_host(std::vector<float>(kRows * kColumns, 0.25f), {kRows, kColumns}, *device);
    });
    Step("an inline result", [&] {
      Array plus_one = *small + 1.0f;
      plus_one.eval();
      Check(plus_one.to_vector<float>().size() == kSmall, "a read gives every element");
    });
    if (large.has_value()) {
      Step("a resident result", [&] {
        Array rows = sum(*large, 1);
        rows.eval();
        Check(rows.to_vector<float>().size() == kRows, "a read gives every element");
      });
    }
    Step("memory_info", [&] { memory_info(*device); });
    Step("info", [&] { device->info(); });
  }
  Step("close", [&] { device.reset(); });
  Step("profile", [&] {
    profiler.stop();
    profiler.table();
    profiler.chrome_trace();
  });
}

v1::OpenSessionResponse Opened(bool pipeline) {
  v1::OpenSessionResponse opened;
  opened.set_session_id("fuzz-session");
  opened.set_protocol_version(1);
  opened.mutable_device()->set_backend("cpu");
  opened.mutable_device()->set_name("fake");
  opened.mutable_limits()->set_chunk_bytes(1 << 20);
  opened.mutable_limits()->set_max_inline_bytes(64);
  opened.mutable_limits()->set_max_message_bytes(64 << 20);
  opened.mutable_limits()->set_pipeline_window(16);
  if (pipeline) opened.add_features("pipeline");
  opened.add_features("resumable_transfers");
  return opened;
}

v1::ExecuteResponse Executed(const std::string& data) {
  v1::ExecuteResponse executed;
  v1::OutputResult* output = executed.add_outputs();
  if (!data.empty()) {
    output->set_has_data(true);
    output->set_data(data);
  }
  return executed;
}

v1::DownloadResponse Downloaded(uint64_t offset, const std::string& data) {
  v1::DownloadResponse downloaded;
  downloaded.mutable_spec()->set_dtype(v1::FLOAT32);
  downloaded.mutable_spec()->add_shape(kRows);
  downloaded.set_total_bytes(kResidentBytes);
  downloaded.set_offset(offset);
  downloaded.set_data(data);
  return downloaded;
}

v1::PipelineResponse Answered(uint64_t step, std::optional<v1::ExecuteResponse> executed = {}) {
  v1::PipelineResponse answered;
  answered.set_step_id(step);
  answered.set_completed_through(step);
  if (executed.has_value()) *answered.mutable_execute() = std::move(*executed);
  return answered;
}

v1::GetInfoResponse Info() {
  v1::GetInfoResponse info;
  info.set_session_resident_bytes(kResidentBytes);
  info.mutable_limits()->set_max_memory_bytes(1 << 30);
  return info;
}

}  // namespace

// The answers a daemon gives the program: all well with unary calls and with the pipeline;
// refusals; a download cut short and one of too many bytes; an upload resumed.
std::vector<std::string> Seeds() {
  const std::string inline_bytes(kSmall * 4, '\x01');
  const std::string resident_bytes(kResidentBytes, '\x02');
  // Each method's records in the order its calls come; the methods' order does not matter.
  std::vector<Record> unary = {Reply(kOpenSession, Opened(false)),
                               End(kOpenSession),
                               Reply(kUpload, v1::UploadResponse()),
                               End(kUpload),
                               Reply(kExecute, Executed(inline_bytes)),
                               End(kExecute),
                               Reply(kExecute, Executed("")),
                               End(kExecute),
                               Reply(kDownload, Downloaded(0, resident_bytes.substr(0, 500))),
                               Reply(kDownload, Downloaded(500, resident_bytes.substr(500))),
                               End(kDownload),
                               Reply(kRelease, v1::ReleaseResponse()),
                               End(kRelease),
                               Reply(kGetInfo, Info()),
                               End(kGetInfo),
                               Reply(kCloseSession, v1::CloseSessionResponse()),
                               End(kCloseSession)};
  v1::PipelineResponse started;
  started.mutable_started();
  // One reply a step: the start, an execute, an upload, an execute, a release, a sync.
  std::vector<Record> pipelined = {Reply(kOpenSession, Opened(true)),
                                   End(kOpenSession),
                                   Reply(kPipeline, started),
                                   Reply(kPipeline, Answered(1, Executed(inline_bytes))),
                                   Reply(kPipeline, Answered(2)),
                                   Reply(kPipeline, Answered(3, Executed(""))),
                                   Reply(kPipeline, Answered(4)),
                                   Reply(kPipeline, Answered(5)),
                                   End(kPipeline),
                                   Reply(kDownload, Downloaded(0, resident_bytes)),
                                   End(kDownload),
                                   Reply(kGetInfo, Info()),
                                   End(kGetInfo),
                                   Reply(kCloseSession, v1::CloseSessionResponse()),
                                   End(kCloseSession)};
  std::vector<Record> refused = {
      Reply(kOpenSession, Opened(false)),
      End(kOpenSession),
      End(kUpload, grpc::StatusCode::RESOURCE_EXHAUSTED, "session memory: 80000 bytes over"),
      End(kExecute, grpc::StatusCode::INVALID_ARGUMENT, "[add] node 1: bad shapes"),
      End(kRelease, grpc::StatusCode::NOT_FOUND, "no session fuzz-session"),
      End(kGetInfo, grpc::StatusCode::UNAVAILABLE, "draining")};
  std::vector<Record> short_download = unary;
  short_download[9] = Reply(kDownload, Downloaded(500, resident_bytes.substr(500, 200)));
  // The upload's connection breaks half-way: the client asks how much arrived and sends the
  // rest.
  v1::UploadResponse half;
  half.set_bytes_received(kRows * kColumns * 2);
  std::vector<Record> resumed_upload = unary;
  resumed_upload[2] = End(kUpload, grpc::StatusCode::UNAVAILABLE, "connection reset");
  resumed_upload[3] = Reply(kUpload, half);
  resumed_upload.insert(resumed_upload.begin() + 4,
                        {End(kUpload), Reply(kUpload, v1::UploadResponse()), End(kUpload)});
  std::vector<Record> long_download = unary;
  long_download[9] = Reply(kDownload, Downloaded(500, resident_bytes));
  std::vector<std::string> seeds;
  for (const auto* records :
       {&unary, &pipelined, &refused, &short_download, &long_download, &resumed_upload}) {
    seeds.push_back(JoinRecords(*records));
  }
  return seeds;
}

}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;  // NOLINT: the entry point lies outside ferry's namespace
  const std::string& address = fuzz::FakeDaemonAddress();
  fuzz::TheScript().Reset(fuzz::SplitRecords(data, size, 2, fuzz::kMaxRecords));
  // Each input starts afresh: no graph known to the daemon from an earlier one.
  detail::KnownGraphs::ForDaemon(address)->Clear();
  const auto start = std::chrono::steady_clock::now();
  fuzz::RunProgram(address);
  // The fake answers every call at once (or within kPatience): nothing waits on it for long.
  fuzz::Check(std::chrono::steady_clock::now() - start < fuzz::kProgramPatience,
              "the program ends within 8 s");
  return 0;
}

// A reply's fields changed (tests/fuzz/message_mutator.h), a record repeated, dropped or
// moved, an end's code changed, or a reply cut or grown; bytes edited instead one time in
// eight.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  using namespace ferry;  // NOLINT
  std::mt19937_64 random(seed);
  return fuzz::MutateRecords(
      fuzz::SplitRecords(data, size, 2, fuzz::kMaxRecords), random, data, size, max_size,
      [&random](std::vector<fuzz::Record>& records, size_t at) {
        fuzz::Record& record = records[at];
        if (random() % 6 == 0) {
          if (fuzz::IsReply(record)) {
            record.bytes.resize(random() % (2 * record.bytes.size() + 8), '\x05');
          } else {
            record.header[1] = static_cast<char>(random() % 17);
          }
          return true;
        }
        if (!fuzz::IsReply(record)) return false;
        std::unique_ptr<google::protobuf::Message> reply(
            fuzz::kMethods[fuzz::MethodOf(record)].reply->New());
        if (!reply->ParseFromString(record.bytes)) return false;
        fuzz::MutateMessage(*reply, {"pipeline", "resumable_transfers", "bulk_tcp"}, random);
        record.bytes = reply->SerializeAsString();
        return true;
      });
}
