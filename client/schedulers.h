#ifndef FERRY_CLIENT_SCHEDULERS_H_
#define FERRY_CLIENT_SCHEDULERS_H_

// Learning-rate schedules after MLX's mlx.optimizers schedulers, for
// Optimizer::set_learning_rate(schedule): each is a function of the step (0 for the first
// update). They run here, on the host, and the optimizer binds the value to each step's
// graph, so a schedule never changes the graph a daemon holds.
//
//   ferry::optimizers::AdamW adamw(0);
//   adamw.set_learning_rate(ferry::optimizers::join_schedules(
//       {ferry::optimizers::linear_schedule(0, 1e-3, 100),
//        ferry::optimizers::cosine_decay(1e-3, 10000)},
//       {100}));

#include <cstdint>
#include <functional>
#include <vector>

namespace ferry::optimizers {

using Schedule = std::function<double(int64_t step)>;

// init * decay_rate^step.
Schedule exponential_decay(double init, double decay_rate);
// init * decay_rate^(step / step_size), the division rounding down.
Schedule step_decay(double init, double decay_rate, int64_t step_size);
// end + (init - end) (1 + cos(pi min(step, decay_steps) / decay_steps)) / 2.
Schedule cosine_decay(double init, int64_t decay_steps, double end = 0.0);
// From init to end in `steps` steps, then end.
Schedule linear_schedule(double init, double end, int64_t steps);
// schedules[0] until boundaries[0], then schedules[1] from its own step 0, and so on.
Schedule join_schedules(std::vector<Schedule> schedules, std::vector<int64_t> boundaries);

}  // namespace ferry::optimizers

#endif  // FERRY_CLIENT_SCHEDULERS_H_
