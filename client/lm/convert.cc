#include "client/lm/convert.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/error.h"
#include "client/io.h"
#include "client/lm/config_json.h"
#include "client/lm/load.h"
#include "client/nn/quantizable.h"
#include "client/ops.h"
#include "core/dtype.h"

namespace ferry::lm {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

[[noreturn]] void Fail(ErrorCode code, const std::string& message) {
  throw Error(code, absl::StrCat("[convert] ", message));
}

json ReadJson(const fs::path& path) {
  std::ifstream in(path);
  if (!in) Fail(ErrorCode::kNotFound, absl::StrCat("cannot read ", path.string()));
  std::stringstream text;
  text << in.rdbuf();
  json parsed = parse_config_json(text.str());
  if (parsed.is_discarded()) Fail(ErrorCode::kInvalidArgument, path.string() + " is not JSON");
  return parsed;
}

void WriteJson(const json& value, const fs::path& path) {
  std::ofstream out(path);
  out << value.dump(4);
  if (!out) Fail(ErrorCode::kInternal, absl::StrCat("cannot write ", path.string()));
}

// A layer's quantization as config.json records it.
json QuantizationJson(int group_size, int bits, const std::string& mode = "") {
  json q = {{"group_size", group_size}, {"bits", bits}};
  if (!mode.empty()) q["mode"] = mode;
  return q;
}

// mlx_lm.convert's mixed recipes (after llama.cpp's Q4_K_M): v projections and down
// projections of the first and last eighth of the blocks and every third between, and the
// output layer, in high_bits; every other layer in low_bits.
using Recipe = std::function<json(const std::string& path)>;
Recipe MixedRecipe(const std::string& recipe, Model& model, int group_size) {
  int low_bits = 0, high_bits = 6;
  if (recipe == "mixed_2_6") {
    low_bits = 2;
  } else if (recipe == "mixed_3_4") {
    low_bits = 3;
    high_bits = 4;
  } else if (recipe == "mixed_3_6") {
    low_bits = 3;
  } else if (recipe == "mixed_4_6") {
    low_bits = 4;
  } else {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("quant_predicate must be mixed_2_6, mixed_3_4, mixed_3_6 or mixed_4_6, got "
                      "\"",
                      recipe, "\""));
  }
  // Where a block's index stands in a layer's path: in the first down projection's.
  size_t location = 0;
  bool found = false;
  for (const auto& [path, module] : model.named_modules()) {
    if (!absl::StrContains(path, "down_proj")) continue;
    const std::vector<std::string> parts = absl::StrSplit(path, '.');
    for (location = 0; location < parts.size(); ++location) {
      if (!parts[location].empty() &&
          std::all_of(parts[location].begin(), parts[location].end(), ::isdigit)) {
        break;
      }
    }
    found = true;
    break;
  }
  if (!found) {
    Fail(ErrorCode::kInvalidArgument, "the model does not have expected keys for mixed quant");
  }
  const int num_layers = model.args().num_hidden_layers;
  return [=](const std::string& path) {
    const std::vector<std::string> parts = absl::StrSplit(path, '.');
    const int index = parts.size() > location ? std::atoi(parts[location].c_str()) : 0;
    const bool more_bits =
        index < num_layers / 8 || index >= 7 * num_layers / 8 || (index - num_layers / 8) % 3 == 2;
    const bool v = absl::StrContains(path, "v_proj") || absl::StrContains(path, "v_a_proj") ||
                   absl::StrContains(path, "v_b_proj");
    const bool high = (v && more_bits) || (absl::StrContains(path, "down_proj") && more_bits) ||
                      absl::StrContains(path, "lm_head");
    return QuantizationJson(group_size, high ? high_bits : low_bits, "affine");
  };
}

// The weight's last dimension before quantization.
int64_t InputSize(nn::QuantizableLayer& layer) {
  for (const auto& [name, value] : layer.parameters()) {
    if (name == "weight") return value.shape(value.ndim() - 1);
  }
  return 0;
}

// mlx-lm's get_total_parameters: the parameters of the leaf modules (a module's own beside
// children, such as gpt-oss's sinks, are not counted), a quantized layer's weight at its
// unpacked size.
int64_t TotalParameters(const Model& model) {
  int64_t total = 0;
  for (const auto& [path, module] : const_cast<Model&>(model).named_modules()) {
    if (!module->children().empty()) continue;
    auto* layer = dynamic_cast<nn::QuantizableLayer*>(module);
    const bool quantized = layer != nullptr && layer->quantized();
    for (const auto& [name, value] : module->parameters()) {
      if (!quantized) {
        total += value.size();
      } else if (name == "weight") {
        total += value.size() * 32 / layer->quantization()->bits.value_or(4);
      } else if (name == "bias") {
        total += value.size();
      }
    }
  }
  return total;
}

std::optional<Dtype> DtypeNamed(const std::string& name) {
  if (name == "float16") return float16;
  if (name == "bfloat16") return bfloat16;
  if (name == "float32") return float32;
  return std::nullopt;
}

}  // namespace

json load_config(const std::string& model_path) {
  json config = ReadJson(fs::path(model_path) / "config.json");
  const fs::path generation = fs::path(model_path) / "generation_config.json";
  std::error_code error;
  if (fs::exists(generation, error)) {
    std::ifstream in(generation);
    std::stringstream text;
    text << in.rdbuf();
    const json parsed = parse_config_json(text.str());  // mlx-lm passes over one not JSON
    if (parsed.is_object() && parsed.contains("eos_token_id") &&
        !(parsed["eos_token_id"].is_boolean() && !parsed["eos_token_id"].get<bool>()) &&
        !parsed["eos_token_id"].is_null()) {
      config["eos_token_id"] = parsed["eos_token_id"];
    }
  }
  return config;
}

void cast_model(Model& model, Dtype dtype) {
  model.apply([&](const Array& p) { return astype(p, dtype); },
              [&](const std::string& name, const Array& p) {
                return model.casts(name) && core::IsFloating(p.dtype());
              });
}

json quantize_model(Model& model, json config, std::optional<int> group_size,
                    std::optional<int> bits, const std::string& mode, const std::string& recipe) {
  static const std::map<std::string, std::pair<int, int>> kDefaults = {
      {"affine", {64, 4}}, {"mxfp4", {32, 4}}, {"nvfp4", {16, 4}}, {"mxfp8", {32, 8}}};
  auto defaults = kDefaults.find(mode);
  if (defaults == kDefaults.end()) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("q_mode must be affine, mxfp4, nvfp4 or mxfp8, got \"", mode, "\""));
  }
  const int g = group_size.value_or(defaults->second.first);
  const int b = bits.value_or(defaults->second.second);
  Recipe mixed;
  if (!recipe.empty()) {
    if (mode != "affine") {
      Fail(ErrorCode::kInvalidArgument, "quant predicates only support affine quantization");
    }
    mixed = MixedRecipe(recipe, model, g);
  }
  // A model quantized already (in part) records each layer quantized now under its path.
  const bool fine_grained = config.contains("quantization");
  if (!fine_grained) config["quantization"] = QuantizationJson(g, b, mode);
  json& recorded = config["quantization"];
  model.apply_to_modules([&](const std::string& path, nn::Module& module) {
    auto* layer = dynamic_cast<nn::QuantizableLayer*>(&module);
    if (layer == nullptr || layer->quantized() || InputSize(*layer) % g != 0) return;
    json own;
    if (mixed) {
      own = mixed(path);
    } else if (std::optional<std::pair<int, int>> q = model.own_quantization(path)) {
      own = QuantizationJson(q->first, q->second);
    }
    if (own.is_object()) {
      recorded[path] = own;
      layer->quantize(own["group_size"].get<int>(), own["bits"].get<int>(),
                      own.value("mode", std::string("affine")));
      return;
    }
    if (fine_grained) recorded[path] = QuantizationJson(g, b, mode);
    layer->quantize(g, b, mode);
  });
  config["quantization_config"] = config["quantization"];
  return config;
}

void dequantize_model(Model& model) {
  model.apply_to_modules([](const std::string&, nn::Module& module) {
    auto* layer = dynamic_cast<nn::QuantizableLayer*>(&module);
    if (layer != nullptr && layer->quantized()) layer->unquantize();
  });
}

void save_model(const std::string& dir, const Model& model) {
  constexpr int64_t kMaxShardBytes = int64_t{5} << 30;  // mlx-lm's MAX_FILE_SIZE_GB
  fs::create_directories(dir);
  std::vector<std::unordered_map<std::string, Array>> shards;
  int64_t shard_bytes = 0, total_bytes = 0;
  for (const auto& [name, value] : model.parameters()) {
    const int64_t bytes = value.nbytes();
    if (shards.empty() || shard_bytes + bytes > kMaxShardBytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().emplace(name, value);
    shard_bytes += bytes;
    total_bytes += bytes;
  }
  json weight_map = json::object();  // sorted by name, as mlx-lm sorts it
  for (size_t i = 0; i < shards.size(); ++i) {
    char shard_name[64];
    std::snprintf(shard_name, sizeof(shard_name), "model-%05zu-of-%05zu.safetensors", i + 1,
                  shards.size());
    const std::string file = shards.size() > 1 ? shard_name : "model.safetensors";
    for (const auto& [name, value] : shards[i]) weight_map[name] = file;
    save_safetensors((fs::path(dir) / file).string(), std::move(shards[i]), {{"format", "mlx"}});
  }
  const json index = {
      {"metadata", {{"total_size", total_bytes}, {"total_parameters", TotalParameters(model)}}},
      {"weight_map", weight_map}};
  WriteJson(index, fs::path(dir) / "model.safetensors.index.json");
}

void save_config(json config, const std::string& path) {
  config.erase("_name_or_path");
  config.erase("vision_config");
  if (config.contains("quantization")) config["quantization_config"] = config["quantization"];
  WriteJson(config, path);  // nlohmann::json keeps its keys sorted
}

void save(const std::string& dst, const std::string& src, const Model& model, json config) {
  save_model(dst, model);
  save_config(std::move(config), (fs::path(dst) / "config.json").string());
  // What tokenizer.save_pretrained writes, as the source has it, and mlx-lm's extra copies.
  static const char* kTokenizerFiles[] = {"tokenizer.json",
                                          "tokenizer_config.json",
                                          "special_tokens_map.json",
                                          "added_tokens.json",
                                          "chat_template.jinja",
                                          "chat_template.json",
                                          "tokenizer.model",
                                          "vocab.json",
                                          "merges.txt",
                                          "generation_config.json"};
  std::error_code error;
  for (const char* name : kTokenizerFiles) {
    const fs::path from = fs::path(src) / name;
    if (fs::exists(from, error)) {
      fs::copy_file(from, fs::path(dst) / name, fs::copy_options::overwrite_existing);
    }
  }
  for (const auto& entry : fs::directory_iterator(src, error)) {
    if (entry.path().extension() == ".py") {
      fs::copy_file(entry.path(), fs::path(dst) / entry.path().filename(),
                    fs::copy_options::overwrite_existing);
    }
  }
}

void convert(const std::string& hf_path, const std::string& mlx_path, const ConvertOptions& options,
             const Device& device) {
  std::error_code error;
  if (fs::exists(mlx_path, error)) {
    Fail(ErrorCode::kAlreadyExists,
         absl::StrCat("cannot save to the path ", mlx_path,
                      " as it already exists; delete it or name another"));
  }
  if (options.quantize && options.dequantize) {
    Fail(ErrorCode::kInvalidArgument, "choose either quantize or dequantize, not both");
  }
  if (!options.dtype.empty() && !DtypeNamed(options.dtype)) {
    Fail(ErrorCode::kInvalidArgument,
         absl::StrCat("dtype must be float16, bfloat16 or float32, got \"", options.dtype, "\""));
  }
  json config = load_config(hf_path);
  std::unique_ptr<Model> model = load_model(hf_path, device);
  // Without a dtype, config.json's torch_dtype (or its text_config's dtype), as mlx-lm.
  std::string dtype = options.dtype;
  if (dtype.empty() && config.contains("torch_dtype") && config["torch_dtype"].is_string()) {
    dtype = config["torch_dtype"].get<std::string>();
  }
  if (dtype.empty() && config.contains("text_config") && config["text_config"].is_object() &&
      config["text_config"].contains("dtype") && config["text_config"]["dtype"].is_string()) {
    dtype = config["text_config"]["dtype"].get<std::string>();
  }
  if (std::optional<Dtype> cast = DtypeNamed(dtype)) cast_model(*model, *cast);
  if (options.quantize) {
    config = quantize_model(*model, std::move(config), options.q_group_size, options.q_bits,
                            options.q_mode, options.quant_predicate);
  }
  if (options.dequantize) {
    config.erase("quantization");
    config.erase("quantization_config");
    dequantize_model(*model);
  }
  save(mlx_path, hf_path, *model, std::move(config));
}

}  // namespace ferry::lm
