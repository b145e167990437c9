#include "client/lm/tuner/fine_tune.h"

#include <filesystem>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/error.h"

namespace ferry::lm::tuner {
namespace {

using json = nlohmann::json;

[[noreturn]] void Fail(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, message);
}

// An optimizer's keyword arguments, read one by one; what is left unread is refused, as
// Python refuses an unexpected keyword.
class Options {
 public:
  Options(std::string optimizer, const json& options)
      : optimizer_(std::move(optimizer)), options_(options) {}

  double Number(const std::string& key, double fallback) {
    const json* value = Take(key);
    if (value == nullptr) return fallback;
    if (!value->is_number()) Wrong(key, "a number", *value);
    return value->get<double>();
  }
  std::optional<double> OptionalNumber(const std::string& key) {
    const json* value = Take(key);
    if (value == nullptr || value->is_null()) return std::nullopt;
    if (!value->is_number()) Wrong(key, "a number", *value);
    return value->get<double>();
  }
  bool Bool(const std::string& key, bool fallback) {
    const json* value = Take(key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) Wrong(key, "true or false", *value);
    return value->get<bool>();
  }
  std::pair<double, double> Pair(const std::string& key, std::pair<double, double> fallback) {
    const json* value = Take(key);
    if (value == nullptr) return fallback;
    if (!value->is_array() || value->size() != 2 || !(*value)[0].is_number() ||
        !(*value)[1].is_number()) {
      Wrong(key, "a list of two numbers", *value);
    }
    return {(*value)[0].get<double>(), (*value)[1].get<double>()};
  }
  // Throws for a key none of the reads above took.
  void CheckAllRead() const {
    for (const auto& [key, value] : options_.items()) {
      if (!read_.count(key)) {
        Fail(absl::StrCat(
            "[lora config] optimizer_config.", optimizer_, ".", key, " is not an ", "option of ",
            optimizer_, read_.empty() ? "" : absl::StrCat(" (", absl::StrJoin(read_, ", "), ")")));
      }
    }
  }

 private:
  const json* Take(const std::string& key) {
    read_.insert(key);
    auto it = options_.find(key);
    return it == options_.end() ? nullptr : &*it;
  }
  [[noreturn]] void Wrong(const std::string& key, const char* what, const json& value) const {
    Fail(absl::StrCat("[lora config] optimizer_config.", optimizer_, ".", key, " must be ", what,
                      ", got ", value.dump()));
  }

  std::string optimizer_;
  const json& options_;
  std::set<std::string> read_;
};

std::unique_ptr<optimizers::Optimizer> MakeOptimizer(const std::string& name, double lr,
                                                     Options& o) {
  if (name == "adam") {
    const auto betas = o.Pair("betas", {0.9, 0.999});
    const double eps = o.Number("eps", 1e-8);
    return std::make_unique<optimizers::Adam>(lr, betas, eps, o.Bool("bias_correction", false));
  }
  if (name == "adamw") {
    const auto betas = o.Pair("betas", {0.9, 0.999});
    const double eps = o.Number("eps", 1e-8), weight_decay = o.Number("weight_decay", 0.01);
    return std::make_unique<optimizers::AdamW>(lr, betas, eps, weight_decay,
                                               o.Bool("bias_correction", false));
  }
  if (name == "sgd") {
    const double momentum = o.Number("momentum", 0), weight_decay = o.Number("weight_decay", 0),
                 dampening = o.Number("dampening", 0);
    return std::make_unique<optimizers::SGD>(lr, momentum, weight_decay, dampening,
                                             o.Bool("nesterov", false));
  }
  if (name == "muon") {
    const double momentum = o.Number("momentum", 0.95),
                 weight_decay = o.Number("weight_decay", 0.01);
    const bool nesterov = o.Bool("nesterov", true);
    const double ns_steps = o.Number("ns_steps", 5);
    return std::make_unique<optimizers::Muon>(lr, momentum, weight_decay, nesterov,
                                              static_cast<int>(ns_steps));
  }
  if (name == "adafactor") {
    optimizers::AdafactorOptions options;
    options.eps = o.Pair("eps", options.eps);
    options.clip_threshold = o.Number("clip_threshold", options.clip_threshold);
    options.decay_rate = o.Number("decay_rate", options.decay_rate);
    options.beta_1 = o.OptionalNumber("beta_1");
    options.weight_decay = o.Number("weight_decay", options.weight_decay);
    options.scale_parameter = o.Bool("scale_parameter", options.scale_parameter);
    options.relative_step = o.Bool("relative_step", options.relative_step);
    options.warmup_init = o.Bool("warmup_init", options.warmup_init);
    return std::make_unique<optimizers::Adafactor>(lr, options);
  }
  Fail(absl::StrCat("[lora config] optimizer must be adam, adamw, muon, sgd or adafactor, got \"",
                    name, "\""));
}

}  // namespace

void setup_fine_tuning(Model& model, const std::string& fine_tune_type, int num_layers,
                       const LoRAConfig& lora_parameters) {
  const int blocks = model.args().num_hidden_layers;
  if (num_layers > blocks) {
    Fail(absl::StrCat("[setup_fine_tuning] requested to train ", num_layers,
                      " layers but the model only has ", blocks, " layers."));
  }
  model.freeze();
  if (fine_tune_type == "full") {
    unfreeze_layers(model, num_layers);
  } else if (fine_tune_type == "lora" || fine_tune_type == "dora") {
    linear_to_lora_layers(model, num_layers, lora_parameters,
                          /*use_dora=*/fine_tune_type == "dora");
  } else {
    Fail(
        absl::StrCat("[setup_fine_tuning] fine_tune_type must be \"lora\", \"dora\" or "
                     "\"full\", got \"",
                     fine_tune_type, "\""));
  }
}

optimizers::Schedule build_schedule(const ScheduleConfig& config) {
  const std::vector<double>& a = config.arguments;
  auto need = [&](size_t least, size_t most, const char* signature) {
    if (a.size() < least || a.size() > most) {
      Fail(absl::StrCat("[lora config] lr_schedule ", config.name, " takes ", signature,
                        " as its arguments, got ", a.size()));
    }
  };
  optimizers::Schedule schedule;
  if (config.name == "cosine_decay") {
    need(2, 3, "(init, decay_steps[, end])");
    schedule = optimizers::cosine_decay(a[0], static_cast<int64_t>(a[1]), a.size() > 2 ? a[2] : 0);
  } else if (config.name == "exponential_decay") {
    need(2, 2, "(init, decay_rate)");
    schedule = optimizers::exponential_decay(a[0], a[1]);
  } else if (config.name == "step_decay") {
    need(3, 3, "(init, decay_rate, step_size)");
    schedule = optimizers::step_decay(a[0], a[1], static_cast<int64_t>(a[2]));
  } else if (config.name == "linear_schedule") {
    need(3, 3, "(init, end, steps)");
    schedule = optimizers::linear_schedule(a[0], a[1], static_cast<int64_t>(a[2]));
  } else {
    Fail(
        absl::StrCat("[lora config] lr_schedule.name must be cosine_decay, exponential_decay, "
                     "step_decay or linear_schedule, got \"",
                     config.name, "\""));
  }
  if (config.warmup <= 0) return schedule;
  return optimizers::join_schedules(
      {optimizers::linear_schedule(config.warmup_init, a[0], config.warmup), std::move(schedule)},
      {config.warmup + 1});
}

std::unique_ptr<optimizers::Optimizer> build_optimizer(const TrainingConfig& config) {
  auto it = config.optimizer_config.find(config.optimizer);
  const json none = json::object();
  Options options(config.optimizer, it == config.optimizer_config.end() ? none : it->second);
  std::unique_ptr<optimizers::Optimizer> optimizer =
      MakeOptimizer(config.optimizer, config.learning_rate, options);
  options.CheckAllRead();
  if (config.lr_schedule) optimizer->set_learning_rate(build_schedule(*config.lr_schedule));
  return optimizer;
}

TrainingArgs training_args(const TrainingConfig& config) {
  TrainingArgs args;
  args.batch_size = config.batch_size;
  args.iters = config.iters;
  args.val_batches = config.val_batches;
  args.steps_per_report = config.steps_per_report;
  args.steps_per_eval = config.steps_per_eval;
  args.steps_per_save = config.save_every;
  args.max_seq_length = config.max_seq_length;
  args.grad_accumulation_steps = config.grad_accumulation_steps;
  args.grad_checkpoint = config.grad_checkpoint;
  args.seed = config.seed;
  args.adapter_file =
      (std::filesystem::path(config.adapter_path) / "adapters.safetensors").string();
  return args;
}

}  // namespace ferry::lm::tuner
