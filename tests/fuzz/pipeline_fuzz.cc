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
#include "core/codec.h"
#include "core/fingerprint.h"
#include "core/graph.h"
#include "kernels/backend.h"
#include "proto/ferry/v1/ferry.pb.h"
#include "server/pipeline.h"
#include "server/session_manager.h"
#include "tests/fuzz/daemon_state.h"
#include "tests/fuzz/fuzz_target.h"
#include "tests/fuzz/message_mutator.h"
#include "tests/random_graphs.h"

namespace ferry::fuzz {
namespace {

constexpr size_t kMaxSteps = 48;
constexpr int kMaxNodes = 48;

std::vector<v1::PipelineRequest> Decode(const uint8_t* data, size_t size) {
  std::vector<v1::PipelineRequest> steps;
  for (const Record& record : SplitRecords(data, size, 0, kMaxSteps)) {
    v1::PipelineRequest step;
    if (step.ParseFromString(record.bytes)) steps.push_back(std::move(step));
  }
  return steps;
}

std::string Encode(const std::vector<v1::PipelineRequest>& steps) {
  std::vector<Record> records;
  for (const v1::PipelineRequest& step : steps) records.push_back({"", step.SerializeAsString()});
  return JoinRecords(records);
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
  fuzz::DaemonState& daemon = fuzz::Daemon();
  const std::vector<v1::PipelineRequest> steps = fuzz::Decode(data, size);
  std::string session_id;
  {
    server::SessionRef session = *daemon.sessions.Open("fuzz");
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
  daemon.CloseAndCheckFreed(session_id);
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
  if (random() % 2 == 0) {
    fuzz::RepeatDropOrSwap(steps, random);
  } else {
    fuzz::MutateMessage(steps[random() % steps.size()], testing::OpAndAttributeNames(), random);
  }
  return fuzz::WriteMutation(fuzz::Encode(steps), data, size, max_size);
}
