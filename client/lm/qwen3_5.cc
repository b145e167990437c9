#include "client/lm/qwen3_5.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "client/ops.h"

namespace ferry::lm {
namespace {

// Checkpoint names under the text model's: Hugging Face's model.language_model.* and any
// other outside language_model.*; the vision tower and the prediction layer dropped.
nn::Parameters Renamed(nn::Parameters weights) {
  nn::Parameters renamed;
  for (auto& [name, array] : weights) {
    if (absl::StartsWith(name, "vision_tower") || absl::StartsWith(name, "model.visual")) continue;
    std::string key = name;
    if (absl::StartsWith(key, "model.language_model")) {
      key = absl::StrCat("language_model.model",
                         key.substr(std::string("model.language_model").size()));
    } else if (!absl::StartsWith(key, "language_model.")) {
      key = absl::StrCat("language_model.", key);
    }
    if (absl::StrContains(key, "mtp.")) continue;
    renamed.emplace_back(std::move(key), std::move(array));
  }
  return renamed;
}

// qwen3_5_moe's: each layer's experts.gate_up_proj (E, 2 I, H), the gate's rows first, and
// experts.down_proj as switch_mlp's.
nn::Parameters SplitFusedExperts(nn::Parameters weights) {
  std::map<std::string, Array> down;
  for (const auto& [name, array] : weights) {
    if (absl::EndsWith(name, ".mlp.experts.down_proj")) down.emplace(name, array);
  }
  nn::Parameters out;
  for (auto& [name, array] : weights) {
    if (absl::EndsWith(name, ".mlp.experts.down_proj")) continue;
    if (!absl::EndsWith(name, ".mlp.experts.gate_up_proj")) {
      out.emplace_back(std::move(name), std::move(array));
      continue;
    }
    const std::string prefix =
        name.substr(0, name.size() - std::string(".experts.gate_up_proj").size());
    const auto it = down.find(prefix + ".experts.down_proj");
    if (it == down.end()) {
      detail::ThrowOpError("load_model", absl::StrCat("the checkpoint lacks ", prefix,
                                                      ".experts.down_proj beside ", name, "."));
    }
    const std::vector<Array> halves = split(array, 2, -2);
    out.emplace_back(prefix + ".switch_mlp.gate_proj.weight", halves[0]);
    out.emplace_back(prefix + ".switch_mlp.up_proj.weight", halves[1]);
    out.emplace_back(prefix + ".switch_mlp.down_proj.weight", it->second);
    down.erase(it);
  }
  for (auto& [name, array] : down) out.emplace_back(name, array);  // unpaired: load names it
  return out;
}

}  // namespace

Qwen35::Qwen35(ModelArgs args)
    : args_(std::move(args)),
      language_model_(register_module("language_model", Qwen3Next(args_, /*fused=*/false))) {}

Array Qwen35::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return language_model_(tokens, cache);
}

nn::Parameters Qwen35::sanitize(nn::Parameters weights) const {
  weights = SplitFusedExperts(Renamed(std::move(weights)));
  // Hugging Face's conv1d weights tell its norms too (mlx-lm's has_unsanitized_conv1d).
  const bool hugging_face = std::any_of(weights.begin(), weights.end(), [](const auto& w) {
    return absl::StrContains(w.first, "conv1d.weight") && w.second.shape(-1) != 1;
  });
  if (args_.tie_word_embeddings) {
    weights.erase(
        std::remove_if(weights.begin(), weights.end(),
                       [](const auto& w) { return w.first == "language_model.lm_head.weight"; }),
        weights.end());
  }
  return sanitize_conv_and_norms(std::move(weights), hugging_face);
}

std::optional<std::pair<int, int>> Qwen35::own_quantization(const std::string& path) const {
  if (args_.num_experts <= 0) return std::nullopt;
  return language_model_.own_quantization(path);
}

bool Qwen35::casts(const std::string& name) const { return !absl::EndsWith(name, "A_log"); }

}  // namespace ferry::lm
