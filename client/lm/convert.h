#ifndef FERRY_CLIENT_LM_CONVERT_H_
#define FERRY_CLIENT_LM_CONVERT_H_

// mlx_lm.convert, and the saving mlx_lm.fuse shares with it: a model cast, quantized (its
// own predicate or mlx-lm's mixed recipes) or dequantized, then saved as mlx-lm saves one
// (safetensors shards and their index, config.json, the tokenizer's files), so that
// mlx_lm.load and ferry::lm::load both read it.
//
//   ferry::lm::ConvertOptions options;
//   options.quantize = true;  // 4 bits in groups of 64, mlx-lm's defaults
//   ferry::lm::convert("/models/Qwen3-8B", "/models/Qwen3-8B-4bit", options);

#include <optional>
#include <string>

#include "client/device.h"
#include "client/lm/model.h"
#include "nlohmann/json.hpp"

namespace ferry::lm {

// mlx_lm.convert's options.
struct ConvertOptions {
  bool quantize = false;
  std::optional<int> q_group_size;  // the mode's default: affine 64, mxfp4/mxfp8 32, nvfp4 16
  std::optional<int> q_bits;        // affine 4, mxfp8 8, the others 4
  std::string q_mode = "affine";
  std::string quant_predicate;  // a mixed recipe: mixed_2_6, mixed_3_4, mixed_3_6, mixed_4_6
  std::string dtype;            // float16, bfloat16, float32; empty: config.json's torch_dtype
  bool dequantize = false;
};

// mlx-lm's load_config: config.json, its eos_token_id replaced by generation_config.json's.
nlohmann::json load_config(const std::string& model_path);

// Every floating parameter cast to dtype, but those the model keeps in their own
// (Model::casts: DeepSeek V3's score correction bias).
void cast_model(Model& model, Dtype dtype);

// mlx-lm's quantize_model: every layer that can be, whose input size is a multiple of the
// group size, quantized, with the recipe's (or else the model's own: Model::own_quantization)
// settings where they differ; the config returned records them ("quantization" and
// "quantization_config", a layer's own under its path). Throws INVALID_ARGUMENT for an
// unknown mode or recipe, or a recipe with another mode than affine.
nlohmann::json quantize_model(Model& model, nlohmann::json config, std::optional<int> group_size,
                              std::optional<int> bits, const std::string& mode = "affine",
                              const std::string& recipe = "");

// mlx-lm's dequantize_model: every quantized layer a plain one again.
void dequantize_model(Model& model);

// mlx-lm's save_model: the parameters in shards of at most 5 GiB (model.safetensors, or
// model-0000i-of-0000n.safetensors), tagged {"format": "mlx"}, and
// model.safetensors.index.json (total_size, total_parameters, weight_map).
void save_model(const std::string& dir, const Model& model);

// mlx-lm's save_config: config.json without _name_or_path and vision_config, its
// quantization also as quantization_config, keys sorted.
void save_config(nlohmann::json config, const std::string& path);

// mlx-lm's save: save_model and save_config into dst, with the tokenizer's files (and any
// *.py, generation_config.json) of the model directory src.
void save(const std::string& dst, const std::string& src, const Model& model,
          nlohmann::json config);

// mlx_lm.convert: the model at hf_path loaded (on `device`), cast, quantized or dequantized
// as `options` say, and saved at mlx_path. Throws ALREADY_EXISTS when mlx_path exists,
// INVALID_ARGUMENT for quantize with dequantize or an unknown dtype or recipe.
void convert(const std::string& hf_path, const std::string& mlx_path,
             const ConvertOptions& options = {}, const Device& device = default_device());

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_CONVERT_H_
