#ifndef FERRY_CLIENT_LM_TUNER_FINE_TUNE_H_
#define FERRY_CLIENT_LM_TUNER_FINE_TUNE_H_

// mlx_lm.lora's train_model, piece by piece: the model made ready to train (frozen, then
// adapted or its last blocks unfrozen), the learning-rate schedule and the optimizer its
// configuration names.

#include <memory>
#include <string>

#include "client/lm/model.h"
#include "client/lm/tuner/lora.h"
#include "client/lm/tuner/trainer.h"
#include "client/lm/tuner/training_config.h"
#include "client/optimizers.h"
#include "client/schedulers.h"

namespace ferry::lm::tuner {

// The model frozen, then, by fine_tune_type, LoRA or DoRA adapters on its last num_layers
// blocks (linear_to_lora_layers) or those blocks' own parameters trainable
// (unfreeze_layers: "full"). Throws INVALID_ARGUMENT when num_layers exceeds the model's
// blocks (as mlx-lm) or for another fine_tune_type.
void setup_fine_tuning(Model& model, const std::string& fine_tune_type, int num_layers,
                       const LoRAConfig& lora_parameters);

// mlx-lm's build_schedule: the schedulers.h schedule `name` (cosine_decay,
// exponential_decay, step_decay or linear_schedule) called with `arguments`, after a linear
// warmup from warmup_init to arguments[0] when warmup > 0. Throws INVALID_ARGUMENT naming an
// unknown schedule or a wrong count of arguments.
optimizers::Schedule build_schedule(const ScheduleConfig& config);

// The optimizer config.optimizer names (adam, adamw, muon, sgd, adafactor) with the options
// config.optimizer_config gives it (MLX's keyword arguments: betas, eps, weight_decay,
// momentum, nesterov, ...), its learning rate config.lr_schedule's schedule or
// config.learning_rate. Throws INVALID_ARGUMENT naming an option the optimizer lacks or a
// value of the wrong type.
std::unique_ptr<optimizers::Optimizer> build_optimizer(const TrainingConfig& config);

// The trainer's arguments from the options, as train_model makes them: the weights saved to
// adapter_path/adapters.safetensors every save_every steps and at the end.
TrainingArgs training_args(const TrainingConfig& config);

}  // namespace ferry::lm::tuner

#endif  // FERRY_CLIENT_LM_TUNER_FINE_TUNE_H_
