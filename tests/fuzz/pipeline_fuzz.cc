// Fuzz target: the steps of a Pipeline stream as a client sends them (uploads, executes by
// graph or by graph_id, reads, releases, offers, syncs), run against a fresh session by
// ferryd's own PipelineSteps on the CPU backend. Properties: every failure a step reports
// (its own, or a first failure handed out at a sync or read) is a client's error, never
// INTERNAL or UNKNOWN, with no crash; once the session closes, every byte its steps took is
// given back to the backend: nothing a client sends leaks memory on the daemon.
//
// An input is the steps, each a serialized PipelineRequest after its length (4 bytes,
// little-endian). Uploads on the bulk channel are left out: no bulk connection brings them.

#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "core/codec.h"
#include "core/fingerprint.h"
#include "core/graph.h"
#include "google/protobuf/stubs/logging.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/executor.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/graph_cache.h"
#include "server/log.h"
#include "server/pipeline.h"
#include "server/server_options.h"
#include "server/session_manager.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_mutator.h"
#include "tests/random_graphs.h"

namespace ferry::fuzz {
namespace {

constexpr size_t kMaxSteps = 48;
constexpr int kMaxNodes = 48;

// Quiet: protobuf logs strings of invalid UTF-8, ferryd each session it closes.
const bool kQuiet =
    (google::protobuf::SetLogHandler(nullptr), server::SetLogLevel(server::LogLevel::kError), true);

// One daemon's worth of state, as ferryd holds it, with a small memory budget.
struct Daemon {
  std::unique_ptr<kernels::Backend> backend = kernels::MakeCpuBackend(int64_t{64} << 20);
  kernels::Executor executor{*backend, 64};
  server::SessionManager sessions{absl::Hours(1)};
  server::GraphCache graphs{64};
  server::ServerOptions options;
};

Daemon& TheDaemon() {
  static Daemon* daemon = new Daemon;
  return *daemon;
}

std::vector<v1::PipelineRequest> Decode(const uint8_t* data, size_t size) {
  std::vector<v1::PipelineRequest> steps;
  size_t at = 0;
  while (size - at >= 4 && steps.size() < kMaxSteps) {
    uint32_t length = 0;
    std::memcpy(&length, data + at, 4);
    at += 4;
    if (length > size - at) break;
    v1::PipelineRequest step;
    if (step.ParseFromArray(data + at, static_cast<int>(length))) steps.push_back(std::move(step));
    at += length;
  }
  return steps;
}

std::string Encode(const std::vector<v1::PipelineRequest>& steps) {
  std::string out;
  for (const v1::PipelineRequest& step : steps) {
    const std::string bytes = step.SerializeAsString();
    const uint32_t length = static_cast<uint32_t>(bytes.size());
    out.append(reinterpret_cast<const char*>(&length), 4);
    out += bytes;
  }
  return out;
}

// Whether the step would wait for something no one sends here, or is too big to run fast.
bool Skipped(const v1::PipelineRequest& step) {
  if (step.has_upload() && step.upload().bulk_channel()) return true;
  return step.execute().graph().nodes_size() > kMaxNodes || step.graph().nodes_size() > kMaxNodes;
}

void CheckFailure(const v1::StepFailure& failure, const std::string& which) {
  CheckClientError(absl::Status(static_cast<absl::StatusCode>(failure.code()), failure.message()),
                   absl::StrCat(which, " of step ", failure.step_id(), " (", failure.op(), ")"));
}

}  // namespace

// Pipelines a client might send: a random graph's constants uploaded as buffers 1, 2, ...,
// the graph executed on them (kept as buffer 100), again by its graph_id, its result read,
// buffers released, a sync; some steps asking for replies.
std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  testing::RandomGraphs draw(20261207);
  const std::vector<std::string> ops = testing::OpsToDraw();
  for (int i = 0; i < 200; ++i) {
    bool well_formed = false;
    core::Graph graph = draw.Graph(ops, &well_formed);
    std::vector<v1::PipelineRequest> steps;
    uint64_t step_id = 0;
    v1::ExecuteRequest execute;
    int64_t parameters = 0;
    for (core::Node& node : graph.nodes) {
      if (node.op != "constant" || draw.OneIn(3)) continue;
      absl::StatusOr<core::HostTensor> value = node.attrs.Get<core::HostTensor>("value");
      v1::PipelineRequest& upload = steps.emplace_back();
      upload.set_step_id(++step_id);
      upload.mutable_upload()->set_buffer_id(static_cast<uint64_t>(parameters) + 1);
      core::HostTensorToProto(*value, upload.mutable_upload()->mutable_tensor());
      upload.set_want_reply(draw.OneIn(4));
      execute.add_bindings()->set_buffer_id(static_cast<uint64_t>(parameters) + 1);
      node = core::ParameterNode(parameters++, value->type);
    }
    core::GraphToProto(graph, execute.mutable_graph());
    execute.add_outputs()->set_buffer_id(100);
    v1::PipelineRequest& run = steps.emplace_back();
    run.set_step_id(++step_id);
    *run.mutable_execute() = execute;
    run.set_want_reply(draw.OneIn(2));
    if (draw.OneIn(2)) {  // again, by id, into a new handle
      v1::PipelineRequest& again = steps.emplace_back();
      again.set_step_id(++step_id);
      *again.mutable_execute() = execute;
      again.mutable_execute()->clear_graph();
      again.mutable_execute()->set_graph_id(core::GraphFingerprint(graph));
      again.mutable_execute()->mutable_outputs(0)->set_buffer_id(101);
    }
    v1::PipelineRequest& read = steps.emplace_back();
    read.set_step_id(++step_id);
    read.mutable_read()->set_buffer_id(100);
    v1::PipelineRequest& release = steps.emplace_back();
    release.set_step_id(++step_id);
    for (uint64_t id = 1; id <= static_cast<uint64_t>(parameters); ++id) {
      release.mutable_release()->add_buffer_ids(id);
    }
    release.mutable_release()->add_buffer_ids(100);
    steps.emplace_back().set_step_id(++step_id);
    steps.back().mutable_sync();
    seeds.push_back(Encode(steps));
  }
  return seeds;
}

}  // namespace ferry::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ferry;  // NOLINT: the entry point lies outside ferry's namespace
  fuzz::Daemon& daemon = fuzz::TheDaemon();
  const std::vector<v1::PipelineRequest> steps = fuzz::Decode(data, size);
  std::string session_id;
  {
    server::SessionRef session = daemon.sessions.Open("fuzz");
    session_id = session->id();
    kernels::QueueScope queue(session->queue());
    server::PipelineSteps pipeline(daemon.sessions, daemon.executor, daemon.graphs, daemon.options,
                                   /*peers=*/nullptr, session_id);
    auto no_graph = [](const std::string&, uint64_t) { return std::optional<v1::Graph>(); };
    for (const v1::PipelineRequest& step : steps) {
      if (fuzz::Skipped(step)) continue;
      std::optional<v1::PipelineResponse> reply = pipeline.Run(step, no_graph);
      if (!reply.has_value()) continue;
      if (reply->has_failure()) fuzz::CheckFailure(reply->failure(), "the failure");
      if (reply->has_first_failure()) {
        fuzz::CheckFailure(reply->first_failure(), "the first failure");
      }
    }
  }
  fuzz::Check(daemon.sessions.Close(session_id).ok(), "the session closes");
  const int64_t in_use = daemon.backend->budget().in_use();
  fuzz::Check(in_use == 0, absl::StrCat(in_use, " bytes still taken after the session closed"));
  return 0;
}

// A step's fields changed (tests/fuzz/message_mutator.h), or a step repeated, dropped or
// moved; bytes edited instead one time in eight.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  using namespace ferry;  // NOLINT
  std::mt19937_64 random(seed);
  std::vector<v1::PipelineRequest> steps = fuzz::Decode(data, size);
  if (random() % 8 == 0 || steps.empty()) return LLVMFuzzerMutate(data, size, max_size);
  const size_t at = random() % steps.size();
  switch (random() % 6) {
    case 0:
      steps.insert(steps.begin() + static_cast<std::ptrdiff_t>(random() % (steps.size() + 1)),
                   steps[at]);
      break;
    case 1:
      steps.erase(steps.begin() + static_cast<std::ptrdiff_t>(at));
      break;
    case 2:
      std::swap(steps[at], steps[random() % steps.size()]);
      break;
    default:
      fuzz::MutateMessage(steps[at], testing::OpAndAttributeNames(), random);
      break;
  }
  return fuzz::WriteMutation(fuzz::Encode(steps), data, size, max_size);
}
