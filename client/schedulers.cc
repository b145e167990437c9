#include "client/schedulers.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"

namespace ferry::optimizers {
namespace {

void CheckPositive(const char* schedule, const char* name, int64_t value) {
  if (value < 1) {
    detail::ThrowOpError(schedule, absl::StrCat(name, " must be positive, got ", value, "."));
  }
}

}  // namespace

Schedule exponential_decay(double init, double decay_rate) {
  return [=](int64_t step) { return init * std::pow(decay_rate, static_cast<double>(step)); };
}

Schedule step_decay(double init, double decay_rate, int64_t step_size) {
  CheckPositive("step_decay", "step_size", step_size);
  return [=](int64_t step) {
    return init * std::pow(decay_rate, static_cast<double>(step / step_size));
  };
}

Schedule cosine_decay(double init, int64_t decay_steps, double end) {
  CheckPositive("cosine_decay", "decay_steps", decay_steps);
  return [=](int64_t step) {
    const double s = static_cast<double>(std::min(step, decay_steps));
    return end + 0.5 * (1.0 + std::cos(M_PI / static_cast<double>(decay_steps) * s)) * (init - end);
  };
}

Schedule linear_schedule(double init, double end, int64_t steps) {
  CheckPositive("linear_schedule", "steps", steps);
  return [=](int64_t step) {
    return static_cast<double>(std::min(step, steps)) *
               ((end - init) / static_cast<double>(steps)) +
           init;
  };
}

Schedule join_schedules(std::vector<Schedule> schedules, std::vector<int64_t> boundaries) {
  if (schedules.empty() || schedules.size() != boundaries.size() + 1) {
    detail::ThrowOpError(
        "join_schedules",
        absl::StrCat("needs one boundary fewer than schedules, got ", schedules.size(),
                     " schedules and ", boundaries.size(), " boundaries."));
  }
  return [schedules = std::move(schedules), boundaries = std::move(boundaries)](int64_t step) {
    size_t i = 0;
    while (i < boundaries.size() && step >= boundaries[i]) ++i;
    return schedules[i](i == 0 ? step : step - boundaries[i - 1]);
  };
}

}  // namespace ferry::optimizers
