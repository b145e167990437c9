// Fine-tunes a language model on a ferryd daemon, as `mlx_lm.lora --train` does on a Mac:
// the model is loaded on the daemon and frozen, then the layers of its last --num_layers
// blocks (Linear, a mixture's experts) get low-rank adapters (QLoRA over a quantized model;
// DoRA with --fine_tune_type=dora) or, with --fine_tune_type=full, those blocks' own
// weights train. The --optimizer (adam, adamw, muon, sgd, adafactor) trains them on
// DIR/train.jsonl, reporting the validation loss on DIR/valid.jsonl (and the test loss on
// DIR/test.jsonl with --test). Each step's forward pass, backward pass and update are one
// Execute. The weights are saved as mlx-lm saves them (--adapter_path/adapters.safetensors
// and adapter_config.json), so `mlx_lm.generate --adapter-path` and ferry's
// examples/generate --adapter_path both load them; this program loads them back into a
// fresh model and checks the validation loss. Starts its own ferryd unless --device names
// one (or says "local").
//
// --config=FILE reads an mlx_lm.lora YAML configuration (the only place mlx-lm takes a
// learning-rate schedule, optimizer options or LoRA keys from); flags given on the command
// line override it, as mlx_lm.lora's do.
//
//   ./bazelw run //examples:lora
//   ./bazelw run //examples:lora -- --model=/models/Qwen2.5-0.5B-Instruct-4bit   (one line)
//       --data=/data/wikisql --device=gpu-node-0:7070 --iters=600 --num_layers=16

#include "client/lm/tuner/lora.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "client/lm/load.h"
#include "client/lm/tuner/datasets.h"
#include "client/lm/tuner/fine_tune.h"
#include "client/lm/tuner/trainer.h"
#include "client/lm/tuner/training_config.h"
#include "examples/local_ferryd.h"

ABSL_FLAG(std::string, model, "", "model directory; empty: examples/models/ferry-tiny-llama");
ABSL_FLAG(std::string, data, "",
          "directory of train.jsonl and valid.jsonl; empty: "
          "examples/lora_data");
ABSL_FLAG(std::string, device, "",
          "\"local\", or host:port of a running ferryd; empty: start one here");
ABSL_FLAG(int, iters, 1000, "training steps");
ABSL_FLAG(int, batch_size, 4, "examples per step");
ABSL_FLAG(double, learning_rate, 1e-5, "the optimizer's learning rate (without a schedule)");
ABSL_FLAG(std::string, optimizer, "adam", "adam, adamw, muon, sgd or adafactor");
ABSL_FLAG(int, num_layers, 16, "blocks adapted, counted from the last");
ABSL_FLAG(int, rank, 8, "the adapters' rank");
ABSL_FLAG(double, scale, 20.0, "the adapters' scale (mlx-lm's, not an alpha)");
ABSL_FLAG(double, dropout, 0.0, "dropout of the adapters' input");
ABSL_FLAG(std::string, fine_tune_type, "lora",
          "\"lora\", \"dora\" or \"full\" (mlx_lm.lora's --fine-tune-type)");
ABSL_FLAG(bool, mask_prompt, false, "count only the completions in the loss");
ABSL_FLAG(std::string, adapter_path, "adapters", "where the adapters are saved");
ABSL_FLAG(std::string, resume_adapter_file, "", "weights to resume training from");
ABSL_FLAG(int, save_every, 100, "training steps between saves of the adapters");
ABSL_FLAG(bool, test, false, "evaluate on DIR/test.jsonl after training");
ABSL_FLAG(int, test_batches, 500, "test batches; -1: the whole set");
ABSL_FLAG(std::string, config, "",
          "an mlx_lm.lora YAML configuration; flags on the command line override it");
ABSL_FLAG(int, steps_per_report, 10, "training steps between loss reports");
ABSL_FLAG(int, steps_per_eval, 200, "training steps between validations");
ABSL_FLAG(int, val_batches, 25, "validation batches; -1: the whole set");
ABSL_FLAG(int, max_seq_length, 2048, "tokens an example is cut to");
ABSL_FLAG(int, grad_accumulation_steps, 1, "steps whose gradients one update takes");
ABSL_FLAG(bool, grad_checkpoint, false,
          "recompute each block in the backward pass instead of keeping its activations");
ABSL_FLAG(uint64_t, seed, 0, "seed of the adapters' initialization and the batch order");

namespace {

namespace tuner = ferry::lm::tuner;

// A path under the program's runfiles when it is there (bazel run), else as given.
std::string RunfilesPath(const char* argv0, const std::string& path) {
  const std::string under = std::string(argv0) + ".runfiles/ferry/" + path;
  return std::filesystem::exists(under) ? under : path;
}

// --config's value, read before the other flags so that they override the file.
std::string ConfigPath(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    for (const std::string flag : {"--config", "-config"}) {
      if (arg.rfind(flag + "=", 0) == 0) return arg.substr(flag.size() + 1);
      if (arg == flag && i + 1 < argc) return argv[i + 1];
    }
  }
  return "";
}

// The configuration file's options as the flags' values, before the command line sets its own.
void SetFlagsFrom(const tuner::TrainingConfig& c) {
  absl::SetFlag(&FLAGS_model, c.model);
  absl::SetFlag(&FLAGS_data, c.data);
  absl::SetFlag(&FLAGS_iters, c.iters);
  absl::SetFlag(&FLAGS_batch_size, c.batch_size);
  absl::SetFlag(&FLAGS_learning_rate, c.learning_rate);
  absl::SetFlag(&FLAGS_optimizer, c.optimizer);
  absl::SetFlag(&FLAGS_num_layers, c.num_layers);
  absl::SetFlag(&FLAGS_rank, c.lora_parameters.rank);
  absl::SetFlag(&FLAGS_scale, c.lora_parameters.scale);
  absl::SetFlag(&FLAGS_dropout, c.lora_parameters.dropout);
  absl::SetFlag(&FLAGS_fine_tune_type, c.fine_tune_type);
  absl::SetFlag(&FLAGS_mask_prompt, c.mask_prompt);
  absl::SetFlag(&FLAGS_adapter_path, c.adapter_path);
  absl::SetFlag(&FLAGS_resume_adapter_file, c.resume_adapter_file);
  absl::SetFlag(&FLAGS_save_every, c.save_every);
  absl::SetFlag(&FLAGS_test, c.test);
  absl::SetFlag(&FLAGS_test_batches, c.test_batches);
  absl::SetFlag(&FLAGS_steps_per_report, c.steps_per_report);
  absl::SetFlag(&FLAGS_steps_per_eval, c.steps_per_eval);
  absl::SetFlag(&FLAGS_val_batches, c.val_batches);
  absl::SetFlag(&FLAGS_max_seq_length, c.max_seq_length);
  absl::SetFlag(&FLAGS_grad_accumulation_steps, c.grad_accumulation_steps);
  absl::SetFlag(&FLAGS_grad_checkpoint, c.grad_checkpoint);
  absl::SetFlag(&FLAGS_seed, c.seed);
}

// The flags' values over the file's options (its schedule, optimizer options and keys).
tuner::TrainingConfig FromFlags(tuner::TrainingConfig c) {
  c.model = absl::GetFlag(FLAGS_model);
  c.data = absl::GetFlag(FLAGS_data);
  c.iters = absl::GetFlag(FLAGS_iters);
  c.batch_size = absl::GetFlag(FLAGS_batch_size);
  c.learning_rate = absl::GetFlag(FLAGS_learning_rate);
  c.optimizer = absl::GetFlag(FLAGS_optimizer);
  c.num_layers = absl::GetFlag(FLAGS_num_layers);
  c.lora_parameters.rank = absl::GetFlag(FLAGS_rank);
  c.lora_parameters.scale = absl::GetFlag(FLAGS_scale);
  c.lora_parameters.dropout = absl::GetFlag(FLAGS_dropout);
  c.fine_tune_type = absl::GetFlag(FLAGS_fine_tune_type);
  c.mask_prompt = absl::GetFlag(FLAGS_mask_prompt);
  c.adapter_path = absl::GetFlag(FLAGS_adapter_path);
  c.resume_adapter_file = absl::GetFlag(FLAGS_resume_adapter_file);
  c.save_every = absl::GetFlag(FLAGS_save_every);
  c.test = absl::GetFlag(FLAGS_test);
  c.test_batches = absl::GetFlag(FLAGS_test_batches);
  c.steps_per_report = absl::GetFlag(FLAGS_steps_per_report);
  c.steps_per_eval = absl::GetFlag(FLAGS_steps_per_eval);
  c.val_batches = absl::GetFlag(FLAGS_val_batches);
  c.max_seq_length = absl::GetFlag(FLAGS_max_seq_length);
  c.grad_accumulation_steps = absl::GetFlag(FLAGS_grad_accumulation_steps);
  c.grad_checkpoint = absl::GetFlag(FLAGS_grad_checkpoint);
  c.seed = absl::GetFlag(FLAGS_seed);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  tuner::TrainingConfig config;
  const std::string config_path = ConfigPath(argc, argv);
  try {
    if (!config_path.empty()) config = tuner::load_training_config(config_path);
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "ferry lora: %s\n", e.what());
    return 1;
  }
  SetFlagsFrom(config);
  absl::ParseCommandLine(argc, argv);
  config = FromFlags(std::move(config));
  std::string model_path = config.model;
  if (model_path.empty()) model_path = RunfilesPath(argv[0], "examples/models/ferry-tiny-llama");
  std::string data = config.data;
  if (data.empty()) data = RunfilesPath(argv[0], "examples/lora_data");

  std::unique_ptr<ferry::server::FerrydProcess> daemon;
  const std::string device_flag = absl::GetFlag(FLAGS_device);
  std::string address;
  if (device_flag != "local") {
    address = ferry::examples::RemoteOrLocalFerryd(argv[0], "lora", device_flag, &daemon);
    if (address.empty()) return 1;
  }
  try {
    const ferry::Device device = address.empty() ? ferry::local() : ferry::connect(address);
    ferry::set_default_device(device);  // the adapters are drawn there too
    ferry::random::seed(config.seed);
    auto [model, tokenizer] = ferry::lm::load(model_path, device);
    const std::vector<tuner::Example> train_set =
        tuner::load_dataset(data + "/train.jsonl", tokenizer, config.mask_prompt);
    const std::vector<tuner::Example> val_set =
        tuner::load_dataset(data + "/valid.jsonl", tokenizer, config.mask_prompt);
    if (train_set.empty()) {
      std::fprintf(stderr, "ferry lora: no training examples in %s/train.jsonl\n", data.c_str());
      return 1;
    }

    tuner::setup_fine_tuning(*model, config.fine_tune_type, config.num_layers,
                             config.lora_parameters);
    if (!config.resume_adapter_file.empty()) {
      std::printf("Loading fine-tuned weights from %s\n", config.resume_adapter_file.c_str());
      model->load_weights(config.resume_adapter_file, /*strict=*/false);
    }
    int64_t total = 0, trainable = 0;
    for (const auto& [name, p] : model->parameters()) total += p.size();
    for (const auto& [name, p] : model->trainable_parameters()) trainable += p.size();
    std::printf(
        "ferry lora: %s on %s, %s of %d layers with %s, %zu training and %zu "
        "validation examples\n",
        model_path.c_str(), address.empty() ? "the local device" : address.c_str(),
        config.fine_tune_type.c_str(), config.num_layers, config.optimizer.c_str(),
        train_set.size(), val_set.size());
    std::printf("Trainable parameters: %.3f%% (%.3fM/%.3fM)\n", 100.0 * trainable / total,
                trainable / 1e6, total / 1e6);

    const tuner::TrainingArgs args = tuner::training_args(config);
    std::filesystem::create_directories(config.adapter_path);
    tuner::AdapterConfig adapter_config;
    adapter_config.model = model_path;
    adapter_config.num_layers = config.num_layers;
    adapter_config.lora_parameters = config.lora_parameters;
    adapter_config.fine_tune_type = config.fine_tune_type;
    const std::unique_ptr<ferry::optimizers::Optimizer> optimizer = tuner::build_optimizer(config);
    const ferry::DeviceStats before = device.stats();
    double first_train = NAN, last_train = NAN;
    int train_reports = 0;
    tuner::train(*model, *optimizer, train_set, val_set, args, [&](const tuner::Report& r) {
      if (r.validation) {
        std::printf("Iter %d: Val loss %.3f, Val took %.3fs\n", r.iteration, r.loss, r.seconds);
      } else {
        std::printf("Iter %d: Train loss %.3f, Learning Rate %.3e, It/sec %.3f, Tokens/sec %.1f\n",
                    r.iteration, r.loss, optimizer->learning_rate(),
                    args.steps_per_report / r.seconds, r.tokens / r.seconds);
        if (train_reports++ == 0) first_train = r.loss;
        last_train = r.loss;
      }
      std::fflush(stdout);
    });
    const ferry::DeviceStats after = device.stats();
    tuner::save_adapters(*model, config.adapter_path, adapter_config);
    std::printf(
        "Saved adapters to %s/adapters.safetensors (%lld Execute for %d steps, %lld "
        "buffers written over in place)\n",
        config.adapter_path.c_str(), static_cast<long long>(after.executes - before.executes),
        args.iters, static_cast<long long>(after.donated - before.donated));
    // Judged between the first and the last report, when there are two.
    const bool judged = train_reports >= 2, fell = !judged || last_train < first_train;
    if (judged) {
      std::printf("the training loss fell: %s (%.3f to %.3f)\n", fell ? "yes" : "no", first_train,
                  last_train);
    }
    if (config.test) {
      const std::vector<tuner::Example> test_set =
          tuner::load_dataset(data + "/test.jsonl", tokenizer, config.mask_prompt);
      const double loss = tuner::evaluate(*model, test_set, args.batch_size, config.test_batches,
                                          args.max_seq_length);
      std::printf("Test loss %.3f, Test ppl %.3f.\n", loss, std::exp(loss));
    }

    // As mlx_lm.generate --adapter-path would: a fresh model, the saved adapters loaded.
    std::unique_ptr<ferry::lm::Model> reloaded = ferry::lm::load_model(model_path, device);
    tuner::load_adapters(*reloaded, config.adapter_path);
    if (!val_set.empty()) {
      const double trained =
          tuner::evaluate(*model, val_set, args.batch_size, args.val_batches, args.max_seq_length);
      const double val = tuner::evaluate(*reloaded, val_set, args.batch_size, args.val_batches,
                                         args.max_seq_length);
      const bool same = std::abs(val - trained) <= 1e-4 * std::abs(trained);
      std::printf("the saved adapters reload: val loss %.4f (trained model %.4f): %s\n", val,
                  trained, same ? "yes" : "no");
      if (!same) return 1;
    }
    return fell ? 0 : 1;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "ferry lora: %s\n", e.what());
    return 1;
  }
}
