#include "client/lm/tokenizer_config.h"

#include "absl/status/statusor.h"
#include "core/read_file.h"

namespace ferry::lm {

using Json = nlohmann::ordered_json;

Json ReadTokenizerConfig(const std::string& model_path) {
  const absl::StatusOr<std::string> text = core::ReadFile(model_path + "/tokenizer_config.json");
  if (!text.ok()) return Json::object();
  Json config = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  return config.is_object() ? config : Json::object();
}

Json SpecialTokens(const Json& config) {
  Json tokens = Json::object();
  for (const char* name : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token",
                           "cls_token", "mask_token"}) {
    if (!config.contains(name)) continue;
    const Json& token = config[name];
    if (token.is_string()) {
      tokens[name] = token;
    } else if (token.is_object() && token.contains("content") && token["content"].is_string()) {
      tokens[name] = token["content"];
    }
  }
  return tokens;
}

}  // namespace ferry::lm
