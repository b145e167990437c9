#ifndef FERRY_CLIENT_LM_SERVER_REPLY_FORMAT_H_
#define FERRY_CLIENT_LM_SERVER_REPLY_FORMAT_H_

// What a model's chat replies hold besides their text, as mlx-lm's TokenizerWrapper infers
// it from the tokenizer and chat template: reasoning between thinking markers (<think> ...
// </think>) and tool calls between a tool parser's markers.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/lm/server/tool_parsers.h"
#include "client/lm/tokenizer.h"

namespace ferry::lm::server {

struct ReplyFormat {
  // The thinking markers; empty where the model has none.
  std::string think_start, think_end;
  std::vector<int32_t> think_start_tokens, think_end_tokens;
  // The tool parser tokenizer_config.json's "tool_parser_type" names, else the one the chat
  // template or vocabulary implies; "" for none.
  std::string tool_parser_type;
  // Its markers and parser; nullopt without one, or where ferry lacks that parser (the
  // model's calls then stay in the reply's text).
  std::optional<ToolParser> tool_parser;

  bool has_thinking() const { return !think_start.empty(); }
  bool has_tool_calling() const { return tool_parser.has_value(); }
};

// mlx-lm's inference: thinking when the vocabulary has one of the marker pairs <think> and
// </think>, <longcat_think> and </longcat_think>, <|think:start|> and <|think:end|> (single
// tokens), or Gemma's <|channel> and <channel|> ("<|channel>thought" ... "<channel|>");
// tool calling from `tool_parser_type` where not empty, else InferToolParserName.
ReplyFormat InferReplyFormat(const Tokenizer& tokenizer, const std::string& tool_parser_type);

// Whether a reply to `prompt` starts inside reasoning: its last thinking start comes after
// its last thinking end (a template that opens <think> for the model), as mlx_lm.server
// decides.
bool StartsInReasoning(const ReplyFormat& format, const std::vector<int32_t>& prompt);

}  // namespace ferry::lm::server

#endif  // FERRY_CLIENT_LM_SERVER_REPLY_FORMAT_H_
