#ifndef FERRY_CLIENT_LM_TUNER_TRAINING_CONFIG_H_
#define FERRY_CLIENT_LM_TUNER_TRAINING_CONFIG_H_

// mlx_lm.lora's options: its CONFIG_DEFAULTS, and the YAML file (`-c config.yaml`) that
// sets them, the only place mlx-lm takes a learning-rate schedule or an optimizer's options
// from. A configuration written for mlx_lm.lora is read here as it is.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "client/lm/tuner/lora.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::tuner {

// mlx-lm's lr_schedule: a schedule of mlx.optimizers.schedulers by name, called with
// `arguments` (the first is the peak learning rate), after `warmup` steps rising linearly
// from `warmup_init` to it.
struct ScheduleConfig {
  std::string name;
  std::vector<double> arguments;
  int64_t warmup = 0;
  double warmup_init = 0.0;
};

// mlx_lm.lora's options and their defaults (CONFIG_DEFAULTS); those of services ferry has
// no part in (report_to, project_name, trust_remote_code, clear_cache_threshold) are read
// and left unused.
struct TrainingConfig {
  std::string model;
  bool train = false;
  std::string data;
  std::string fine_tune_type = "lora";  // "lora", "dora" or "full"
  std::string optimizer = "adam";       // adam, adamw, muon, sgd or adafactor
  // The keyword arguments of each optimizer by name (mlx-lm's optimizer_config).
  std::map<std::string, nlohmann::json> optimizer_config;
  uint64_t seed = 0;
  int num_layers = 16;  // -1 (or 0, as mlx-lm's slicing): every block
  int batch_size = 4;
  int iters = 1000;
  int val_batches = 25;
  double learning_rate = 1e-5;
  int steps_per_report = 10;
  int steps_per_eval = 200;
  std::string resume_adapter_file;  // none when empty
  std::string adapter_path = "adapters";
  int save_every = 100;
  bool test = false;
  int test_batches = 500;
  int max_seq_length = 2048;
  bool grad_checkpoint = false;  // each block recomputed in the backward pass (call_block)
  int grad_accumulation_steps = 1;
  std::optional<ScheduleConfig> lr_schedule;
  LoRAConfig lora_parameters;
  bool mask_prompt = false;
};

// The options a YAML (or JSON) document sets, over the defaults. Throws INVALID_ARGUMENT
// naming the key for a key mlx_lm.lora does not have, a value of the wrong type, a
// fine_tune_type or optimizer it does not know, or a schedule without a name or arguments.
TrainingConfig training_config_from_yaml(const std::string& text);
// The same, from a file; NOT_FOUND when it cannot be read.
TrainingConfig load_training_config(const std::string& path);

}  // namespace ferry::lm::tuner

#endif  // FERRY_CLIENT_LM_TUNER_TRAINING_CONFIG_H_
