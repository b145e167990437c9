#include "client/profiler.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/profile_log.h"
#include "client/status.h"
#include "nlohmann/json.hpp"

namespace ferry {

std::string ProfiledStep::name() const {
  if (fused_ops.empty()) return op;
  return absl::StrCat(op, "(", absl::StrJoin(fused_ops, ", "), ")");
}

double ProfiledEval::device_us() const {
  return queued_us + prepare_us + bind_us + run_us + outputs_us;
}

double ProfiledEval::transport_us() const {
  if (answered_us < 0 || !profiled_by_device) return 0;
  return std::max(0.0, answered_us - sent_us - device_us());
}

double ProfiledTransfer::gigabytes_per_second() const {
  const double us = end_us - begin_us;
  return us > 0 ? static_cast<double>(bytes) / us / 1000.0 : 0;
}

Profiler::Profiler(ProfilerOptions options)
    : log_(std::make_shared<detail::ProfileLog>(options)),
      previous_(detail::CurrentRecordingLog()) {
  detail::SetRecordingLog(log_);
}

Profiler::~Profiler() { stop(); }

void Profiler::stop() {
  if (!recording_) return;
  recording_ = false;
  log_->Stop();
  if (detail::CurrentRecordingLog() == log_) detail::SetRecordingLog(std::move(previous_));
  evals_ = log_->WaitAll();
  transfers_ = log_->transfers();
}

std::vector<ProfiledEval> Profiler::evals() {
  stop();
  return evals_;
}

std::vector<ProfiledTransfer> Profiler::transfers() {
  stop();
  return transfers_;
}

std::string Profiler::table(size_t max_rows) {
  stop();
  std::set<std::string> devices;
  int64_t sent_whole = 0, failed = 0, profiled = 0;
  double lower = 0, send = 0, transport = 0, queued = 0, prepare = 0, bind = 0, run = 0,
         outputs = 0;
  struct OpTotal {
    int64_t calls = 0;
    double us = 0;
  };
  std::map<std::string, OpTotal> ops;
  double step_us = 0;
  for (const ProfiledEval& eval : evals_) {
    devices.insert(eval.device);
    sent_whole += eval.graph_sent ? 1 : 0;
    failed += eval.error.empty() ? 0 : 1;
    lower += eval.lowered_us - eval.begin_us;
    send += eval.sent_us - eval.lowered_us;
    if (!eval.profiled_by_device) continue;
    ++profiled;
    transport += eval.transport_us();
    queued += eval.queued_us;
    prepare += eval.prepare_us;
    bind += eval.bind_us;
    run += eval.run_us;
    outputs += eval.outputs_us;
    for (const ProfiledStep& step : eval.steps) {
      OpTotal& total = ops[step.name()];
      ++total.calls;
      total.us += step.duration_us;
      step_us += step.duration_us;
    }
  }
  std::string out = absl::StrCat("ferry profile: ", evals_.size(), " eval(s)");
  if (failed > 0) absl::StrAppend(&out, ", ", failed, " failed");
  absl::StrAppend(&out, ", graphs sent whole: ", sent_whole, " (the rest by fingerprint)\n");
  for (const std::string& device : devices) absl::StrAppend(&out, "  device: ", device, "\n");
  const auto mean = [](double total, int64_t count) {
    return count == 0 ? 0.0 : total / static_cast<double>(count);
  };
  const int64_t count = static_cast<int64_t>(evals_.size());
  if (count > 0) {
    absl::StrAppendFormat(&out, "mean per eval (us): lower %.1f, send %.1f", mean(lower, count),
                          mean(send, count));
  }
  if (profiled > 0) {
    absl::StrAppendFormat(&out,
                          ", transport %.1f; on the device: queued %.1f, prepare %.1f, bind "
                          "%.1f, run %.1f, outputs %.1f",
                          mean(transport, profiled), mean(queued, profiled),
                          mean(prepare, profiled), mean(bind, profiled), mean(run, profiled),
                          mean(outputs, profiled));
  } else if (!evals_.empty()) {
    absl::StrAppend(&out, " (the device reported no profile)");
  }
  if (count > 0) absl::StrAppend(&out, "\n");
  for (const bool upload : {true, false}) {
    int64_t count = 0, bytes = 0;
    double us = 0;
    std::map<std::string, int64_t> routes;
    for (const ProfiledTransfer& transfer : transfers_) {
      if (transfer.upload != upload) continue;
      ++count;
      bytes += transfer.bytes;
      us += transfer.end_us - transfer.begin_us;
      ++routes[transfer.route];
    }
    if (count == 0) continue;
    std::vector<std::string> by_route;
    for (const auto& [route, n] : routes) by_route.push_back(absl::StrCat(route, " ", n));
    absl::StrAppendFormat(&out, "%s: %d, %.1f MB in %.3f ms (%.2f GB/s; %s)\n",
                          upload ? "uploads" : "downloads", count, bytes / 1e6, us / 1000,
                          us > 0 ? bytes / us / 1000 : 0.0, absl::StrJoin(by_route, ", "));
  }
  if (ops.empty()) return out;
  std::vector<std::pair<std::string, OpTotal>> rows(ops.begin(), ops.end());
  std::stable_sort(rows.begin(), rows.end(),
                   [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
  size_t width = 2;
  for (size_t i = 0; i < rows.size() && i < max_rows; ++i) {
    width = std::max(width, std::min<size_t>(rows[i].first.size(), 60));
  }
  absl::StrAppendFormat(&out, "%-*s %8s %12s %10s %7s\n", static_cast<int>(width), "op", "calls",
                        "total (ms)", "mean (us)", "% steps");
  for (size_t i = 0; i < rows.size() && i < max_rows; ++i) {
    const auto& [name, total] = rows[i];
    absl::StrAppendFormat(&out, "%-*s %8d %12.3f %10.1f %6.1f%%\n", static_cast<int>(width),
                          name.size() > 60 ? absl::StrCat(name.substr(0, 57), "...") : name,
                          total.calls, total.us / 1000.0, mean(total.us, total.calls),
                          step_us > 0 ? 100.0 * total.us / step_us : 0.0);
  }
  if (rows.size() > max_rows) absl::StrAppend(&out, "(", rows.size() - max_rows, " more ops)\n");
  return out;
}

std::string Profiler::chrome_trace() {
  stop();
  using nlohmann::json;
  json events = json::array();
  // Process 1 is this client; each device is a process of its own, from 2.
  std::map<std::string, int> device_pids;
  const auto name_process = [&events](int pid, const std::string& name) {
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", pid},
                      {"tid", 0},
                      {"args", {{"name", name}}}});
  };
  name_process(1, "client");
  const auto slice = [&events](const std::string& name, int pid, int tid, double begin_us,
                               double duration_us, json args) {
    events.push_back({{"name", name},
                      {"ph", "X"},
                      {"pid", pid},
                      {"tid", tid},
                      {"ts", begin_us},
                      {"dur", std::max(0.0, duration_us)},
                      {"args", std::move(args)}});
  };
  for (size_t i = 0; i < evals_.size(); ++i) {
    const ProfiledEval& eval = evals_[i];
    auto [device, added] =
        device_pids.emplace(eval.device, static_cast<int>(device_pids.size()) + 2);
    if (added) name_process(device->second, eval.device);
    const int pid = device->second;
    const std::string name = absl::StrCat("eval ", i);
    const json about = {{"eval", i},
                        {"device", eval.device},
                        {"nodes", eval.nodes},
                        {"graph_sent", eval.graph_sent},
                        {"error", eval.error}};
    slice(absl::StrCat(name, ": lower"), 1, 1, eval.begin_us, eval.lowered_us - eval.begin_us,
          about);
    slice(absl::StrCat(name, ": send"), 1, 1, eval.lowered_us, eval.sent_us - eval.lowered_us,
          about);
    if (eval.answered_us < 0) continue;
    // In flight: async, since pipelined evals overlap.
    events.push_back({{"name", name},
                      {"cat", "in flight"},
                      {"ph", "b"},
                      {"id", i},
                      {"pid", 1},
                      {"tid", 2},
                      {"ts", eval.sent_us},
                      {"args", about}});
    events.push_back({{"name", name},
                      {"cat", "in flight"},
                      {"ph", "e"},
                      {"id", i},
                      {"pid", 1},
                      {"tid", 2},
                      {"ts", eval.answered_us}});
    if (!eval.profiled_by_device) continue;
    // Its work began once it arrived (half the transport after it was sent) and had waited.
    double at = eval.sent_us + eval.transport_us() / 2 + eval.queued_us;
    const json device_about = {{"eval", i},
                               {"backend", eval.backend},
                               {"plan_cached", eval.plan_cached},
                               {"queued_us", eval.queued_us},
                               {"peak_bytes", eval.peak_bytes}};
    slice(name, pid, 1, at, eval.prepare_us + eval.bind_us + eval.run_us + eval.outputs_us,
          device_about);
    slice("prepare", pid, 2, at, eval.prepare_us, {{"plan_cached", eval.plan_cached}});
    at += eval.prepare_us;
    slice("bind", pid, 2, at, eval.bind_us, json::object());
    at += eval.bind_us;
    slice("run", pid, 2, at, eval.run_us, json::object());
    for (const ProfiledStep& step : eval.steps) {
      slice(step.name(), pid, 3, at + step.start_us, step.duration_us,
            {{"node", step.node}, {"type", step.type}});
    }
    at += eval.run_us;
    slice("outputs", pid, 2, at, eval.outputs_us, json::object());
  }
  for (const ProfiledTransfer& transfer : transfers_) {
    slice(absl::StrFormat("%s %.1f MB (%s)", transfer.upload ? "upload" : "download",
                          transfer.bytes / 1e6, transfer.route),
          1, 3, transfer.begin_us, transfer.end_us - transfer.begin_us,
          {{"device", transfer.device},
           {"bytes", transfer.bytes},
           {"GB/s", transfer.gigabytes_per_second()}});
  }
  // A daemon's error message may hold bytes that are not UTF-8: shown as U+FFFD.
  return json({{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}})
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

void Profiler::save_chrome_trace(const std::string& path) {
  const std::string trace = chrome_trace();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file) {
    detail::ThrowIfError(
        absl::PermissionDeniedError(absl::StrCat("[save_chrome_trace] cannot write ", path)));
  }
  file << trace;
  file.close();
  if (!file) {
    detail::ThrowIfError(
        absl::DataLossError(absl::StrCat("[save_chrome_trace] cannot write ", path)));
  }
}

}  // namespace ferry
