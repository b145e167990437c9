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
#include "client/lm/tuner/dora.h"
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

// The last num_layers blocks (every one when num_layers <= 0, as mlx-lm's
// model.layers[-max(num_layers, 0):] slices), their first index.
size_t FirstTrained(size_t blocks, int num_layers) {
  return num_layers <= 0 ? 0 : blocks - std::min(blocks, static_cast<size_t>(num_layers));
}

// A layer mlx-lm adapts: a Linear, a SwitchLinear or an Embedding, quantized or not.
bool Adaptable(nn::Module& module) {
  return dynamic_cast<nn::Linear*>(&module) != nullptr ||
         dynamic_cast<SwitchLinear*>(&module) != nullptr ||
         dynamic_cast<nn::Embedding*>(&module) != nullptr;
}

// The default keys: the path in its block of every adaptable layer of every block.
std::vector<std::string> DefaultKeys(
    const std::vector<std::pair<std::string, nn::Module*>>& blocks) {
  std::vector<std::string> keys;
  std::set<std::string> seen;
  for (const auto& [block_path, block] : blocks) {
    for (auto& [path, module] : block->named_modules()) {
      if (Adaptable(*module) && seen.insert(path).second) keys.push_back(path);
    }
  }
  return keys;
}

// A quantized layer's input width from its packed weight's last axis.
int64_t Unpacked(const nn::QuantizableLayer& layer, int64_t packed) {
  const std::optional<nn::Quantization>& q = layer.quantization();
  if (!q) return packed;
  const int bits = q->bits.value_or(q->mode == "mxfp8" ? 8 : 4);
  return packed * 32 / bits;
}

Array Weight(const nn::Module& layer) {
  for (const auto& [name, value] : layer.parameters()) {
    if (name == "weight") return value;
  }
  throw Error(ErrorCode::kInternal, "[fuse] the layer has no weight.");
}

// mlx-lm's fuse: the weight replaced by fused(its dequantized self), the adapter removed,
// and the layer quantized again as it was unless `dequantize`.
template <typename L, typename F>
void FuseWeight(L& layer, const F& fused, bool dequantize) {
  const std::optional<nn::Quantization> q = layer.quantization();
  if (q) layer.unquantize();
  const Array weight = Weight(layer);
  layer.update({{"weight", fused(weight)}});
  layer.set_adapter(nullptr);
  if (q && !dequantize) layer.quantize(q->group_size, q->bits, q->mode);
}

void Adapt(const std::string& path, nn::Module& module, const LoRAConfig& config, bool use_dora) {
  if (auto* linear = dynamic_cast<nn::Linear*>(&module)) {
    if (use_dora) {
      to_dora(*linear, config);
    } else {
      to_lora(*linear, config);
    }
  } else if (auto* switch_linear = dynamic_cast<SwitchLinear*>(&module)) {
    if (use_dora) {
      detail::ThrowOpError("linear_to_lora_layers",
                           absl::StrCat(path,
                                        " is a SwitchLinear, which DoRA does not adapt (as "
                                        "in mlx-lm)."));
    }
    to_lora(*switch_linear, config);
  } else if (auto* embedding = dynamic_cast<nn::Embedding*>(&module)) {
    if (use_dora) {
      to_dora(*embedding, config);
    } else {
      to_lora(*embedding, config);
    }
  } else {
    detail::ThrowOpError("linear_to_lora_layers",
                         absl::StrCat(path,
                                      " is not a layer LoRA adapts (a Linear, SwitchLinear or "
                                      "Embedding)."));
  }
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

LoRASwitchLinear::LoRASwitchLinear(int64_t input_dims, int64_t output_dims, int64_t num_experts,
                                   int rank, double scale, double dropout)
    : scale_(scale), dropout_(register_module("dropout", nn::Dropout(dropout))) {
  if (rank <= 0) {
    detail::ThrowOpError("LoRASwitchLinear",
                         absl::StrCat("rank must be positive, got ", rank, "."));
  }
  const double bound = 1.0 / std::sqrt(static_cast<double>(input_dims));
  register_parameter("lora_a",
                     random::uniform({num_experts, rank, input_dims}, float32, -bound, bound));
  register_parameter("lora_b", zeros({num_experts, output_dims, rank}));
}

Array LoRASwitchLinear::operator()(const Array& x, const Array& indices) {
  Array z = gather_mm(dropout_(x), swapaxes(parameter("lora_a"), -1, -2), std::nullopt, indices);
  z = gather_mm(z, swapaxes(parameter("lora_b"), -1, -2), std::nullopt, indices);
  return astype(z * static_cast<float>(scale_), x.dtype());
}

Array LoRASwitchLinear::delta() const {
  return matmul(parameter("lora_b") * static_cast<float>(scale_), parameter("lora_a"));
}

LoRAEmbedding::LoRAEmbedding(int64_t num_embeddings, int64_t dims, int rank, double scale,
                             double dropout)
    : scale_(scale), dropout_(register_module("dropout", nn::Dropout(dropout))) {
  if (rank <= 0)
    detail::ThrowOpError("LoRAEmbedding", absl::StrCat("rank must be positive, got ", rank, "."));
  const double bound = 1.0 / std::sqrt(static_cast<double>(num_embeddings));
  register_parameter("lora_a", random::uniform({num_embeddings, rank}, float32, -bound, bound));
  register_parameter("lora_b", zeros({rank, dims}));
}

Array LoRAEmbedding::operator()(const Array& indices) {
  const Array z = dropout_(matmul(take(parameter("lora_a"), indices, 0), parameter("lora_b")));
  return z * static_cast<float>(scale_);  // nn::Embedding casts it to the rows' dtype
}

Array LoRAEmbedding::as_linear(const Array& x) {
  const Array z =
      matmul(matmul(dropout_(x), transpose(parameter("lora_b"))), transpose(parameter("lora_a")));
  return astype(z * static_cast<float>(scale_), x.dtype());
}

Array LoRAEmbedding::delta() const {
  return matmul(parameter("lora_a") * static_cast<float>(scale_), parameter("lora_b"));
}

LoRALinear& to_lora(nn::Linear& linear, const LoRAConfig& config) {
  if (linear.adapter() != nullptr) detail::ThrowOpError("to_lora", "the layer is adapted already.");
  const Array weight = Weight(linear);
  auto adapter = std::make_unique<LoRALinear>(Unpacked(linear, weight.shape(1)), weight.shape(0),
                                              config.rank, config.scale, config.dropout);
  LoRALinear& out = *adapter;
  linear.set_adapter(std::move(adapter));
  return out;
}

LoRASwitchLinear& to_lora(SwitchLinear& linear, const LoRAConfig& config) {
  if (linear.adapter() != nullptr) detail::ThrowOpError("to_lora", "the layer is adapted already.");
  const Array weight = Weight(linear);  // (num_experts, output_dims, input_dims, packed)
  auto adapter = std::make_unique<LoRASwitchLinear>(Unpacked(linear, weight.shape(2)),
                                                    weight.shape(1), weight.shape(0), config.rank,
                                                    config.scale, config.dropout);
  LoRASwitchLinear& out = *adapter;
  linear.set_adapter(std::move(adapter));
  return out;
}

LoRAEmbedding& to_lora(nn::Embedding& embedding, const LoRAConfig& config) {
  if (embedding.adapter() != nullptr) {
    detail::ThrowOpError("to_lora", "the embedding is adapted already.");
  }
  const Array weight = Weight(embedding);
  auto adapter =
      std::make_unique<LoRAEmbedding>(weight.shape(0), Unpacked(embedding, weight.shape(1)),
                                      config.rank, config.scale, config.dropout);
  LoRAEmbedding& out = *adapter;
  embedding.set_adapter(std::move(adapter));
  return out;
}

void fuse(nn::Linear& linear, bool dequantize) {
  if (auto* lora = dynamic_cast<LoRALinear*>(linear.adapter())) {
    const Array delta = lora->delta();
    FuseWeight(
        linear, [&](const Array& w) { return w + astype(delta, w.dtype()); }, dequantize);
  } else if (auto* dora = dynamic_cast<DoRALinear*>(linear.adapter())) {
    FuseWeight(
        linear, [&](const Array& w) { return dora->fused_weight(w); }, dequantize);
  } else {
    detail::ThrowOpError("fuse", "the layer has no LoRA or DoRA adapter.");
  }
}

void fuse(SwitchLinear& linear, bool dequantize) {
  auto* lora = dynamic_cast<LoRASwitchLinear*>(linear.adapter());
  if (lora == nullptr) detail::ThrowOpError("fuse", "the layer has no LoRA adapter.");
  const Array delta = lora->delta();
  FuseWeight(
      linear, [&](const Array& w) { return w + astype(delta, w.dtype()); }, dequantize);
}

void fuse(nn::Embedding& embedding, bool dequantize) {
  if (auto* lora = dynamic_cast<LoRAEmbedding*>(embedding.adapter())) {
    const Array delta = lora->delta();
    FuseWeight(
        embedding, [&](const Array& w) { return w + astype(delta, w.dtype()); }, dequantize);
  } else if (auto* dora = dynamic_cast<DoRAEmbedding*>(embedding.adapter())) {
    FuseWeight(
        embedding, [&](const Array& w) { return dora->fused_weight(w); }, dequantize);
  } else {
    detail::ThrowOpError("fuse", "the embedding has no LoRA or DoRA adapter.");
  }
}

void linear_to_lora_layers(Model& model, int num_layers, const LoRAConfig& config, bool use_dora) {
  const auto blocks = Blocks(model);
  const std::vector<std::string> keys = config.keys ? *config.keys : DefaultKeys(blocks);
  const std::set<std::string> wanted(keys.begin(), keys.end());
  for (size_t i = FirstTrained(blocks.size(), num_layers); i < blocks.size(); ++i) {
    // Found first: adapting adds modules (at their layer's path) to named_modules.
    std::vector<std::pair<std::string, nn::Module*>> chosen;
    std::set<std::string> seen;
    for (auto& [path, module] : blocks[i].second->named_modules()) {
      if (wanted.count(path) && seen.insert(path).second) chosen.emplace_back(path, module);
    }
    for (const auto& [path, module] : chosen) {
      Adapt(absl::StrCat(blocks[i].first, ".", path), *module, config, use_dora);
    }
  }
  // As mlx-lm: a key may also name a layer by its path in the model ("model.embed_tokens").
  std::vector<std::pair<std::string, nn::Module*>> chosen;
  std::set<std::string> seen;
  for (auto& [path, module] : model.named_modules()) {
    if (wanted.count(path) && seen.insert(path).second) chosen.emplace_back(path, module);
  }
  for (const auto& [path, module] : chosen) Adapt(path, *module, config, use_dora);
}

void unfreeze_layers(Model& model, int num_layers) {
  const auto blocks = Blocks(model);
  for (size_t i = FirstTrained(blocks.size(), num_layers); i < blocks.size(); ++i) {
    blocks[i].second->unfreeze();
  }
}

void fuse_lora_layers(Model& model, bool dequantize) {
  // Found first: fusing removes adapters, modules named_modules lists.
  std::vector<nn::Module*> adapted;
  for (auto& [path, module] : model.named_modules()) {
    auto* linear = dynamic_cast<nn::Linear*>(module);
    auto* switch_linear = dynamic_cast<SwitchLinear*>(module);
    auto* embedding = dynamic_cast<nn::Embedding*>(module);
    if ((linear != nullptr && linear->adapter() != nullptr) ||
        (switch_linear != nullptr && switch_linear->adapter() != nullptr) ||
        (embedding != nullptr && embedding->adapter() != nullptr)) {
      adapted.push_back(module);
    }
  }
  for (nn::Module* module : adapted) {
    if (auto* linear = dynamic_cast<nn::Linear*>(module)) {
      fuse(*linear, dequantize);
    } else if (auto* switch_linear = dynamic_cast<SwitchLinear*>(module)) {
      fuse(*switch_linear, dequantize);
    } else {
      fuse(*dynamic_cast<nn::Embedding*>(module), dequantize);
    }
  }
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
  if (config.fine_tune_type == "full") lora = nullptr;  // as mlx_lm.lora writes it
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
  if (lora.is_null()) return config;  // full fine-tuning's
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
  const bool full = config.fine_tune_type == "full";
  if (!full && config.fine_tune_type != "lora" && config.fine_tune_type != "dora") {
    throw Error(ErrorCode::kUnimplemented,
                absl::StrCat("[load_adapters] fine_tune_type \"", config.fine_tune_type,
                             "\": ferry loads LoRA, DoRA and full fine-tuning's weights only."));
  }
  // Full fine-tuning's file holds the trained blocks' own weights.
  if (!full) {
    linear_to_lora_layers(model, config.num_layers, config.lora_parameters,
                          /*use_dora=*/config.fine_tune_type == "dora");
  }
  auto [weights, metadata] = load_safetensors(
      (std::filesystem::path(dir) / "adapters.safetensors").string(), model.device());
  std::map<std::string, Array> allowed;
  for (const auto& [name, value] : model.parameters()) {
    const std::string leaf = name.substr(name.rfind('.') + 1);
    if (full || leaf == "lora_a" || leaf == "lora_b" || leaf == "m") allowed.emplace(name, value);
  }
  std::vector<std::string> errors;
  nn::Parameters loaded;
  for (const auto& [name, value] : weights) {
    auto it = allowed.find(name);
    if (it == allowed.end()) {
      errors.push_back(absl::StrCat(name, full ? ": not a parameter of the model"
                                               : ": not an adapter parameter in the model"));
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
