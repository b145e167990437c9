#include "client/lm/tuner/datasets.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/array_node.h"
#include "nlohmann/json.hpp"

namespace ferry::lm::tuner {
namespace {

// The conversation's tokens, and with mask_prompt where its last message starts: the
// length of the prompt before it, with the assistant's header when the last is its reply.
Example FromMessages(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                     const Tokenizer& tokenizer, bool mask_prompt) {
  ChatTemplateOptions options;
  options.tools = tools;
  Example example{tokenizer.apply_chat_template_ids(messages, options), 0};
  if (mask_prompt && !messages.empty()) {
    nlohmann::ordered_json prompt = messages;
    prompt.erase(prompt.size() - 1);
    options.add_generation_prompt = messages.back().value("role", "") == "assistant";
    example.offset =
        static_cast<int64_t>(tokenizer.apply_chat_template_ids(prompt, options).size());
  }
  return example;
}

}  // namespace

Example make_example(const std::string& json_line, const Tokenizer& tokenizer, bool mask_prompt) {
  const nlohmann::ordered_json d = nlohmann::ordered_json::parse(json_line);
  const nlohmann::ordered_json tools = d.value("tools", nlohmann::ordered_json());
  if (d.contains("prompt") && d.contains("completion")) {
    const nlohmann::ordered_json messages = {{{"role", "user"}, {"content", d["prompt"]}},
                                             {{"role", "assistant"}, {"content", d["completion"]}}};
    return FromMessages(messages, tools, tokenizer, mask_prompt);
  }
  if (d.contains("messages")) return FromMessages(d["messages"], tools, tokenizer, mask_prompt);
  if (d.contains("text")) {
    if (mask_prompt) {
      detail::ThrowOpError("load_dataset", "prompt masking is not supported for {\"text\"} data.");
    }
    Example example{tokenizer.encode(d["text"].get<std::string>()), 0};
    const std::vector<int32_t>& eos = tokenizer.eos_token_ids();
    if (!eos.empty() && (example.tokens.empty() || example.tokens.back() != eos.front())) {
      example.tokens.push_back(eos.front());
    }
    return example;
  }
  detail::ThrowOpError("load_dataset",
                       "each line must hold {\"text\"}, {\"prompt\", \"completion\"} or "
                       "{\"messages\"}.");
}

std::vector<Example> load_dataset(const std::string& path, const Tokenizer& tokenizer,
                                  bool mask_prompt) {
  std::vector<Example> examples;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    examples.push_back(make_example(line, tokenizer, mask_prompt));
  }
  return examples;
}

}  // namespace ferry::lm::tuner
