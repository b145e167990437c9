#include "client/lm/chat_template.h"

#include <utility>

#include "absl/status/statusor.h"
#include "client/error.h"
#include "client/lm/jinja/template.h"
#include "client/lm/tokenizer_config.h"
#include "core/read_file.h"

namespace ferry::lm {
namespace {

using Json = nlohmann::ordered_json;

// "chat_template": a string, or [{"name": "default", "template": "..."}, ...].
std::optional<std::string> ConfiguredTemplate(const Json& config) {
  if (!config.contains("chat_template")) return std::nullopt;
  const Json& entry = config["chat_template"];
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_array()) {
    for (const Json& named : entry) {
      if (named.is_object() && named.value("name", "") == "default" && named.contains("template") &&
          named["template"].is_string()) {
        return named["template"].get<std::string>();
      }
    }
  }
  return std::nullopt;
}

// A message as transformers hands it to the template: keys with null values dropped, and
// reasoning under any of its names also given as "reasoning_content" and "thinking".
Json Normalize(const Json& message) {
  if (!message.is_object()) {
    throw Error(ErrorCode::kInvalidArgument,
                "[chat_template] every message must be an object, not " + message.dump());
  }
  Json out = Json::object();
  for (const auto& [key, value] : message.items()) {
    if (!value.is_null()) out[key] = value;
  }
  for (const char* field : {"reasoning_content", "thinking", "reasoning"}) {
    if (!out.contains(field)) continue;
    Json aliased = Json::object();
    aliased["thinking"] = out[field];
    for (const auto& [key, value] : out.items()) aliased[key] = value;
    aliased["reasoning_content"] = out[field];
    return aliased;
  }
  return out;
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, Json special_tokens)
    : source_(source),
      special_tokens_(std::move(special_tokens)),
      template_(std::make_shared<const jinja::Template>(source)) {}

std::optional<ChatTemplate> ChatTemplate::load(const std::string& model_path,
                                               std::optional<std::string> source) {
  const Json config = ReadTokenizerConfig(model_path);
  if (!source) {
    absl::StatusOr<std::string> file = core::ReadFile(model_path + "/chat_template.jinja");
    source = file.ok() ? *std::move(file) : ConfiguredTemplate(config);
  }
  if (!source) return std::nullopt;
  ChatTemplate chat_template;
  chat_template.source_ = *source;
  chat_template.special_tokens_ = SpecialTokens(config);
  try {
    chat_template.template_ = std::make_shared<const jinja::Template>(*source);
  } catch (const Error& e) {
    chat_template.parse_error_ = e.what();
  }
  return chat_template;
}

std::string ChatTemplate::apply(const Json& messages, const ChatTemplateOptions& options) const {
  if (!template_) throw Error(ErrorCode::kInvalidArgument, parse_error_);
  if (!messages.is_array()) {
    throw Error(ErrorCode::kInvalidArgument, "[chat_template] messages must be a JSON list.");
  }
  if (!options.extra.is_null() && !options.extra.is_object()) {
    throw Error(ErrorCode::kInvalidArgument,
                "[chat_template] options.extra must be a JSON object.");
  }
  Json context = special_tokens_.is_object() ? special_tokens_ : Json::object();
  if (options.extra.is_object()) {
    for (const auto& [key, value] : options.extra.items()) context[key] = value;
  }
  Json normalized = Json::array();
  for (const Json& message : messages) normalized.push_back(Normalize(message));
  context["messages"] = std::move(normalized);
  context["tools"] = options.tools;
  context["documents"] = options.documents;
  context["add_generation_prompt"] = options.add_generation_prompt;
  return template_->render(context);
}

}  // namespace ferry::lm
