#ifndef FERRY_CLIENT_LM_CHAT_TEMPLATE_H_
#define FERRY_CLIENT_LM_CHAT_TEMPLATE_H_

// A model's chat template: the Jinja template in its tokenizer_config.json ("chat_template")
// or chat_template.jinja that turns a conversation into the prompt text, rendered as
// transformers' tokenizer.apply_chat_template(messages, tokenize=False) renders it.

#include <memory>
#include <optional>
#include <string>

#include "nlohmann/json.hpp"

namespace ferry::lm {

namespace jinja {
class Template;
}

// What apply() passes the template besides the messages, as transformers does.
struct ChatTemplateOptions {
  // Ends the prompt with the header of the assistant's reply.
  bool add_generation_prompt = false;
  // A list of tool schemas ({"type": "function", "function": {...}}); null: none.
  nlohmann::ordered_json tools;
  // A list of documents ({"title", "text"}) for retrieval templates; null: none.
  nlohmann::ordered_json documents;
  // More variables, as apply_chat_template's keyword arguments: {"enable_thinking": false}
  // for Qwen3, {"date_string": "26 Jul 2024"} for Llama 3.x. They override the special tokens.
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();
};

class ChatTemplate {
 public:
  // The template of a model directory: chat_template.jinja, which newer transformers write and
  // which wins, else tokenizer_config.json's "chat_template" (a string, or a list of
  // {"name", "template"} of which "default" is used); nullopt where neither has one. The
  // special tokens (bos_token, eos_token, unk_token, pad_token...: a string or {"content"})
  // come from tokenizer_config.json. A template that does not parse is kept, and apply throws
  // its error, so the tokenizer still loads.
  // With `source`, that text instead of the directory's, the special tokens still its own
  // (mlx_lm.server's --chat-template).
  static std::optional<ChatTemplate> load(const std::string& model_path,
                                          std::optional<std::string> source = std::nullopt);

  // A template from its text, with the special tokens the template reads (e.g.
  // {"bos_token": "<s>", "eos_token": "</s>"}). Throws ferry::Error (INVALID_ARGUMENT) naming
  // the line of a malformed template.
  explicit ChatTemplate(const std::string& source,
                        nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object());

  // The prompt for `messages` (a list of {"role", "content", ...}: "tool_calls",
  // "reasoning_content"...; keys whose value is null are dropped, and reasoning is also given
  // as "thinking", as transformers does). Throws ferry::Error (INVALID_ARGUMENT) with the
  // template's line on a template error, raise_exception's message included (e.g. a role
  // order the model refuses).
  std::string apply(const nlohmann::ordered_json& messages,
                    const ChatTemplateOptions& options = {}) const;

  const std::string& source() const { return source_; }
  const nlohmann::ordered_json& special_tokens() const { return special_tokens_; }

 private:
  ChatTemplate() = default;

  std::string source_;
  nlohmann::ordered_json special_tokens_;
  std::shared_ptr<const jinja::Template> template_;  // null where parse_error_ says why
  std::string parse_error_;
};

}  // namespace ferry::lm

#endif  // FERRY_CLIENT_LM_CHAT_TEMPLATE_H_
