#include "client/lm/server/reply_format.h"

#include <algorithm>

namespace ferry::lm::server {
namespace {

// The start of the last occurrence of `sequence` in tokens; -1 where it is absent.
int64_t RFind(const std::vector<int32_t>& tokens, const std::vector<int32_t>& sequence) {
  if (sequence.empty() || sequence.size() > tokens.size()) return -1;
  const auto at = std::find_end(tokens.begin(), tokens.end(), sequence.begin(), sequence.end());
  return at == tokens.end() ? -1 : at - tokens.begin();
}

}  // namespace

ReplyFormat InferReplyFormat(const Tokenizer& tokenizer, const std::string& tool_parser_type) {
  ReplyFormat format;
  for (const auto& [start, end] : {std::pair<const char*, const char*>{"<think>", "</think>"},
                                   {"<longcat_think>", "</longcat_think>"},
                                   {"<|think:start|>", "<|think:end|>"}}) {
    const std::optional<int32_t> start_id = tokenizer.token_to_id(start);
    const std::optional<int32_t> end_id = tokenizer.token_to_id(end);
    if (start_id && end_id) {
      format.think_start = start;
      format.think_end = end;
      format.think_start_tokens = {*start_id};
      format.think_end_tokens = {*end_id};
      break;
    }
  }
  if (!format.has_thinking() && tokenizer.token_to_id("<|channel>") &&
      tokenizer.token_to_id("<channel|>")) {
    format.think_start = "<|channel>thought";
    format.think_end = "<channel|>";
    format.think_start_tokens = tokenizer.encode(format.think_start, false);
    format.think_end_tokens = tokenizer.encode(format.think_end, false);
  }
  format.tool_parser_type = tool_parser_type;
  if (format.tool_parser_type.empty()) {
    const ChatTemplate* chat_template = tokenizer.chat_template();
    format.tool_parser_type =
        InferToolParserName(chat_template ? chat_template->source() : "", tokenizer);
  }
  if (!format.tool_parser_type.empty()) {
    format.tool_parser = FindToolParser(format.tool_parser_type);
  }
  return format;
}

bool StartsInReasoning(const ReplyFormat& format, const std::vector<int32_t>& prompt) {
  return format.has_thinking() &&
         RFind(prompt, format.think_start_tokens) > RFind(prompt, format.think_end_tokens);
}

}  // namespace ferry::lm::server
