#include "client/lm/tuner/lora.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <unordered_map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/array_node.h"
#include "client/error.h"
#include "client/io.h"
#include "client/lm/switch_layers.h"
#include "client/nn/embedding.h"
#include "client/ops.h"
#include "client/random.h"
#include "core/shape.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::tuner {
namespace {

// The blocks mlx-lm's model.layers lists: the modules at "<prefix>layers.N", in order.
std::vector<std::pair<std::string, nn::Module*>> Blocks(Model& model) {
  static const std::regex kBlock(R"(^(.*\.)?layers\.\d+$)");
  std::vector<std::pair<std::string, nn::Module*>> blocks;
  std::string prefix;
  for (auto& [path, module] : model.named_modules()) {
    std::smatch match;
    if (!std::regex_match(path, match, kBlock)) continue;
    if (blocks.empty()) prefix = match[1];
    if (match[1] == prefix) blocks.emplace_back(path, module);
  }
  return blocks;
}

// A layer mlx-lm would adapt that ferry cannot yet.
bool OtherAdaptable(nn::Module& module) {
  return dynamic_cast<nn::Embedding*>(&module) != nullptr ||
         dynamic_cast<SwitchLinear*>(&module) != nullptr;
}

// The default keys: the path in its block of every adaptable layer of every block.
std::vector<std::string> DefaultKeys(
    const std::vector<std::pair<std::string, nn::Module*>>& blocks) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& [block_path, block] : blocks) {
    for (auto& [path, module] : block->named_modules()) {
      if (dynamic_cast<nn::Linear*>(module) == nullptr && !OtherAdaptable(*module)) continue;
      if (seen.insert(path).second) keys.push_back(path);
    }
  }
  return keys;
}

int64_t InputDims(const nn::Linear& linear) {
  const nn::Parameters params = linear.parameters();
  const Array& weight = params.front().second;
  const std::optional<nn::Quantization>& q = linear.quantization();
  if (!q) return weight.shape(1);
  const int bits = q->bits.value_or(q->mode == "mxfp8" ? 8 : 4);
  return weight.shape(1) * 32 / bits;
}

const Array& Named(const nn::Parameters& params, const std::string& name) {
  for (const auto& [n, value] : params) {
    if (n == name) return value;
  }
  throw Error(ErrorCode::kInternal, absl::StrCat("[fuse] the layer has no ", name, "."));
}

}  // namespace

LoRALinear::LoRALinear(int64_t input_dims, int64_t output_dims, int rank, double scale,
                       double dropout)
    : scale_(scale), dropout_(register_module("dropout", nn::Dropout(dropout))) {
  if (rank <= 0)
    detail::ThrowOpError("LoRALinear", absl::StrCat("rank must be positive, got ", rank, "."));
  const double bound = 1.0 / std::sqrt(static_cast<double>(input_dims));
  register_parameter("lora_a", random::uniform({input_dims, rank}, float32, -bound, bound));
  register_parameter("lora_b", zeros({rank, output_dims}));
}

Array LoRALinear::operator()(const Array& x) {
  const Array z = matmul(matmul(dropout_(x), parameter("lora_a")), parameter("lora_b"));
  return astype(z * static_cast<float>(scale_), x.dtype());
}

Array LoRALinear::delta() const {
  return matmul(transpose(parameter("lora_b")) * static_cast<float>(scale_),
                transpose(parameter("lora_a")));
}

LoRALinear& to_lora(nn::Linear& linear, const LoRAConfig& config) {
  if (linear.adapter() != nullptr) detail::ThrowOpError("to_lora", "the layer is adapted already.");
  const Array weight = linear.parameters().front().second;  // a copy: parameters() is a temporary
  auto adapter = std::make_unique<LoRALinear>(InputDims(linear), weight.shape(0), config.rank,
                                              config.scale, config.dropout);
  LoRALinear& out = *adapter;
  linear.set_adapter(std::move(adapter));
  return out;
}

void fuse(nn::Linear& linear, bool dequantize) {
  auto* lora = dynamic_cast<LoRALinear*>(linear.adapter());
  if (lora == nullptr) detail::ThrowOpError("fuse", "the layer has no LoRA adapter.");
  const Array delta = lora->delta();
  const std::optional<nn::Quantization> q = linear.quantization();
  if (q) linear.unquantize();
  const Array weight = Named(linear.parameters(), "weight");
  linear.update({{"weight", weight + astype(delta, weight.dtype())}});
  linear.set_adapter(nullptr);
  if (q && !dequantize) linear.quantize(q->group_size, q->bits, q->mode);
}

void linear_to_lora_layers(Model& model, int num_layers, const LoRAConfig& config) {
  const auto blocks = Blocks(model);
  const std::vector<std::string> keys = config.keys ? *config.keys : DefaultKeys(blocks);
  const size_t count = std::min(blocks.size(), static_cast<size_t>(std::max(num_layers, 0)));
  for (size_t i = blocks.size() - count; i < blocks.size(); ++i) {
    nn::Module& block = *blocks[i].second;
    std::unordered_map<std::string, nn::Module*> by_path;
    for (auto& [path, module] : block.named_modules()) by_path.emplace(path, module);
    for (const std::string& key : keys) {
      auto it = by_path.find(key);
      if (it == by_path.end()) continue;  // as mlx-lm: a key only some blocks have
      if (auto* linear = dynamic_cast<nn::Linear*>(it->second)) {
        to_lora(*linear, config);
      } else {
        throw Error(ErrorCode::kUnimplemented,
                    absl::StrCat("[linear_to_lora_layers] ", blocks[i].first, ".", key,
                                 " is not a Linear; ferry adapts only Linear layers (mlx-lm "
                                 "also adapts embeddings and SwitchLinear)."));
      }
    }
  }
}

void fuse_lora_layers(Model& model, bool dequantize) {
  // Found first: fusing removes adapters, modules named_modules lists.
  std::vector<nn::Linear*> adapted;
  for (auto& [path, module] : model.named_modules()) {
    auto* linear = dynamic_cast<nn::Linear*>(module);
    if (linear != nullptr && dynamic_cast<LoRALinear*>(linear->adapter()) != nullptr) {
      adapted.push_back(linear);
    }
  }
  for (nn::Linear* linear : adapted) fuse(*linear, dequantize);
}

void save_adapters(const Model& model, const std::string& dir, const AdapterConfig& config) {
  std::filesystem::create_directories(dir);
  std::unordered_map<std::string, Array> weights;
  for (const auto& [name, value] : model.trainable_parameters()) weights.emplace(name, value);
  save_safetensors((std::filesystem::path(dir) / "adapters.safetensors").string(),
                   std::move(weights));
  nlohmann::json lora = {{"rank", config.lora_parameters.rank},
                         {"scale", config.lora_parameters.scale},
                         {"dropout", config.lora_parameters.dropout}};
  if (config.lora_parameters.keys) lora["keys"] = *config.lora_parameters.keys;
  const nlohmann::json json = {{"fine_tune_type", config.fine_tune_type},
                               {"lora_parameters", lora},
                               {"model", config.model},
                               {"num_layers", config.num_layers}};
  std::ofstream((std::filesystem::path(dir) / "adapter_config.json").string()) << json.dump(4);
}

AdapterConfig load_adapter_config(const std::string& dir) {
  const std::filesystem::path path = std::filesystem::path(dir) / "adapter_config.json";
  std::ifstream in(path.string());
  if (!in) {
    throw Error(ErrorCode::kNotFound, absl::StrCat("[load_adapters] no ", path.string(), "."));
  }
  const nlohmann::json json = nlohmann::json::parse(in);
  AdapterConfig config;
  config.fine_tune_type = json.value("fine_tune_type", "lora");
  config.num_layers = json.at("num_layers").get<int>();
  config.model = json.value("model", "");
  const nlohmann::json& lora = json.at("lora_parameters");
  config.lora_parameters.rank = lora.value("rank", 8);
  config.lora_parameters.scale = lora.at("scale").get<double>();
  config.lora_parameters.dropout = lora.value("dropout", 0.0);
  if (lora.contains("keys") && !lora["keys"].is_null()) {
    config.lora_parameters.keys = lora["keys"].get<std::vector<std::string>>();
  }
  return config;
}

void load_adapters(Model& model, const std::string& dir) {
  const AdapterConfig config = load_adapter_config(dir);
  if (config.fine_tune_type != "lora") {
    throw Error(ErrorCode::kUnimplemented,
                absl::StrCat("[load_adapters] fine_tune_type \"", config.fine_tune_type,
                             "\": ferry loads LoRA adapters only."));
  }
  linear_to_lora_layers(model, config.num_layers, config.lora_parameters);
  auto [weights, metadata] = load_safetensors(
      (std::filesystem::path(dir) / "adapters.safetensors").string(), model.device());
  std::map<std::string, Array> allowed;
  for (const auto& [name, value] : model.parameters()) {
    const std::string leaf = name.substr(name.rfind('.') + 1);
    if (leaf == "lora_a" || leaf == "lora_b") allowed.emplace(name, value);
  }
  std::vector<std::string> errors;
  nn::Parameters loaded;
  for (const auto& [name, value] : weights) {
    auto it = allowed.find(name);
    if (it == allowed.end()) {
      errors.push_back(absl::StrCat(name, ": not an adapter parameter in the model"));
    } else if (it->second.shape() != value.shape()) {
      errors.push_back(absl::StrCat(name, ": adapter shape ", core::ShapeToString(value.shape()),
                                    " does not match the model's ",
                                    core::ShapeToString(it->second.shape())));
    }
    loaded.emplace_back(name, value);
  }
  if (!errors.empty()) {
    std::sort(errors.begin(), errors.end());
    detail::ThrowOpError("load_adapters",
                         absl::StrCat("the adapter at ", dir, " holds incompatible weights: ",
                                      absl::StrJoin(errors, "; "), "."));
  }
  model.update(loaded, /*strict=*/false);
}

}  // namespace ferry::lm::tuner
