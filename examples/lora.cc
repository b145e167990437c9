// Fine-tunes a language model with LoRA on a ferryd daemon, as `mlx_lm.lora --train` does on
// a Mac: the model is loaded on the daemon and frozen, the layers of its last --num_layers
// blocks (Linear, a mixture's experts) get low-rank adapters (QLoRA over a quantized model;
// DoRA with --fine_tune_type=dora), and Adam trains them on DIR/train.jsonl, reporting the
// validation loss on DIR/valid.jsonl. Each step's forward pass, backward pass and update
// are one Execute. The adapters are saved as mlx-lm saves them
// (--adapter_path/adapters.safetensors and adapter_config.json), so
// `mlx_lm.generate --adapter-path` and ferry's examples/generate --adapter_path both load
// them; this program loads them back into a fresh model and checks the validation loss.
// Starts its own ferryd unless --device names one (or says "local").
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
#include "client/lm/tuner/trainer.h"
#include "examples/local_ferryd.h"

ABSL_FLAG(std::string, model, "", "model directory; empty: examples/models/ferry-tiny-llama");
ABSL_FLAG(std::string, data, "",
          "directory of train.jsonl and valid.jsonl; empty: "
          "examples/lora_data");
ABSL_FLAG(std::string, device, "",
          "\"local\", or host:port of a running ferryd; empty: start one here");
ABSL_FLAG(int, iters, 1000, "training steps");
ABSL_FLAG(int, batch_size, 4, "examples per step");
ABSL_FLAG(double, learning_rate, 1e-5, "Adam's learning rate");
ABSL_FLAG(int, num_layers, 16, "blocks adapted, counted from the last");
ABSL_FLAG(int, rank, 8, "the adapters' rank");
ABSL_FLAG(double, scale, 20.0, "the adapters' scale (mlx-lm's, not an alpha)");
ABSL_FLAG(double, dropout, 0.0, "dropout of the adapters' input");
ABSL_FLAG(std::string, fine_tune_type, "lora",
          "\"lora\" or \"dora\" (mlx_lm.lora's --fine-tune-type; not \"full\")");
ABSL_FLAG(bool, mask_prompt, false, "count only the completions in the loss");
ABSL_FLAG(std::string, adapter_path, "adapters", "where the adapters are saved");
ABSL_FLAG(int, steps_per_report, 10, "training steps between loss reports");
ABSL_FLAG(int, steps_per_eval, 200, "training steps between validations");
ABSL_FLAG(int, val_batches, 25, "validation batches; -1: the whole set");
ABSL_FLAG(int, max_seq_length, 2048, "tokens an example is cut to");
ABSL_FLAG(int, grad_accumulation_steps, 1, "steps whose gradients one update takes");
ABSL_FLAG(uint64_t, seed, 0, "seed of the adapters' initialization and the batch order");

namespace {

// A path under the program's runfiles when it is there (bazel run), else as given.
std::string RunfilesPath(const char* argv0, const std::string& path) {
  const std::string under = std::string(argv0) + ".runfiles/ferry/" + path;
  return std::filesystem::exists(under) ? under : path;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::string model_path = absl::GetFlag(FLAGS_model);
  if (model_path.empty()) model_path = RunfilesPath(argv[0], "examples/models/ferry-tiny-llama");
  std::string data = absl::GetFlag(FLAGS_data);
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
    ferry::random::seed(absl::GetFlag(FLAGS_seed));
    auto [model, tokenizer] = ferry::lm::load(model_path, device);
    namespace tuner = ferry::lm::tuner;
    const bool mask_prompt = absl::GetFlag(FLAGS_mask_prompt);
    const std::vector<tuner::Example> train_set =
        tuner::load_dataset(data + "/train.jsonl", tokenizer, mask_prompt);
    const std::vector<tuner::Example> val_set =
        tuner::load_dataset(data + "/valid.jsonl", tokenizer, mask_prompt);
    if (train_set.empty()) {
      std::fprintf(stderr, "ferry lora: no training examples in %s/train.jsonl\n", data.c_str());
      return 1;
    }

    tuner::AdapterConfig config;
    config.model = model_path;
    config.num_layers = absl::GetFlag(FLAGS_num_layers);
    config.lora_parameters.rank = absl::GetFlag(FLAGS_rank);
    config.lora_parameters.scale = absl::GetFlag(FLAGS_scale);
    config.lora_parameters.dropout = absl::GetFlag(FLAGS_dropout);
    config.fine_tune_type = absl::GetFlag(FLAGS_fine_tune_type);
    if (config.fine_tune_type != "lora" && config.fine_tune_type != "dora") {
      std::fprintf(stderr,
                   "ferry lora: --fine_tune_type must be \"lora\" or \"dora\", got \"%s\"\n",
                   config.fine_tune_type.c_str());
      return 1;
    }
    model->freeze();
    tuner::linear_to_lora_layers(*model, config.num_layers, config.lora_parameters,
                                 /*use_dora=*/config.fine_tune_type == "dora");
    int64_t total = 0, trainable = 0;
    for (const auto& [name, p] : model->parameters()) total += p.size();
    for (const auto& [name, p] : model->trainable_parameters()) trainable += p.size();
    std::printf("ferry lora: %s on %s, %zu training and %zu validation examples\n",
                model_path.c_str(), address.empty() ? "the local device" : address.c_str(),
                train_set.size(), val_set.size());
    std::printf("Trainable parameters: %.3f%% (%.3fM/%.3fM)\n", 100.0 * trainable / total,
                trainable / 1e6, total / 1e6);

    tuner::TrainingArgs args;
    args.batch_size = absl::GetFlag(FLAGS_batch_size);
    args.iters = absl::GetFlag(FLAGS_iters);
    args.val_batches = absl::GetFlag(FLAGS_val_batches);
    args.steps_per_report = absl::GetFlag(FLAGS_steps_per_report);
    args.steps_per_eval = absl::GetFlag(FLAGS_steps_per_eval);
    args.max_seq_length = absl::GetFlag(FLAGS_max_seq_length);
    args.grad_accumulation_steps = absl::GetFlag(FLAGS_grad_accumulation_steps);
    args.seed = absl::GetFlag(FLAGS_seed);
    const std::string adapter_path = absl::GetFlag(FLAGS_adapter_path);
    std::filesystem::create_directories(adapter_path);
    args.adapter_file = adapter_path + "/adapters.safetensors";
    ferry::optimizers::Adam adam(absl::GetFlag(FLAGS_learning_rate));
    const ferry::DeviceStats before = device.stats();
    double first_train = NAN, last_train = NAN;
    int train_reports = 0;
    tuner::train(*model, adam, train_set, val_set, args, [&](const tuner::Report& r) {
      if (r.validation) {
        std::printf("Iter %d: Val loss %.3f, Val took %.3fs\n", r.iteration, r.loss, r.seconds);
      } else {
        std::printf("Iter %d: Train loss %.3f, It/sec %.3f, Tokens/sec %.1f\n", r.iteration, r.loss,
                    args.steps_per_report / r.seconds, r.tokens / r.seconds);
        if (train_reports++ == 0) first_train = r.loss;
        last_train = r.loss;
      }
      std::fflush(stdout);
    });
    const ferry::DeviceStats after = device.stats();
    tuner::save_adapters(*model, adapter_path, config);
    std::printf(
        "Saved adapters to %s/adapters.safetensors (%lld Execute for %d steps, %lld "
        "buffers written over in place)\n",
        adapter_path.c_str(), static_cast<long long>(after.executes - before.executes), args.iters,
        static_cast<long long>(after.donated - before.donated));
    // Judged between the first and the last report, when there are two.
    const bool judged = train_reports >= 2, fell = !judged || last_train < first_train;
    if (judged) {
      std::printf("the training loss fell: %s (%.3f to %.3f)\n", fell ? "yes" : "no", first_train,
                  last_train);
    }

    // As mlx_lm.generate --adapter-path would: a fresh model, the saved adapters loaded.
    std::unique_ptr<ferry::lm::Model> reloaded = ferry::lm::load_model(model_path, device);
    tuner::load_adapters(*reloaded, adapter_path);
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
