#include "examples/training_run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <utility>

namespace ferry::examples {

double TrainingRun::StepsPerSecond() const {
  return seconds > 0 ? (losses.size() - 1) / seconds : 0;
}

StepRecorder::StepRecorder(const ferry::Device& device, int steps, int profile_steps,
                           std::string trace_name)
    : device_(device),
      steps_(steps),
      profile_steps_(std::min(profile_steps, steps)),
      trace_name_(std::move(trace_name)) {}

void StepRecorder::BeforeStep(int step) {
  if (step == steps_ - profile_steps_ + 1 && profile_steps_ > 0) profiler_.emplace();
  if (step == 2) start_ = std::chrono::steady_clock::now();
  if (step == 3) from_ = device_.stats();
}

void StepRecorder::Finish(TrainingRun& run) {
  if (steps_ > 1) {
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  if (profiler_.has_value()) {
    const std::string trace = (std::filesystem::temp_directory_path() / trace_name_).string();
    profiler_->save_chrome_trace(trace);
    run.profile = profiler_->table(12) + "Chrome trace: " + trace + "\n";
  }
  if (steps_ > 2) {
    const ferry::DeviceStats to = device_.stats();
    const int64_t n = steps_ - 2;
    run.per_step.executes = (to.executes - from_.executes) / n;
    run.per_step.graphs_sent = to.graphs_sent - from_.graphs_sent;
    run.per_step.uploads = to.uploads - from_.uploads;
    run.per_step.bytes_sent = (to.bytes_sent - from_.bytes_sent) / n;
    run.per_step.bytes_received = (to.bytes_received - from_.bytes_received) / n;
    run.per_step.donated = (to.donated - from_.donated) / n;
  }
}

void PrintProfile(const TrainingRun& remote, int profile_steps) {
  if (remote.profile.empty()) return;
  std::istringstream table(remote.profile);
  std::printf("  profile  the remote run's last %d steps:\n", profile_steps);
  for (std::string line; std::getline(table, line);) std::printf("           %s\n", line.c_str());
}

bool CheckLosses(const char* program, const TrainingRun& local, const TrainingRun& remote,
                 double tolerance) {
  bool ok = true;
  for (const TrainingRun* run : {&local, &remote}) {
    if (!(run->losses.back() < run->losses.front())) {
      std::fprintf(stderr, "%s: the %s loss did not decrease (%g -> %g)\n", program,
                   run == &local ? "local" : "remote", run->losses.front(), run->losses.back());
      ok = false;
    }
  }
  double max_diff = 0;
  for (size_t i = 0; i < local.losses.size() && i < remote.losses.size(); ++i) {
    max_diff =
        std::max(max_diff, static_cast<double>(std::abs(local.losses[i] - remote.losses[i])));
  }
  const bool same = local.losses.size() == remote.losses.size() &&
                    max_diff <= tolerance * (1 + std::abs(local.losses.front()));
  std::printf("  check    loss decreased on both: %s; max |remote - local| loss = %.3g %s\n",
              ok ? "yes" : "NO", max_diff, same ? "(ok)" : "(FAILED)");
  return ok && same;
}

}  // namespace ferry::examples
