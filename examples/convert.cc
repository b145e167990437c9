// Converts a language model as `mlx_lm.convert` does: a Hugging Face or mlx-lm directory
// loaded, cast (--dtype; config.json's torch_dtype by default), quantized (-q: --q_bits in
// groups of --q_group_size, or a mixed recipe such as --quant_predicate=mixed_3_6) or
// dequantized (-d), and saved to --mlx_path as mlx-lm saves models, so mlx_lm.load and
// ferry::lm::load (examples/generate --model) both read it. It runs here, on the local device.
//
//   ./bazelw run //examples:convert -- --hf_path=/models/Qwen3-8B --mlx_path=/models/Qwen3-8B-4bit
//   -q

#include "client/lm/convert.h"

#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "client/ferry.h"

ABSL_FLAG(std::string, hf_path, "", "the model directory to convert");
ABSL_FLAG(std::string, mlx_path, "mlx_model", "where the converted model is saved");
ABSL_FLAG(bool, q, false, "quantize (mlx_lm.convert's -q)");
ABSL_FLAG(int, q_group_size, 0, "quantization group size; 0: the mode's default (affine: 64)");
ABSL_FLAG(int, q_bits, 0, "bits per weight; 0: the mode's default (affine: 4)");
ABSL_FLAG(std::string, q_mode, "affine", "affine, mxfp4, nvfp4 or mxfp8");
ABSL_FLAG(std::string, quant_predicate, "",
          "a mixed recipe: mixed_2_6, mixed_3_4, mixed_3_6, mixed_4_6");
ABSL_FLAG(std::string, dtype, "", "float16, bfloat16 or float32; empty: config.json's torch_dtype");
ABSL_FLAG(bool, d, false, "dequantize a quantized model (mlx_lm.convert's -d)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  ferry::lm::ConvertOptions options;
  options.quantize = absl::GetFlag(FLAGS_q);
  if (const int g = absl::GetFlag(FLAGS_q_group_size)) options.q_group_size = g;
  if (const int b = absl::GetFlag(FLAGS_q_bits)) options.q_bits = b;
  options.q_mode = absl::GetFlag(FLAGS_q_mode);
  options.quant_predicate = absl::GetFlag(FLAGS_quant_predicate);
  options.dtype = absl::GetFlag(FLAGS_dtype);
  options.dequantize = absl::GetFlag(FLAGS_d);
  const std::string hf_path = absl::GetFlag(FLAGS_hf_path),
                    mlx_path = absl::GetFlag(FLAGS_mlx_path);
  if (hf_path.empty()) {
    std::fprintf(stderr, "ferry convert: --hf_path names the model to convert\n");
    return 1;
  }
  try {
    ferry::lm::convert(hf_path, mlx_path, options, ferry::local());
    const nlohmann::json config = ferry::lm::load_config(mlx_path);
    std::printf("ferry convert: %s saved to %s%s\n", hf_path.c_str(), mlx_path.c_str(),
                config.contains("quantization")
                    ? (" (quantized: " + config["quantization"].dump() + ")").c_str()
                    : "");
    return 0;
  } catch (const ferry::Error& e) {
    std::fprintf(stderr, "ferry convert: %s\n", e.what());
    return 1;
  }
}
