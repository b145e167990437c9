#include "client/profile_log.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "client/device_impl.h"

namespace ferry::detail {
namespace {

std::shared_ptr<ProfileLog>& RecordingSlot() {
  thread_local std::shared_ptr<ProfileLog> log;
  return log;
}

std::shared_ptr<EvalRecord>& CurrentEvalSlot() {
  thread_local std::shared_ptr<EvalRecord> current;
  return current;
}

double Micros(int64_t ns) { return static_cast<double>(ns) / 1000.0; }

double MicrosBetween(std::chrono::steady_clock::time_point from,
                     std::chrono::steady_clock::time_point to) {
  return std::chrono::duration<double, std::micro>(to - from).count();
}

}  // namespace

EvalRecord::EvalRecord(std::chrono::steady_clock::time_point start, std::string device,
                       std::chrono::steady_clock::time_point began, int64_t nodes,
                       bool device_steps)
    : start_(start), device_steps_(device_steps) {
  eval_.device = std::move(device);
  eval_.nodes = nodes;
  eval_.begin_us = Since(began);
  eval_.lowered_us = eval_.sent_us = Now();
}

double EvalRecord::Since(std::chrono::steady_clock::time_point time) const {
  return MicrosBetween(start_, time);
}

double EvalRecord::Now() const { return Since(std::chrono::steady_clock::now()); }

void EvalRecord::Sent(bool graph_sent) {
  std::lock_guard<std::mutex> lock(mu_);
  eval_.graph_sent = graph_sent;
  eval_.sent_us = Now();
}

void EvalRecord::Answered(const v1::ExecutionProfile* profile) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return;
  eval_.answered_us = Now();
  if (profile != nullptr) {
    eval_.profiled_by_device = true;
    eval_.backend = profile->backend();
    eval_.plan_cached = profile->plan_cached();
    eval_.queued_us = Micros(profile->queued_ns());
    eval_.prepare_us = Micros(profile->prepare_ns());
    eval_.bind_us = Micros(profile->bind_ns());
    eval_.run_us = Micros(profile->run_ns());
    eval_.outputs_us = Micros(profile->outputs_ns());
    eval_.peak_bytes = profile->peak_bytes();
    for (const v1::ProfiledStep& from : profile->steps()) {
      ProfiledStep step;
      step.node = from.node();
      step.op = from.op();
      step.fused_ops.assign(from.fused_ops().begin(), from.fused_ops().end());
      step.type = from.type();
      step.start_us = Micros(from.start_ns());
      step.duration_us = Micros(from.duration_ns());
      eval_.steps.push_back(std::move(step));
    }
  }
  done_ = true;
  answered_.notify_all();
}

void EvalRecord::Failed(const Error& error) {
  Failed(absl::StrCat(ErrorCodeName(error.code()), ": ", error.what()));
}

void EvalRecord::Failed(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  if (done_) return;
  eval_.answered_us = Now();
  eval_.error = error;
  done_ = true;
  answered_.notify_all();
}

ProfiledEval EvalRecord::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  answered_.wait(lock, [this] { return done_; });
  return eval_;
}

ProfileLog::ProfileLog(ProfilerOptions options)
    : start_(std::chrono::steady_clock::now()), options_(options) {}

std::shared_ptr<EvalRecord> ProfileLog::Begin(std::string device,
                                              std::chrono::steady_clock::time_point began,
                                              int64_t nodes) {
  auto record =
      std::make_shared<EvalRecord>(start_, std::move(device), began, nodes, options_.device_steps);
  std::lock_guard<std::mutex> lock(mu_);
  records_.push_back(record);
  return record;
}

std::vector<ProfiledEval> ProfileLog::WaitAll() {
  std::vector<std::shared_ptr<EvalRecord>> records;
  {
    std::lock_guard<std::mutex> lock(mu_);
    records = records_;
  }
  std::vector<ProfiledEval> evals;
  evals.reserve(records.size());
  for (const std::shared_ptr<EvalRecord>& record : records) evals.push_back(record->Wait());
  return evals;
}

void ProfileLog::AddTransfer(ProfiledTransfer transfer) {
  std::lock_guard<std::mutex> lock(mu_);
  transfers_.push_back(std::move(transfer));
}

std::vector<ProfiledTransfer> ProfileLog::transfers() {
  std::lock_guard<std::mutex> lock(mu_);
  return transfers_;
}

double ProfileLog::Since(std::chrono::steady_clock::time_point time) const {
  return MicrosBetween(start_, time);
}

TransferTimer::TransferTimer(const DeviceImpl& device, bool upload, int64_t bytes)
    : log_(RecordingLog()) {
  if (log_ == nullptr) return;
  begin_ = std::chrono::steady_clock::now();
  transfer_.device = device.description();
  transfer_.upload = upload;
  transfer_.bytes = bytes;
}

TransferTimer::~TransferTimer() { Done("failed"); }

void TransferTimer::Done(const char* route) {
  if (log_ == nullptr || !transfer_.route.empty()) return;
  transfer_.route = route;
  transfer_.begin_us = log_->Since(begin_);
  transfer_.end_us = log_->Since(std::chrono::steady_clock::now());
  log_->AddTransfer(transfer_);
}

ProfileLog* RecordingLog() {
  ProfileLog* log = RecordingSlot().get();
  return log != nullptr && log->recording() ? log : nullptr;
}
void SetRecordingLog(std::shared_ptr<ProfileLog> log) { RecordingSlot() = std::move(log); }
const std::shared_ptr<ProfileLog>& CurrentRecordingLog() { return RecordingSlot(); }

const std::shared_ptr<EvalRecord>& CurrentEval() { return CurrentEvalSlot(); }

CurrentEvalScope::CurrentEvalScope(std::shared_ptr<EvalRecord> record)
    : previous_(std::exchange(CurrentEvalSlot(), std::move(record))) {}

CurrentEvalScope::~CurrentEvalScope() { CurrentEvalSlot() = std::move(previous_); }

}  // namespace ferry::detail
