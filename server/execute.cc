#include "server/execute.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/codec.h"
#include "core/fingerprint.h"
#include "kernels/collectives.h"
#include "kernels/run_profile.h"

namespace ferry::server {
namespace {

absl::StatusOr<std::shared_ptr<const kernels::Plan>> FindGraph(kernels::Executor& executor,
                                                               GraphCache& graphs,
                                                               const ServerOptions& options,
                                                               const v1::ExecuteRequest& request) {
  if (request.graph().nodes_size() == 0) {
    if (request.graph_id().empty()) {
      return absl::InvalidArgumentError("execute needs a graph or a graph_id");
    }
    std::shared_ptr<const kernels::Plan> plan = graphs.Find(request.graph_id());
    if (plan == nullptr) return MissingGraphError(request.graph_id());
    return plan;
  }
  if (request.graph().nodes_size() > options.max_graph_nodes) {
    return absl::InvalidArgumentError(absl::StrCat("the graph has ", request.graph().nodes_size(),
                                                   " nodes; this ferryd takes at most ",
                                                   options.max_graph_nodes));
  }
  absl::StatusOr<core::Graph> graph = core::GraphFromProto(request.graph());
  if (!graph.ok()) return graph.status();
  absl::StatusOr<std::shared_ptr<const kernels::Plan>> plan = executor.Prepare(*std::move(graph));
  if (!plan.ok()) return plan.status();
  if (!request.graph_id().empty() && request.graph_id() != (*plan)->graph_id) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph_id ", core::FingerprintToHex(request.graph_id()),
                     " does not match the graph sent, whose fingerprint is ",
                     core::FingerprintToHex((*plan)->graph_id)));
  }
  graphs.Insert(*plan);
  return plan;
}

absl::StatusOr<std::vector<kernels::Tensor>> BindParameters(Session& session,
                                                            kernels::Backend& backend,
                                                            const kernels::Plan& plan,
                                                            const v1::ExecuteRequest& request) {
  const std::vector<core::TensorType>& declared = plan.parameter_types;
  if (static_cast<size_t>(request.bindings_size()) != declared.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the graph has ", declared.size(),
                                                   " parameter(s) but ", request.bindings_size(),
                                                   " binding(s) were sent"));
  }
  auto mismatch = [&](size_t i, const core::TensorType& bound) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter ", i, ": bound to ", core::TypeToString(bound),
                     " but the graph declares ", core::TypeToString(declared[i])));
  };
  std::vector<kernels::Tensor> parameters;
  parameters.reserve(declared.size());
  for (size_t i = 0; i < declared.size(); ++i) {
    const v1::Binding& binding = request.bindings(static_cast<int>(i));
    switch (binding.source_case()) {
      case v1::Binding::kBufferId: {
        absl::StatusOr<kernels::Tensor> buffer = session.Get(binding.buffer_id());
        if (!buffer.ok()) {
          return absl::Status(buffer.status().code(),
                              absl::StrCat("parameter ", i, ": ", buffer.status().message()));
        }
        if (buffer->type != declared[i]) return mismatch(i, buffer->type);
        parameters.push_back(*std::move(buffer));
        break;
      }
      case v1::Binding::kTensor: {
        absl::StatusOr<core::HostTensor> host = core::HostTensorFromProto(binding.tensor());
        if (!host.ok()) {
          return absl::Status(host.status().code(),
                              absl::StrCat("parameter ", i, ": ", host.status().message()));
        }
        if (host->type != declared[i]) return mismatch(i, host->type);
        absl::StatusOr<kernels::Tensor> tensor = kernels::TensorFromHost(backend, *host);
        if (!tensor.ok()) {
          return absl::Status(tensor.status().code(),
                              absl::StrCat("parameter ", i, ": ", tensor.status().message()));
        }
        parameters.push_back(*std::move(tensor));
        break;
      }
      default:
        return absl::InvalidArgumentError(
            absl::StrCat("parameter ", i, ": its binding names neither a buffer nor a tensor"));
    }
  }
  return parameters;
}

// The handles outputs are to be kept under must be new, and distinct, before anything runs.
absl::Status CheckOutputHandles(const Session& session, const kernels::Plan& plan,
                                const v1::ExecuteRequest& request) {
  if (static_cast<size_t>(request.outputs_size()) > plan.graph.outputs.size()) {
    return absl::InvalidArgumentError(absl::StrCat("the graph has ", plan.graph.outputs.size(),
                                                   " output(s) but ", request.outputs_size(),
                                                   " output requests were sent"));
  }
  for (int i = 0; i < request.outputs_size(); ++i) {
    uint64_t buffer_id = request.outputs(i).buffer_id();
    if (buffer_id == 0) continue;
    for (int j = 0; j < i; ++j) {
      if (request.outputs(j).buffer_id() == buffer_id) {
        return absl::AlreadyExistsError(
            absl::StrCat("outputs ", j, " and ", i, " both ask to be kept as buffer ", buffer_id));
      }
    }
    absl::Status fresh = session.CheckNewId(buffer_id);
    if (!fresh.ok()) {
      return absl::Status(fresh.code(), absl::StrCat("output ", i, ": ", fresh.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::ExecuteResponse> Execute(Session& session, kernels::Executor& executor,
                                            GraphCache& graphs, const ServerOptions& options,
                                            const v1::ExecuteRequest& request,
                                            const kernels::CancelCheck& cancelled) {
  // Released first, even if the rest fails: the client has dropped these arrays.
  session.Release(request.release_buffer_ids());
  // Each phase's end, for a profiled call (ExecuteRequest.profile); no clock read otherwise.
  const bool profiling = request.profile() != v1::PROFILE_OFF;
  v1::ExecutionProfile profile;
  auto phase_start =
      profiling ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
  auto end_phase = [&phase_start, profiling]() -> int64_t {
    if (!profiling) return 0;
    const auto now = std::chrono::steady_clock::now();
    const int64_t ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now - phase_start).count();
    phase_start = now;
    return ns;
  };

  absl::StatusOr<std::shared_ptr<const kernels::Plan>> plan =
      FindGraph(executor, graphs, options, request);
  if (!plan.ok()) return plan.status();
  profile.set_prepare_ns(end_phase());
  profile.set_plan_cached(request.graph().nodes_size() == 0);
  kernels::Backend& backend = executor.backend();
  absl::StatusOr<std::vector<kernels::Tensor>> parameters =
      BindParameters(session, backend, **plan, request);
  // Donated buffers leave the session once bound (the run holds them now), whatever follows:
  // the client counts them gone when it sends the call. What they hold stays in use through
  // the run (the session no longer counts it), so the run's peak includes them.
  std::vector<uint64_t> donated;
  int64_t donated_bytes = 0;
  for (int i = 0; i < request.bindings_size(); ++i) {
    const v1::Binding& binding = request.bindings(i);
    if (!binding.donate() || binding.source_case() != v1::Binding::kBufferId) continue;
    donated.push_back(binding.buffer_id());
    if (parameters.ok()) {
      donated_bytes += static_cast<int64_t>((*parameters)[static_cast<size_t>(i)].nbytes());
    }
  }
  if (!donated.empty()) session.Release(donated);
  if (!parameters.ok()) return parameters.status();
  if (absl::Status handles = CheckOutputHandles(session, **plan, request); !handles.ok()) {
    return handles;
  }
  profile.set_bind_ns(end_phase());

  kernels::CommunicatorScope groups(&session);  // for the graph's collectives
  auto stop = [&session, &cancelled]() -> absl::Status {
    if (session.closing()) {
      return absl::CancelledError(absl::StrCat("session ", session.id(), " was closed"));
    }
    return cancelled != nullptr ? cancelled() : absl::OkStatus();
  };
  kernels::RunStats run;
  run.time_steps = request.profile() == v1::PROFILE_STEPS;
  absl::StatusOr<std::vector<kernels::Tensor>> outputs =
      executor.Run(**plan, *std::move(parameters), stop, &run);
  session.RecordRun(run.peak_bytes + donated_bytes);
  if (!outputs.ok()) return outputs.status();
  profile.set_run_ns(end_phase());

  v1::ExecuteResponse response;
  response.set_graph_id((*plan)->graph_id);
  std::vector<std::pair<uint64_t, kernels::Tensor>> kept;
  for (size_t i = 0; i < outputs->size(); ++i) {
    const kernels::Tensor& tensor = (*outputs)[i];
    v1::OutputResult* result = response.add_outputs();
    core::TypeToProto(tensor.type, result->mutable_spec());
    uint64_t inline_limit = static_cast<uint64_t>(options.max_inline_bytes);
    if (i < static_cast<size_t>(request.outputs_size())) {
      const v1::OutputRequest& wanted = request.outputs(static_cast<int>(i));
      inline_limit = std::min<uint64_t>(inline_limit, wanted.inline_up_to_bytes());
      if (wanted.buffer_id() != 0) {
        result->set_buffer_id(wanted.buffer_id());
        kept.emplace_back(wanted.buffer_id(), tensor);
      }
    }
    if (tensor.nbytes() <= inline_limit) {
      std::string* data = result->mutable_data();
      data->resize(tensor.nbytes());
      if (!data->empty()) {
        absl::Status copied = backend.CopyToHost(tensor, 0, data->size(), data->data());
        if (!copied.ok()) return copied;
      }
      result->set_has_data(true);
    }
  }
  if (!kept.empty()) {
    if (absl::Status stored = session.Put(std::move(kept)); !stored.ok()) return stored;
  }
  if (profiling) {
    profile.set_outputs_ns(end_phase());
    profile.set_backend(backend.facts().backend);
    kernels::AddRunProfile(**plan, run, &profile);
    *response.mutable_profile() = std::move(profile);
  }
  return response;
}

}  // namespace ferry::server
