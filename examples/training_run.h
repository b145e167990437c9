#ifndef FERRY_EXAMPLES_TRAINING_RUN_H_
#define FERRY_EXAMPLES_TRAINING_RUN_H_

// What the training examples measure of a run on one device, and how they report the local
// run against the remote one.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "client/ferry.h"

namespace ferry::examples {

// One device's run: the loss of every step and what the steps cost.
struct TrainingRun {
  std::vector<float> losses;
  double seconds = 0;           // steps 2..N: the first ships the graph and plans it
  ferry::DeviceStats per_step;  // the mean over steps 3..N (graphs_sent and uploads: totals)
  std::string profile;          // with profile steps: the profiler's table

  double StepsPerSecond() const;
};

// Called at the top of each of a run's `steps` steps (1..steps): starts the clock at step 2,
// the device's counters at step 3 and a ferry::Profiler for the last `profile_steps`, and
// puts what they measured in the run at the end.
class StepRecorder {
 public:
  StepRecorder(const ferry::Device& device, int steps, int profile_steps, std::string trace_name);
  void BeforeStep(int step);
  // Fills run.seconds, run.per_step and run.profile (its Chrome trace written to
  // $TMPDIR/<trace_name>).
  void Finish(TrainingRun& run);

 private:
  const ferry::Device& device_;
  int steps_, profile_steps_;
  std::string trace_name_;
  std::chrono::steady_clock::time_point start_;
  ferry::DeviceStats from_;
  std::optional<ferry::Profiler> profiler_;
};

// Prints the remote run's profile table, if it was profiled.
void PrintProfile(const TrainingRun& remote, int profile_steps);

// Prints whether both losses decreased and agree step by step within `tolerance` times
// (1 + the first loss); false, with the reason on stderr, unless they did.
bool CheckLosses(const char* program, const TrainingRun& local, const TrainingRun& remote,
                 double tolerance);

}  // namespace ferry::examples

#endif  // FERRY_EXAMPLES_TRAINING_RUN_H_
