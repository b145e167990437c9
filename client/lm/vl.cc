#include "client/lm/vl.h"

#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/error.h"
#include "client/lm/deepseek_v3.h"
#include "client/lm/lfm2.h"
#include "client/lm/llama.h"
#include "client/lm/qwen3_moe.h"
#include "client/lm/switch_layers.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

constexpr char kPrefix[] = "language_model.";

const std::map<std::string, std::string>& TextTypes() {
  static const auto* types = new std::map<std::string, std::string>{
      {"qwen2_vl", "qwen2"},      {"qwen3_vl", "qwen3"}, {"qwen3_vl_moe", "qwen3_moe"},
      {"lfm2-vl", "lfm2"},        {"pixtral", "llama"},  {"kimi_vl", "deepseek_v3"},
      {"kimi_k25", "deepseek_v3"}};
  return *types;
}

[[noreturn]] void Refuse(const std::string& message) {
  throw Error(ErrorCode::kInvalidArgument, absl::StrCat("[load_model] ", message));
}

// Whether `name` is `top` or under it: tree_unflatten's weights.pop(top).
bool Under(const std::string& name, absl::string_view top) {
  return name == top || absl::StartsWith(name, absl::StrCat(top, "."));
}

// The weights without those under any of `tops` (their pop of each).
nn::Parameters Without(nn::Parameters weights, const std::set<std::string>& tops) {
  nn::Parameters kept;
  for (auto& [name, array] : weights) {
    bool dropped = false;
    for (const std::string& top : tops) dropped = dropped || Under(name, top);
    if (!dropped) kept.emplace_back(std::move(name), std::move(array));
  }
  return kept;
}

bool AnyUnder(const nn::Parameters& weights, absl::string_view top) {
  for (const auto& [name, array] : weights) {
    if (Under(name, top)) return true;
  }
  return false;
}

}  // namespace

const std::string& vision_language_text_type(const std::string& model_type) {
  const auto it = TextTypes().find(model_type);
  if (it == TextTypes().end()) {
    throw Error(ErrorCode::kInvalidArgument,
                absl::StrCat("\"", model_type, "\" is not one of mlx-lm's wrappers."));
  }
  return it->second;
}

bool is_vision_language_wrapper(const std::string& model_type) {
  return TextTypes().count(model_type) > 0;
}

VisionLanguageWrapper::VisionLanguageWrapper(ModelArgs args) : args_(std::move(args)) {
  ModelArgs text = args_;
  text.model_type = vision_language_text_type(args_.model_type);
  if (text.model_type == "qwen3_moe") {
    language_model_ = &register_module("language_model", Qwen3Moe(text));
  } else if (text.model_type == "lfm2") {
    language_model_ = &register_module("language_model", Lfm2(text));
  } else if (text.model_type == "deepseek_v3") {
    language_model_ = &register_module("language_model", DeepseekV3(text));
  } else {
    language_model_ = &register_module("language_model", Llama(text));
  }
}

Array VisionLanguageWrapper::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return (*language_model_)(tokens, cache);
}

std::optional<std::pair<int, int>> VisionLanguageWrapper::own_quantization(
    const std::string& path) const {
  absl::string_view inner = path;
  if (args_.model_type != "qwen3_vl_moe" || !absl::ConsumePrefix(&inner, kPrefix)) {
    return std::nullopt;
  }
  return language_model_->own_quantization(std::string(inner));
}

bool VisionLanguageWrapper::casts(const std::string& name) const {
  absl::string_view inner = name;
  if ((args_.model_type != "kimi_vl" && args_.model_type != "kimi_k25") ||
      !absl::ConsumePrefix(&inner, kPrefix)) {
    return true;
  }
  return language_model_->casts(std::string(inner));
}

nn::Parameters VisionLanguageWrapper::sanitize(nn::Parameters weights) const {
  const std::string& type = args_.model_type;
  if (type == "qwen2_vl" || type == "qwen3_vl") {
    weights = Without(std::move(weights), {"visual", "vision_tower"});
    // Newer Hugging Face checkpoints nest both towers under "model": its language_model
    // becomes "model", the rest of it is dropped.
    const bool nested = AnyUnder(weights, "model.language_model");
    nn::Parameters out;
    for (auto& [name, array] : weights) {
      std::string key = name;
      if (nested && Under(name, "model")) {
        absl::string_view rest = name;
        if (!absl::ConsumePrefix(&rest, "model.language_model.")) continue;
        key = absl::StrCat("model.", rest);
      }
      if (!absl::StartsWith(key, kPrefix)) key = absl::StrCat(kPrefix, key);
      out.emplace_back(std::move(key), std::move(array));
    }
    return out;
  }
  if (type == "qwen3_vl_moe") return SanitizeQwen3VlMoe(std::move(weights));
  if (type == "lfm2-vl" || type == "pixtral") {
    return Without(std::move(weights), {"vision_tower", "multi_modal_projector"});
  }
  if (type == "kimi_vl") {
    nn::Parameters kept;
    for (auto& [name, array] : weights) {
      if (absl::StrContains(name, "vision_tower") || absl::StrContains(name, "rotary_emb") ||
          absl::StrContains(name, "multi_modal_projector")) {
        continue;
      }
      kept.emplace_back(std::move(name), std::move(array));
    }
    return stack_experts(
        std::move(kept), args_.num_experts, "mlp.experts", "mlp.switch_mlp",
        {{"gate_proj", "gate_proj"}, {"down_proj", "down_proj"}, {"up_proj", "up_proj"}});
  }
  // kimi_k25: the text model's weights through DeepSeek V3's sanitize; anything else the
  // towers leave kept as it is.
  weights = Without(std::move(weights),
                    {"vision_tower", "vision_model", "multi_modal_projector", "mm_projector"});
  nn::Parameters text, out;
  for (auto& [name, array] : weights) {
    absl::string_view inner = name;
    if (absl::ConsumePrefix(&inner, kPrefix)) {
      text.emplace_back(std::string(inner), std::move(array));
    } else {
      out.emplace_back(std::move(name), std::move(array));
    }
  }
  if (text.empty()) Refuse("the checkpoint holds no language_model weights (kimi_k25's).");
  for (auto& [name, array] : language_model_->sanitize(std::move(text))) {
    out.emplace_back(absl::StrCat(kPrefix, name), std::move(array));
  }
  return out;
}

nn::Parameters VisionLanguageWrapper::SanitizeQwen3VlMoe(nn::Parameters weights) const {
  // Only the text model is kept: Hugging Face's newer model.language_model.* beside a
  // top-level lm_head, or mlx-lm's language_model.model.* and language_model.lm_head.*.
  const bool nested = AnyUnder(weights, "model.language_model");
  const std::string model_from = nested ? "model.language_model." : "language_model.model.";
  const std::string head_from = nested ? "lm_head." : "language_model.lm_head.";
  std::map<std::string, Array> out;
  bool has_model = false, has_head = false;
  for (auto& [name, array] : weights) {
    absl::string_view rest = name;
    if (absl::ConsumePrefix(&rest, model_from)) {
      has_model = true;
      out.emplace(absl::StrCat(kPrefix, "model.", rest), std::move(array));
    } else if (absl::ConsumePrefix(&rest, head_from)) {
      has_head = true;
      out.emplace(absl::StrCat(kPrefix, "lm_head.", rest), std::move(array));
    }
  }
  if (!has_model) {
    Refuse(
        "the checkpoint holds neither model.language_model.* nor language_model.model.* "
        "(qwen3_vl_moe's text model).");
  }
  if (!has_head) {
    Refuse(absl::StrCat("the checkpoint lacks ", head_from.substr(0, head_from.size() - 1),
                        " (qwen3_vl_moe's output layer)."));
  }
  // Hugging Face's fused experts: gate_up_proj (E, hidden, 2 x moe) and down_proj
  // (E, moe, hidden), the transposes of switch_mlp's.
  for (int l = 0; l < args_.num_hidden_layers; ++l) {
    const std::string prefix = absl::StrCat(kPrefix, "model.layers.", l, ".mlp");
    const auto gate_up = out.find(absl::StrCat(prefix, ".experts.gate_up_proj"));
    if (gate_up == out.end()) continue;
    const Array fused = gate_up->second;
    out.erase(gate_up);
    const int64_t mid = fused.shape(-1) / 2;
    out.insert_or_assign(absl::StrCat(prefix, ".switch_mlp.gate_proj.weight"),
                         swapaxes(slice_last_axis(fused, 0, mid), -2, -1));
    out.insert_or_assign(absl::StrCat(prefix, ".switch_mlp.up_proj.weight"),
                         swapaxes(slice_last_axis(fused, mid, 2 * mid), -2, -1));
    const auto down = out.find(absl::StrCat(prefix, ".experts.down_proj"));
    if (down == out.end())
      Refuse(absl::StrCat("the checkpoint lacks ", prefix, ".experts.down_proj."));
    out.insert_or_assign(absl::StrCat(prefix, ".switch_mlp.down_proj.weight"),
                         swapaxes(down->second, -2, -1));
    out.erase(absl::StrCat(prefix, ".experts.down_proj"));
  }
  return nn::Parameters(out.begin(), out.end());
}

}  // namespace ferry::lm
