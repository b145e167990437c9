#include "client/lm/mistral3.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/lm/llama.h"
#include "client/lm/ministral3.h"
#include "client/lm/mistral4.h"

namespace ferry::lm {
namespace {

constexpr char kPrefix[] = "language_model.";

}  // namespace

Mistral3::Mistral3(ModelArgs args) : args_(std::move(args)) {
  ModelArgs text = args_;
  text.model_type = args_.text_model_type;
  if (text.model_type == "ministral3") {
    language_model_ = &register_module("language_model", Ministral3(text));
  } else if (text.model_type == "mistral4") {
    language_model_ = &register_module("language_model", Mistral4(text));
  } else {
    language_model_ = &register_module("language_model", Llama(text));
  }
}

Array Mistral3::operator()(const Array& tokens, std::vector<KVCache>* cache) {
  return (*language_model_)(tokens, cache);
}

std::optional<std::pair<int, int>> Mistral3::own_quantization(const std::string& path) const {
  absl::string_view inner = path;
  if (!absl::ConsumePrefix(&inner, kPrefix)) return std::nullopt;
  return language_model_->own_quantization(std::string(inner));
}

bool Mistral3::casts(const std::string& name) const {
  absl::string_view inner = name;
  if (!absl::ConsumePrefix(&inner, kPrefix)) return true;
  return language_model_->casts(std::string(inner));
}

nn::Parameters Mistral3::sanitize(nn::Parameters weights) const {
  nn::Parameters text;
  for (auto& [name, array] : weights) {
    if (absl::StrContains(name, "vision_tower") ||
        absl::StrContains(name, "multi_modal_projector")) {
      continue;
    }
    absl::string_view key = name;
    std::string renamed;
    if (absl::ConsumePrefix(&key, "model.language_model.")) {
      renamed = absl::StrCat("model.", key);
    } else {
      absl::ConsumePrefix(&key, kPrefix);
      renamed = std::string(key);
    }
    // mlx-lm's llama and ministral3 drop a tied head (mistral4 ties none it has).
    if (args_.tie_word_embeddings && renamed == "lm_head.weight") continue;
    text.emplace_back(std::move(renamed), std::move(array));
  }
  nn::Parameters out;
  for (auto& [name, array] : language_model_->sanitize(std::move(text))) {
    out.emplace_back(absl::StrCat(kPrefix, name), std::move(array));
  }
  return out;
}

}  // namespace ferry::lm
