#ifndef FERRY_KERNELS_RUN_PROFILE_H_
#define FERRY_KERNELS_RUN_PROFILE_H_

// A profiled run's step times as the protocol carries them (ExecutionProfile), for ferryd's
// answer and the local device alike, so the client's profiler reads one form.

#include "kernels/executor.h"
#include "proto/ferry/v1/ferry.pb.h"

namespace ferry::kernels {

// Adds a ProfiledStep per entry of stats.step_times (its node, op or fused group, result
// type, start, duration), and the run's peak bytes, to `profile`.
void AddRunProfile(const Plan& plan, const RunStats& stats, v1::ExecutionProfile* profile);

}  // namespace ferry::kernels

#endif  // FERRY_KERNELS_RUN_PROFILE_H_
