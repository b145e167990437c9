// Fuses fine-tuned adapters into their model as `mlx_lm.fuse` does: the model at --model with
// the adapters at --adapter_path (LoRA, DoRA, or full fine-tuning's weights, as
// examples/lora and mlx_lm.lora save them) merged into its weights (a quantized layer
// quantized again, or with --dequantize the whole model dequantized), and saved to
// --save_path as mlx-lm saves models. It runs here, on the local device.
//
//   ./bazelw run //examples:fuse -- --model=/models/Qwen2.5-0.5B-Instruct-4bit   (one line)
//       --adapter_path=adapters --save_path=/models/fused

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"
#include "client/lm/convert.h"
#include "client/lm/load.h"
#include "client/lm/tuner/lora.h"

ABSL_FLAG(std::string, model, "mlx_model", "the base model's directory");
ABSL_FLAG(std::string, adapter_path, "adapters", "the adapters' directory");
ABSL_FLAG(std::string, save_path, "fused_model", "where the fused model is saved");
ABSL_FLAG(bool, dequantize, false, "save the model dequantized");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string model_path = absl::GetFlag(FLAGS_model);
  const std::string save_path = absl::GetFlag(FLAGS_save_path);
  const bool dequantize = absl::GetFlag(FLAGS_dequantize);
  try {
    nlohmann::json config = ferry::lm::load_config(model_path);
    std::unique_ptr<ferry::lm::Model> model = ferry::lm::load_model(model_path, ferry::local());
    ferry::lm::tuner::load_adapters(*model, absl::GetFlag(FLAGS_adapter_path));
    ferry::lm::tuner::fuse_lora_layers(*model, dequantize);
    if (dequantize) {
      ferry::lm::dequantize_model(*model);
      config.erase("quantization");
      config.erase("quantization_config");
    }
    ferry::lm::save(save_path, model_path, *model, std::move(config));
    std::printf("ferry fuse: %s with %s saved to %s\n", model_path.c_str(),
                absl::GetFlag(FLAGS_adapter_path).c_str(), save_path.c_str());
    return 0;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "ferry fuse: %s\n", e.what());
    return 1;
  }
}
