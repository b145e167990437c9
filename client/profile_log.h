#ifndef FERRY_CLIENT_PROFILE_LOG_H_
#define FERRY_CLIENT_PROFILE_LOG_H_

// Internal to the client library: what a Profiler records (client/profiler.h). eval() opens
// a record per device's graph and makes it current while the device takes the graph; the
// device asks its backend or daemon for a profile and fills in the answer, perhaps later,
// on a stream's reader thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "client/error.h"
#include "client/profiler.h"
#include "proto/ferry/v1/ferry.pb.h"

namespace ferry::detail {

class DeviceImpl;

// One eval's record. Thread-safe.
class EvalRecord {
 public:
  // A graph of `nodes` for `device`, whose lowering began at `began` and has ended.
  EvalRecord(std::chrono::steady_clock::time_point start, std::string device,
             std::chrono::steady_clock::time_point began, int64_t nodes, bool device_steps);

  // Whether the device is to time each step (ProfilerOptions::device_steps).
  bool device_steps() const { return device_steps_; }

  // Handed to the transport; `graph_sent`: the graph went whole, not by fingerprint.
  void Sent(bool graph_sent);
  // The answer arrived, with the device's profile (null: it sent none). Only the first
  // answer or failure counts.
  void Answered(const v1::ExecutionProfile* profile);
  // It failed: `error` as the user sees it thrown (its code's name, then its message).
  void Failed(const std::string& error);
  void Failed(const Error& error);

  // The record once answered or failed.
  ProfiledEval Wait();

 private:
  double Since(std::chrono::steady_clock::time_point time) const;  // in us, from start_
  double Now() const;

  const std::chrono::steady_clock::time_point start_;
  const bool device_steps_;
  std::mutex mu_;
  std::condition_variable answered_;
  bool done_ = false;
  ProfiledEval eval_;
};

// A Profiler's records, in the order their evals began. Thread-safe.
class ProfileLog {
 public:
  explicit ProfileLog(ProfilerOptions options);

  // A record of an eval's graph of `nodes` for `device`, lowered from `began` until now.
  std::shared_ptr<EvalRecord> Begin(std::string device, std::chrono::steady_clock::time_point began,
                                    int64_t nodes);
  // Every record, once answered.
  std::vector<ProfiledEval> WaitAll();

  void AddTransfer(ProfiledTransfer transfer);
  std::vector<ProfiledTransfer> transfers();
  // Microseconds since the log began.
  double Since(std::chrono::steady_clock::time_point time) const;

  // Whether its Profiler still records (a stopped log found again as a nested Profiler
  // stops records nothing).
  bool recording() const { return recording_.load(); }
  void Stop() { recording_.store(false); }

 private:
  const std::chrono::steady_clock::time_point start_;
  const ProfilerOptions options_;
  std::atomic<bool> recording_{true};
  std::mutex mu_;
  std::vector<std::shared_ptr<EvalRecord>> records_;
  std::vector<ProfiledTransfer> transfers_;
};

// Times one transfer of a large array for the Profiler recording on this thread, if any:
// Done names its route; one never done (it threw) is recorded as "failed".
class TransferTimer {
 public:
  // `device`'s description is taken only when a Profiler records.
  TransferTimer(const DeviceImpl& device, bool upload, int64_t bytes);
  ~TransferTimer();
  TransferTimer(const TransferTimer&) = delete;
  TransferTimer& operator=(const TransferTimer&) = delete;

  void Done(const char* route);

 private:
  ProfileLog* const log_;  // null: nothing records
  std::chrono::steady_clock::time_point begin_;
  ProfiledTransfer transfer_;
};

// The log of the Profiler recording on this thread, or null. A Profiler sets it and, when it
// stops, puts back the one it found (held, so an outer Profiler stopped or destroyed first
// leaves a stopped log here, not a dangling one).
ProfileLog* RecordingLog();
void SetRecordingLog(std::shared_ptr<ProfileLog> log);
const std::shared_ptr<ProfileLog>& CurrentRecordingLog();

// The record of the graph this thread is handing to a device (within eval()), or null.
const std::shared_ptr<EvalRecord>& CurrentEval();

// Makes `record` current on this thread while alive (the thread that sends the graph).
class CurrentEvalScope {
 public:
  explicit CurrentEvalScope(std::shared_ptr<EvalRecord> record);
  ~CurrentEvalScope();
  CurrentEvalScope(const CurrentEvalScope&) = delete;
  CurrentEvalScope& operator=(const CurrentEvalScope&) = delete;

 private:
  std::shared_ptr<EvalRecord> previous_;
};

}  // namespace ferry::detail

#endif  // FERRY_CLIENT_PROFILE_LOG_H_
